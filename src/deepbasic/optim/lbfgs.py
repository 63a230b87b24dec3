r"""L-BFGS: a quasi-Newton method that builds a curvature model from the last few gradient changes.

Written from Nocedal & Wright, *Numerical Optimization* (2nd ed.), Algorithm 7.4 (the two-loop
recursion) and Algorithms 3.5 / 3.6 (line search for the strong Wolfe conditions, and its zoom),
with the exact choices of PyTorch's ``torch.optim.LBFGS`` (itself a port of Torch7's ``optim``
and Mark Schmidt's minFunc), so that the two follow the same trajectory.

All parameters are seen as one flat vector ``x`` (n,) = the parameters raveled and concatenated
in order; ``g`` (n,) is the gradient gathered the same way (zeros for a parameter without one).

The inverse-Hessian model. After each iteration ``k`` with step ``s_k = x_{k+1} - x_k`` and
gradient change ``y_k = g_{k+1} - g_k``, the pair is kept if ``y_k^T s_k > 1e-10`` (positive
curvature along the step, so the model stays positive definite); at most ``history_size`` pairs
are kept, the oldest dropped first. The search direction ``d = -H g`` comes from the two-loop
recursion, which applies the BFGS inverse-Hessian update of the ``m`` stored pairs to
``H_0 = gamma * I`` without forming any matrix (O(m n) time)::

    rho_i = 1 / (y_i^T s_i)
    q = -g
    for i = m-1 ... 0:      alpha_i = rho_i s_i^T q;   q = q - alpha_i y_i
    r = gamma * q           gamma = H_diag = y^T s / y^T y of the newest pair (1 before any)
    for i = 0 ... m-1:      beta_i = rho_i y_i^T r;    r = r + (alpha_i - beta_i) s_i
    d = r

The first iteration ever uses ``d = -g`` and the cautious step ``t = min(1, 1 / ||g||_1) * lr``;
later iterations start from ``t = lr``. Without a line search the step is ``x = x + t d``; with
``line_search_fn="strong_wolfe"`` ``t`` is chosen to satisfy the strong Wolfe conditions
(``c1 = 1e-4``, ``c2 = 0.9``)::

    f(x + t d) <= f(x) + c1 t g^T d            (sufficient decrease, Armijo)
    |g(x + t d)^T d| <= c2 |g^T d|              (curvature)

by bracketing an interval that contains such a ``t`` (trial steps extrapolated by cubic
interpolation, within [t + 0.01 (t - t_prev), 10 t]) and zooming into it (cubic interpolation,
kept at least 10 % of the interval away from its ends when progress stalls).

One call of :meth:`LBFGS.step` runs up to ``max_iter`` iterations (``max_eval`` function
evaluations); it stops early when ``max |g| <= tolerance_grad``, when the directional
derivative ``g^T d > -tolerance_change``, when the step ``max |t d| <= tolerance_change`` or
when the loss changes by less than ``tolerance_change``. The model (``d``, ``t``, the pairs,
``H_diag``, the previous gradient and loss, the iteration and evaluation counts) is kept across
calls, as in PyTorch.
"""
from __future__ import annotations

import numbers

import numpy as np

from deepbasic import backend
from deepbasic.optim.optimizer import Optimizer, _fmt, _is_array, _is_number
from deepbasic.tensor import enable_grad

