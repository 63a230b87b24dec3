"""Optimizers, gradient clipping and learning-rate schedules, with PyTorch's names and semantics.

    from deepbasic import optim
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    for epoch in range(50):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
        sched.step()
"""
from deepbasic.optim import lr_scheduler
from deepbasic.optim.adagrad import Adagrad
from deepbasic.optim.adam import Adam, AdamW
from deepbasic.optim.clip import clip_grad_norm_, clip_grad_value_
from deepbasic.optim.lbfgs import LBFGS
from deepbasic.optim.optimizer import Optimizer
from deepbasic.optim.rmsprop import RMSprop
from deepbasic.optim.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "LBFGS",
    "clip_grad_norm_",
    "clip_grad_value_",
    "lr_scheduler",
]
