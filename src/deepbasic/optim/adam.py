"""Adam and AdamW: momentum on the gradient and its square, with bias correction."""
from __future__ import annotations

import math

from deepbasic import backend
from deepbasic.optim.optimizer import Optimizer, _fmt, _is_number


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

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad).
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
                state["exp_avg"] = xp.zeros_like(data)
                state["exp_avg_sq"] = xp.zeros_like(data)
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = xp.zeros_like(data)
            state["step"] += 1
            step = state["step"]
            if decoupled and weight_decay != 0:
                data *= 1.0 - lr * weight_decay
            step_size = lr / (1 - beta1**step)
            bias_correction2_sqrt = math.sqrt(1 - beta2**step)
            arrays = [data, grad, state["exp_avg"], state["exp_avg_sq"], self._tmp(data, 0),
                      self._tmp(data, 1)]
            if amsgrad:
                arrays.append(state["max_exp_avg_sq"])
            # Cache-sized blocks: the dozen passes below stay in cache instead of memory.
            for block in self._blocks(*arrays):
                theta, g, m, v, g_eff, t = block[:6]
                g = self._effective_grad_into(theta, g, 0.0 if decoupled else weight_decay,
                                              maximize, g_eff)
                # m = beta1 * m + (1 - beta1) * g
                m *= beta1
                xp.multiply(g, 1.0 - beta1, out=t)
                m += t
                # v = beta2 * v + (1 - beta2) * g * g
                v *= beta2
                xp.square(g, out=t)
                t *= 1.0 - beta2
                v += t
                if amsgrad:
                    vmax = block[6]
                    xp.maximum(vmax, v, out=vmax)
                    v = vmax
                # theta -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), computed as
                # theta -= (step_size * c) * m / (sqrt(v) + eps * c) with c = sqrt(1 - beta2^t)
                xp.sqrt(v, out=t)
                t += eps * bias_correction2_sqrt
                xp.divide(m, t, out=t)
                t *= step_size * bias_correction2_sqrt
                theta -= t


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
