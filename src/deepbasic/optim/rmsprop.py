"""RMSprop: divide the gradient by a running root mean square of recent gradients."""
from __future__ import annotations

from deepbasic import backend
from deepbasic.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``, same defaults and meaning).

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t`
    (all running quantities start at 0)::

        g     = -g_t if maximize else g_t
        g     = g + weight_decay * theta                      (L2 penalty, if weight_decay != 0)
        v_t   = alpha * v_{t-1} + (1 - alpha) * g * g         (mean square, "square_avg")
        if centered:
            m_t   = m_{t-1} + (1 - alpha) * (g - m_{t-1})     (mean gradient, "grad_avg")
            denom = sqrt(v_t - m_t * m_t) + eps              (a running standard deviation)
        else:
            denom = sqrt(v_t) + eps
        if momentum > 0:
            b_t   = momentum * b_{t-1} + g / denom
            theta = theta - lr * b_t
        else:
            theta = theta - lr * g / denom

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate (>= 0).
        alpha: smoothing constant of the running averages (>= 0).
        eps: added to the denominator for numerical stability (>= 0).
        weight_decay: L2 penalty coefficient (>= 0).
        momentum: momentum factor (>= 0).
        centered: normalize by the estimated variance instead of the raw second moment.
        maximize: ascend the objective instead of descending.

    State per parameter: ``step`` (int), ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hparams(self, group: dict, where: str) -> None:
        for key in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            self._check_number(group, key, where)

    def _update_group(self, group: dict, params: list) -> None:
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        centered, maximize = bool(group["centered"]), bool(group["maximize"])
        for p, grad in params:
            data = p.data
            xp = backend.get_array_module(data)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = xp.zeros_like(data)
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = xp.zeros_like(data)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = xp.zeros_like(data)
            state["step"] += 1
            g = self._effective_grad(data, grad, weight_decay, maximize)
            v = state["square_avg"]
            t = self._tmp(data, 1)
            v *= alpha
            xp.multiply(g, 1.0 - alpha, out=t)
            t *= g
            v += t
            if centered:
                m = state["grad_avg"]
                xp.subtract(g, m, out=t)
                t *= 1.0 - alpha
                m += t
                xp.multiply(m, m, out=t)
                xp.subtract(v, t, out=t)
                xp.sqrt(t, out=t)
            else:
                xp.sqrt(v, out=t)
            t += eps
            xp.divide(g, t, out=t)
            if momentum > 0:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += t
                xp.multiply(buf, lr, out=t)
            else:
                t *= lr
            data -= t
