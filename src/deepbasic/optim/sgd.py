"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

import numpy as np

from deepbasic import backend
from deepbasic.ops import cuda_kernels
from deepbasic.optim.optimizer import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's ``torch.optim.SGD``, same defaults and meaning).

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t`::

        g  = -g_t if maximize else g_t
        g  = g + weight_decay * theta                          (L2 penalty, if weight_decay != 0)
        if momentum != 0:
            b_t = g                                            at the first step
            b_t = momentum * b_{t-1} + (1 - dampening) * g     afterwards
            g   = g + momentum * b_t   if nesterov   else   b_t
        theta = theta - lr * g

    Args:
        params: Parameters or param-group dicts (see :class:`~deepbasic.optim.Optimizer`).
        lr: learning rate (>= 0).
        momentum: momentum factor (>= 0); 0 is plain SGD.
        dampening: how much of the new gradient is damped in the momentum buffer.
        weight_decay: L2 penalty coefficient (>= 0), added to the gradient.
        nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
        maximize: ascend the objective instead of descending.

    State per parameter: ``momentum_buffer`` (when momentum != 0).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hparams(self, group: dict, where: str) -> None:
        for key in ("lr", "momentum", "weight_decay"):
            self._check_number(group, key, where)
        self._check_number(group, "dampening", where, minimum=None)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            self._fail(f"nesterov=True needs momentum > 0 and dampening = 0, got "
                       f"momentum={group['momentum']!r}, dampening={group['dampening']!r}", where)

    def _update_group(self, group: dict, params: list) -> None:
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
        nesterov, maximize = bool(group["nesterov"]), bool(group["maximize"])
        for p, grad in params:
            data = p.data
            xp = backend.get_array_module(data)
            if momentum != 0 and xp is not np and grad.dtype == data.dtype:
                # a GPU: the whole update in one kernel instead of about six
                state = self.state[p]
                buf = state.get("momentum_buffer")
                first = buf is None
                if first:
                    buf = state["momentum_buffer"] = xp.empty_like(data)
                cuda_kernels.sgd_momentum_step(data, grad, buf, lr, momentum, dampening,
                                               weight_decay, nesterov, maximize, first)
                continue
            g = self._effective_grad(data, grad, weight_decay, maximize)
            scratch = g is not grad  # g lives in scratch 0 and may be overwritten
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    buf *= momentum
                    if dampening == 0:
                        buf += g
                    else:
                        t = self._tmp(data, 1)
                        xp.multiply(g, 1.0 - dampening, out=t)
                        buf += t
                if nesterov:
                    t = self._tmp(data, 1)
                    xp.multiply(buf, momentum, out=t)
                    t += g
                    g, scratch = t, True
                else:
                    g, scratch = buf, False
            if scratch:
                g *= lr
                data -= g
            else:
                t = self._tmp(data, 0)
                xp.multiply(g, lr, out=t)
                data -= t
