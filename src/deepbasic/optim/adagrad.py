"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""
from __future__ import annotations

from deepbasic import backend
from deepbasic.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``, same defaults and meaning).

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t = 1, 2, ...`::

        g     = -g_t if maximize else g_t
        g     = g + weight_decay * theta                 (L2 penalty, if weight_decay != 0)
        clr   = lr / (1 + (t - 1) * lr_decay)
        s_t   = s_{t-1} + g * g                          (s_0 = initial_accumulator_value)
        theta = theta - clr * g / (sqrt(s_t) + eps)

    Coordinates with large past gradients take small steps; the step size only shrinks.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate (>= 0).
        lr_decay: learning-rate decay per step (>= 0).
        weight_decay: L2 penalty coefficient (>= 0).
        initial_accumulator_value: starting value of the sum of squares (>= 0).
        eps: added to the denominator for numerical stability (>= 0).
        maximize: ascend the objective instead of descending.

    State per parameter: ``step`` (int), ``sum``.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hparams(self, group: dict, where: str) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._check_number(group, key, where)

    def _update_group(self, group: dict, params: list) -> None:
        lr, lr_decay = float(group["lr"]), float(group["lr_decay"])
        weight_decay, eps = float(group["weight_decay"]), float(group["eps"])
        init, maximize = float(group["initial_accumulator_value"]), bool(group["maximize"])
        for p, grad in params:
            data = p.data
            xp = backend.get_array_module(data)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["sum"] = xp.full_like(data, init)
            state["step"] += 1
            step, s = state["step"], state["sum"]
            g = self._effective_grad(data, grad, weight_decay, maximize)
            clr = lr / (1 + (step - 1) * lr_decay)
            t = self._tmp(data, 1)
            xp.multiply(g, g, out=t)
            s += t
            xp.sqrt(s, out=t)
            t += eps
            xp.divide(g, t, out=t)
            t *= clr
            data -= t