LINE_SEARCH_FNS = (None, "strong_wolfe")


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped to
    ``bounds`` (default: the interval between x1 and x2); the interval's midpoint when the cubic
    has no minimizer (Nocedal & Wright, eq. 3.59)::

        d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2)
        d2 = sqrt(d1^2 - g1 g2)
        x  = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)      (x1 <= x2; mirrored otherwise)
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, dot, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step ``t`` along ``d`` from ``x`` that satisfies the strong Wolfe conditions
    (Nocedal & Wright, Algorithms 3.5 and 3.6).

    obj_func(x, t, d) -> (loss, flat gradient) at x + t d; f, g, gtd: loss, gradient and
    directional derivative g^T d at x (gtd < 0); dot(a, b): the dot product as a scalar of the
    parameters' dtype; max_ls: the most evaluations. Returns (f_new, g_new, t, evaluations).
    """
    xp = backend.get_array_module(d)
    d_norm = xp.abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = dot(g_new, d)

    # bracketing: find an interval that contains a point satisfying the conditions (Alg. 3.5)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate: cubic interpolation within [t + 0.01 (t - t_prev), 10 t]
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:  # out of evaluations: the interval [0, t]
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies the conditions (Alg. 3.6)
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break  # the bracket is too small to matter
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial too close to an end of the bracket twice in a row (or outside it) is moved
        # to 10 % of the bracket's width from the nearest end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # no sufficient decrease, or not below the low end: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # strong Wolfe conditions hold
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            # t becomes the low end
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class LBFGS(Optimizer):
    r"""L-BFGS (PyTorch's ``torch.optim.LBFGS``: same arguments, defaults, algorithm and state).

    The algorithm is described in the module docstring (:mod:`deepbasic.optim.lbfgs`). Unlike
    the first-order optimizers, one :meth:`step` evaluates the loss several times, so it needs
    a ``closure`` that recomputes it::

        opt = optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
        def closure():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss
        for _ in range(10):
            opt.step(closure)       # up to max_iter L-BFGS iterations

    Args:
        params: Parameters (one group only: L-BFGS sees them as one vector).
        lr: step length (> 0); the first iteration ever takes ``min(1, 1/||g||_1) * lr``.
        max_iter: most L-BFGS iterations per :meth:`step` (positive integer).
        max_eval: most loss evaluations per :meth:`step` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``max |g| <= tolerance_grad`` (first-order optimality).
        tolerance_change: stop when the step, the directional derivative or the change of the
            loss falls below this.
        history_size: how many (s, y) pairs the curvature model keeps (positive integer); memory
            is ``2 * history_size + 2`` vectors of the parameters' total size.
        line_search_fn: ``None`` (fixed step ``lr``) or ``"strong_wolfe"``.

    Differences from PyTorch, all in the checks: ``lr`` must be > 0 (PyTorch accepts 0, which
    never moves, or divides by zero in the line search); ``max_iter``, ``max_eval`` and
    ``history_size`` must be positive integers and the tolerances >= 0 (PyTorch does not
    check); an unknown ``line_search_fn`` is refused here rather than at the first step; and
    the two-loop recursion's scratch list ``al`` is not kept in the state.

    State (global, stored as the first parameter's state as PyTorch does): ``func_evals``,
    ``n_iter`` (ints, totals over all steps), ``d`` (n,) the last direction, ``t`` its step
    length, ``old_dirs`` / ``old_stps`` lists of (n,) arrays (the y's and s's), ``ro`` the
    list of 1 / y^T s, ``H_diag``, ``prev_flat_grad`` (n,), ``prev_loss``.
    """

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None):
        if max_eval is None and _is_int(max_iter):
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        self._numel_cache = None

    # ----- checks -----------------------------------------------------------------------------
    def _check_hparams(self, group: dict, where: str) -> None:
        lr = group["lr"]
        if not _is_number(lr):
            self._fail(f"lr must be a number, got {_fmt(lr)}", where)
        if not lr > 0:
            self._fail(f"lr must be > 0, got {_fmt(lr)}", where)
        for key in ("max_iter", "max_eval", "history_size"):
            value = group[key]
            if not _is_int(value) or value < 1:
                self._fail(f"{key} must be a positive integer, got {_fmt(value)}", where)
        for key in ("tolerance_grad", "tolerance_change"):
            self._check_number(group, key, where)
        if group["line_search_fn"] not in LINE_SEARCH_FNS:
            self._fail(f"line_search_fn must be None or 'strong_wolfe', got "
                       f"{_fmt(group['line_search_fn'])}", where)

    def add_param_group(self, param_group: dict) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): "
                             "pass one list of parameters")
        super().add_param_group(param_group)

    # ----- the parameters as one flat vector ---------------------------------------------------
    @property
    def _params(self) -> list:
        return self.param_groups[0]["params"]

    def _numel(self) -> int:
        if self._numel_cache is None:
            self._numel_cache = sum(int(p.data.size) for p in self._params)
        return self._numel_cache

    def _gather_flat_grad(self):
        """g (n,): every parameter's gradient raveled and concatenated (zeros where None)."""
        first = self._params[0].data
        xp = backend.get_array_module(first)
        views = [xp.zeros(p.data.size, dtype=p.data.dtype) if p.grad is None else p.grad.reshape(-1)
                 for p in self._params]
        return xp.concatenate(views)

    def _add_grad(self, step_size, update) -> None:
        """x = x + step_size * update, parameter by parameter (in place)."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += step_size * update[offset:offset + n].reshape(p.data.shape)
            offset += n
        assert offset == self._numel()

    def _clone_param(self) -> list:
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, data in zip(self._params, params_data):
            p.data[...] = data

    def _directional_evaluate(self, closure, x, t, d):
        """(loss, flat gradient) at x + t d; the parameters are put back to x afterwards."""
        self._add_grad(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    def _dot(self, a, b):
        """a^T b as a scalar of the parameters' dtype (float32 math stays float32, as in torch)."""
        xp = backend.get_array_module(a)
        v = xp.dot(a, b)
        return a.dtype.type(v.item() if hasattr(v, "item") else v)

    def _max_abs(self, a):
        return a.dtype.type(backend.get_array_module(a).abs(a).max().item())

    # ----- the step -----------------------------------------------------------------------------
    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss ``closure`` gave first
        (at the parameters before the step).

        ``closure`` is required: a function without arguments that zeroes the gradients,
        recomputes the loss, calls ``backward`` and returns the loss. It is called with
        gradient recording on, once at the start and once per trial point.
        """
        if closure is None or not callable(closure):
            raise TypeError(
                "LBFGS.step needs a closure that re-evaluates the loss, e.g. "
                "def closure(): opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); "
                f"return loss -- then opt.step(closure); got {closure!r}")
        self._step_count += 1
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = int(group["max_iter"]), int(group["max_eval"])
        tolerance_grad = float(group["tolerance_grad"])
        tolerance_change = float(group["tolerance_change"])
        line_search_fn = group["line_search_fn"]
        history_size = int(group["history_size"])

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        # f(x) and its gradient
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        xp = backend.get_array_module(flat_grad)
        opt_cond = self._max_abs(flat_grad) <= tolerance_grad
        if opt_cond:  # already optimal
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ----- the direction d = -H g ----------------------------------------------------
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad       # y_k = g_{k+1} - g_k
                s = d * t                            # s_k = x_{k+1} - x_k
                ys = self._dot(y, s)
                if ys > 1e-10:  # keep the pair only with positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / self._dot(y, y)    # gamma = y^T s / y^T y
                # two-loop recursion (Nocedal & Wright, Alg. 7.4)
                num_old = len(old_dirs)
                al = [None] * num_old
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = self._dot(old_stps[i], q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = self._dot(old_dirs[i], r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # ----- the step length t ------------------------------------------------------------
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / flat_grad.dtype.type(xp.abs(flat_grad).sum().item())) * lr
            else:
                t = lr
            gtd = self._dot(flat_grad, d)  # directional derivative g^T d
            if gtd > -tolerance_change:
                break  # d is no descent direction (any more)

            ls_func_evals = 0
            if line_search_fn == "strong_wolfe":
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, self._dot,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = self._max_abs(flat_grad) <= tolerance_grad
            else:
                self._add_grad(t, d)  # fixed step
                if n_iter != max_iter:
                    # re-evaluate except after the last iteration (the next step() will)
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = self._max_abs(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ----- stopping rules ---------------------------------------------------------------
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if self._max_abs(d * t) <= tolerance_change:
                break  # no progress in x
            if abs(loss - prev_loss) < tolerance_change:
                break  # no progress in f

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss

    # ----- state dicts --------------------------------------------------------------------------
    _ARRAY_KEYS = ("d", "prev_flat_grad")
    _LIST_KEYS = ("old_dirs", "old_stps")
    _SCALAR_KEYS = ("t", "H_diag", "prev_loss")

    def state_dict(self) -> dict:
        """Like :meth:`Optimizer.state_dict`, with the global state under parameter 0 (as in
        PyTorch): ``d`` and ``prev_flat_grad`` are NumPy (n,) copies, ``old_dirs`` and
        ``old_stps`` lists of them, ``ro`` a list of floats; ``t``, ``H_diag``, ``prev_loss``
        Python numbers; ``n_iter`` and ``func_evals`` ints."""
        saved = self.state
        self.state = {}  # the base class packs the groups; the global state is packed here
        try:
            out = super().state_dict()
        finally:
            self.state = saved
        s = self.state.get(self._params[0])
        if s:
            packed = {}
            for k, v in s.items():
                if _is_array(v):
                    packed[k] = backend.to_numpy(v).copy()
                elif isinstance(v, list):
                    packed[k] = [backend.to_numpy(a).copy() if _is_array(a) else _scalar(a)
                                 for a in v]
                else:
                    packed[k] = _scalar(v)
            out["state"] = {0: packed}
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by :meth:`state_dict` (of an LBFGS over parameters with the same
        total size). Everything is checked before anything changes."""
        name = "LBFGS.load_state_dict"
        if (not isinstance(state_dict, dict) or "state" not in state_dict
                or "param_groups" not in state_dict):
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups' "
                             f"(from state_dict())")
        groups = state_dict["param_groups"]
        if (isinstance(groups, (list, tuple)) and len(groups) == 1 and isinstance(groups[0], dict)
                and len(groups[0].get("params", [])) != len(self._params)):
            raise ValueError(f"{name}: parameter group 0 has {len(groups[0].get('params', []))} "
                             f"parameter(s) in the state dict, but {len(self._params)} in the "
                             f"optimizer")
        n = self._numel()
        entry = None
        for key, saved in state_dict["state"].items():
            try:
                i = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: state key {key!r} is not a parameter index") from None
            if i != 0:
                raise ValueError(f"{name}: L-BFGS keeps its state under parameter 0, got state for "
                                 f"parameter {i}")
            entry = dict(saved)
        if entry is not None:
            for k in self._ARRAY_KEYS:
                v = entry.get(k)
                if v is not None and tuple(np.shape(v)) != (n,):
                    raise ValueError(f"{name}: state '{k}' has shape {tuple(np.shape(v))}, but the "
                                     f"parameters have {n} elements in all: expected ({n},)")
            for k in self._LIST_KEYS:
                for j, v in enumerate(entry.get(k) or []):
                    if tuple(np.shape(v)) != (n,):
                        raise ValueError(f"{name}: state '{k}[{j}]' has shape {tuple(np.shape(v))}, "
                                         f"expected ({n},)")
            lengths = {k: len(entry.get(k) or []) for k in ("old_dirs", "old_stps", "ro")}
            if len(set(lengths.values())) != 1:
                raise ValueError(f"{name}: old_dirs, old_stps and ro must have the same length, got "
                                 f"{lengths}")
        first = self._params[0].data
        xp = backend.get_array_module(first)
        dtype = first.dtype

        def on_device(a):
            host = backend.to_numpy(a) if xp is np else a
            return xp.array(host, dtype=dtype, copy=True)

        restored = None
        if entry is not None:
            restored = {}
            for k, v in entry.items():
                if k in self._ARRAY_KEYS and v is not None:
                    restored[k] = on_device(v)
                elif k in self._LIST_KEYS and v is not None:
                    restored[k] = [on_device(a) for a in v]
                elif k == "ro" and v is not None:
                    restored[k] = [dtype.type(r) for r in v]
                elif k in ("t", "H_diag") and isinstance(v, float):
                    restored[k] = dtype.type(v)
                elif k in ("n_iter", "func_evals") and isinstance(v, float) and v.is_integer():
                    restored[k] = int(v)
                else:
                    restored[k] = v
        # checks the groups and replaces them (and empties self.state)
        super().load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        if restored is not None:
            self.state[self._params[0]] = restored


def _scalar(v):
    """A state scalar as a plain Python number (NumPy / CuPy scalars included)."""
    if isinstance(v, np.generic) or hasattr(v, "__cuda_array_interface__"):
        return v.item()
    return v
