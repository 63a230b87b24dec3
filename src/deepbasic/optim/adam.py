"""Adam and AdamW: momentum on the gradient and its square, with bias correction."""
from __future__ import annotations

import math

import numpy as np

from deepbasic import backend
from deepbasic.ops import cuda_kernels
from deepbasic.optim.optimizer import Optimizer, _fmt, _is_number


#: Adam's decayed sums: (PyTorch's name for the average, the state key of the sum, which beta)
_SUMS = (("exp_avg", "grad_sum", 0), ("exp_avg_sq", "sq_sum", 1),
         ("max_exp_avg_sq", "max_sq_sum", 1))


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``, same defaults and meaning).

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t = 1, 2, ...`
    (moments start at 0; ``beta1, beta2 = betas``)::

        g     = -g_t if maximize else g_t
        g     = g + weight_decay * theta                  (L2 penalty, if weight_decay != 0)
        m_t   = beta1 * m_{t-1} + (1 - beta1) * g
        v_t   = beta2 * v_{t-1} + (1 - beta2) * g * g
        vmax  = max(vmax, v_t)   and use vmax for v_t     (if amsgrad)
        theta = theta - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    The factors ``1 - beta^t`` undo the bias of moments that start at 0.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate (>= 0).
        betas: decay rates ``(beta1, beta2)`` of the two moments, each in [0, 1).
        eps: added to the denominator for numerical stability (>= 0).
        weight_decay: L2 penalty coefficient (>= 0), added to the gradient (see :class:`AdamW`
            for decoupled weight decay).
        amsgrad: use the running maximum of ``v`` (AMSGrad), so steps never grow back.
        maximize: ascend the objective instead of descending.

    How it is computed: the moments are kept as decayed *sums* rather than averages,
    ``M_t = beta1 * M_{t-1} + g`` and ``V_t = beta2 * V_{t-1} + g * g``, so that
    ``m_t = (1 - beta1) * M_t`` and ``v_t = (1 - beta2) * V_t``. An average costs three
    elementwise passes over the parameter (scale, scale, add) where a sum costs two, and the
    constant factors fold into the step size and eps::

        theta = theta - a_t * M_t / (sqrt(V_t) + e_t),   c = sqrt(1 - beta2^t) / sqrt(1 - beta2),
        a_t = lr * (1 - beta1) / (1 - beta1^t) * c,    e_t = eps * c

    (ten passes instead of twelve; docs/RESULTS.md has the times). Bias correction reads
    naturally here: ``(1 - beta1^t) / (1 - beta1)`` is the sum of the weights ``beta1^(t-k)``
    that ``M_t`` gives the gradients so far, so ``m_t / (1 - beta1^t)`` is a weighted mean.

    State per parameter: ``step`` (int), ``grad_sum`` (M), ``sq_sum`` (V), ``max_sq_sum``
    (amsgrad: the running maximum of V) and ``sum_betas`` (the betas the sums were made with: if
    a group's betas change, the sums are rescaled so that m and v are unchanged). The state dict
    stores them as they are, so a resumed run is bit-identical to an uninterrupted one;
    :meth:`load_state_dict` also accepts PyTorch's ``exp_avg`` / ``exp_avg_sq`` /
    ``max_exp_avg_sq`` (converted), and :meth:`moments` returns m and v in PyTorch's meaning.
    """

    _decoupled = False  # AdamW: weight decay multiplies the parameter instead of joining the gradient

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_hparams(self, group: dict, where: str) -> None:
        for key in ("lr", "eps", "weight_decay"):
            self._check_number(group, key, where)
        betas = group["betas"]
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(_is_number(b) for b in betas)):
            self._fail(f"betas must be a pair of numbers (beta1, beta2), got {_fmt(betas)}", where)
        if not all(0 <= b < 1 for b in betas):
            self._fail(f"betas must be in [0, 1), got {_fmt(betas)}", where)
        group["betas"] = tuple(betas)

    def _update_group(self, group: dict, params: list) -> None:
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize = bool(group["amsgrad"]), bool(group["maximize"])
        decoupled = self._decoupled
        for p, grad in params:
            data = p.data
            xp = backend.get_array_module(data)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["grad_sum"] = xp.zeros_like(data)
                state["sq_sum"] = xp.zeros_like(data)
                state["sum_betas"] = [beta1, beta2]
            if amsgrad and "max_sq_sum" not in state:
                state["max_sq_sum"] = xp.zeros_like(data)
            self._rescale_sums(state, beta1, beta2)
            state["step"] += 1
            step = state["step"]
            if decoupled and weight_decay != 0:
                data *= 1.0 - lr * weight_decay
            # theta -= a * M / (sqrt(V) + e), see the class docstring
            c = math.sqrt(1 - beta2**step) / math.sqrt(1 - beta2)
            step_size = lr * (1 - beta1) / (1 - beta1**step) * c
            eps_scaled = eps * c
            if xp is not np and not amsgrad and grad.dtype == data.dtype:
                # a GPU: the ten passes below in one kernel
                cuda_kernels.adam_step(data, grad, state["grad_sum"], state["sq_sum"], beta1,
                                       beta2, step_size, eps_scaled,
                                       0.0 if decoupled else weight_decay, maximize)
                continue
            arrays = [data, grad, state["grad_sum"], state["sq_sum"], self._tmp(data, 0),
                      self._tmp(data, 1)]
            if amsgrad:
                arrays.append(state["max_sq_sum"])
            # Cache-sized blocks: the ten passes below stay in cache instead of memory.
            for block in self._blocks(*arrays):
                theta, g, M, V, g_eff, t = block[:6]
                g = self._effective_grad_into(theta, g, 0.0 if decoupled else weight_decay,
                                              maximize, g_eff)
                M *= beta1  # M = beta1 * M + g
                M += g
                V *= beta2  # V = beta2 * V + g * g
                xp.square(g, out=t)
                V += t
                if amsgrad:
                    vmax = block[6]
                    xp.maximum(vmax, V, out=vmax)
                    V = vmax
                xp.sqrt(V, out=t)  # theta -= step_size * M / (sqrt(V) + eps_scaled)
                t += eps_scaled
                xp.divide(M, t, out=t)
                t *= step_size
                theta -= t

    @staticmethod
    def _rescale_sums(state: dict, beta1: float, beta2: float) -> None:
        """Keep m = (1 - beta1) M and v = (1 - beta2) V when the betas changed since the sums
        were made (a schedule of betas, a changed param group)."""
        old, new = state["sum_betas"], (beta1, beta2)
        for _, key, i in _SUMS:
            if key in state and old[i] != new[i]:
                state[key] *= (1 - old[i]) / (1 - new[i])
        state["sum_betas"] = [beta1, beta2]

    def moments(self, p) -> dict:
        """The moments of parameter ``p`` in PyTorch's meaning (``exp_avg`` m, ``exp_avg_sq`` v,
        ``max_exp_avg_sq`` with amsgrad), as new arrays; {} before its first step."""
        state = self.state.get(p)
        if not state:
            return {}
        betas = state["sum_betas"]
        return {torch_key: state[key] * (1 - betas[i])
                for torch_key, key, i in _SUMS if key in state}

    def _adopt_loaded_state(self, entry: dict, group: dict) -> dict:
        """Turn PyTorch's state (``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``) into sums."""
        if "exp_avg" not in entry:
            return entry
        betas = [float(b) for b in group["betas"]]
        entry = dict(entry)
        for torch_key, key, i in _SUMS:
            if torch_key in entry:
                entry[key] = entry.pop(torch_key) / (1 - betas[i])
        entry["sum_betas"] = betas
        return entry


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``).

    The same update as :class:`Adam` without the L2 term in the gradient; instead, before it,
    the parameter itself shrinks::

        theta = theta * (1 - lr * weight_decay)
        g     = -g_t if maximize else g_t
        m_t   = beta1 * m_{t-1} + (1 - beta1) * g
        v_t   = beta2 * v_{t-1} + (1 - beta2) * g * g
        vmax  = max(vmax, v_t)   and use vmax for v_t     (if amsgrad)
        theta = theta - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    so weight decay is not rescaled by the adaptive denominator. Default ``weight_decay=1e-2``.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
