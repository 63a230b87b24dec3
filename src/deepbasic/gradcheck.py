"""Numerical gradient checking by centered differences, in float64.

For a function ``f`` of tensors, backward gives the analytic gradient of ``L = sum(f(x) * u)`` for a
fixed random ``u``; the numerical one is ``(L(x + eps e_i) - L(x - eps e_i)) / (2 eps)`` for every
element ``i`` of every input that requires a gradient. They must agree elementwise within
``atol + rtol * |numerical|``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numerical gradients disagree."""


@dataclass
class GradcheckResult:
    ok: bool
    max_rel_error: float
    max_abs_error: float
    worst: str  # which input and element had the largest relative error

    def __bool__(self) -> bool:
        return self.ok


def _outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def _weighted_sum(outs, weights) -> float:
    return float(sum(float((o.numpy() * w).sum()) for o, w in zip(outs, weights)))


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, seed: int = 0) -> GradcheckResult:
    """Compare backward's gradients of ``fn(*inputs)`` with centered differences.

    inputs: tensors (float64 for those that require grad) or other arguments passed through.
    Returns a :class:`GradcheckResult` (truthy when it passes); raises :class:`GradcheckError`
    naming the largest relative error and where, unless ``raise_exception=False``.
    """
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; centered differences need float64"
            )
        inputs[i].grad = None
    outs = _outputs(fn, inputs)
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(o.shape) for o in outs]
    total = None
    for o, w in zip(outs, weights):
        if not o.requires_grad:
            continue
        term = (o * Tensor(w, dtype=o.dtype)).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("gradcheck: no output depends on an input that requires grad")
    total.backward()

    worst_rel, worst_abs, worst_where, ok = 0.0, 0.0, "", True
    for i in checked:
        x = inputs[i]
        analytic = backend.to_numpy(x.grad) if x.grad is not None else np.zeros(x.shape)
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)  # a view: perturb in place
        with no_grad():
            for k in range(flat.size):
                orig = flat[k].item()
                flat[k] = orig + eps
                plus = _weighted_sum(_outputs(fn, inputs), weights)
                flat[k] = orig - eps
                minus = _weighted_sum(_outputs(fn, inputs), weights)
                flat[k] = orig
                numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric)
        rel = err / np.maximum(np.abs(numeric), 1e-12)
        if err.size:
            ok &= bool(np.all(err <= atol + rtol * np.abs(numeric)))
            k = int(np.argmax(np.where(err > atol, rel, 0))) if np.any(err > atol) else int(np.argmax(err))
            idx = np.unravel_index(k, x.shape) if x.shape else ()
            if rel.reshape(-1)[k] >= worst_rel or not worst_where:
                worst_rel = float(rel.reshape(-1)[k]) if err.reshape(-1)[k] > atol else 0.0
                worst_where = (
                    f"input {i} at {tuple(int(j) for j in idx)}: analytic "
                    f"{analytic[idx]:.6g}, numerical {numeric[idx]:.6g}"
                )
            worst_abs = max(worst_abs, float(err.max()))
    result = GradcheckResult(ok, worst_rel, worst_abs, worst_where)
    if not ok and raise_exception:
        raise GradcheckError(
            f"gradcheck failed: largest relative error {worst_rel:.3g} "
            f"(abs {worst_abs:.3g}) at {worst_where}"
        )
    return result
