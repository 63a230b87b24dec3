"""Learning-rate schedules: change each param group's ``lr`` as epochs (or steps) go by.

Usage, as in PyTorch::

    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(...)          # optimizer.step() many times
        scheduler.step()              # then move the schedule one epoch on

Constructing a scheduler stores each group's starting lr as ``group["initial_lr"]`` (the
``base_lrs``) and sets the lr of epoch 0. ``scheduler.step()`` increments ``last_epoch`` and sets
the new lrs. Each schedule computes the new lr from the current one (a recursive form, like
PyTorch's, so the floats match it and schedules can be chained); ``step(epoch)`` jumps to an epoch
with the closed form. ``state_dict()`` is plain JSON material (ints, floats, strings, lists;
non-finite floats are written as the strings ``"inf"``, ``"-inf"``, ``"nan"``).
"""
from __future__ import annotations

import math
import numbers
import warnings
from bisect import bisect_right
from collections import Counter


def _encode(value):
    """JSON-safe copy: non-finite floats become strings, tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 'inf', '-inf', 'nan'
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (list, dict)):  # NumPy scalar
        return _encode(value.item())
    return value


def _decode(value):
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class LRScheduler:
    """Base class of the epoch-based schedules.

    Subclasses write :meth:`get_lr` (the lrs of epoch ``last_epoch`` from the current ones) and,
    optionally, ``_get_closed_form_lr`` (the lrs of any epoch from ``base_lrs``), and list the
    attributes to save in ``_saved``.

    Attributes:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` are set.
        base_lrs: every group's ``initial_lr``.
        last_epoch: the epoch of the current lrs (0 after construction).
    """

    _saved: tuple = ()  # schedule-specific attributes saved by state_dict()

    def __init__(self, optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{name}: expected an optimizer, got {type(optimizer).__name__}")
        if not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: param_groups[{i}] has no 'initial_lr', which resuming with "
                        f"last_epoch={last_epoch} needs; create the scheduler with last_epoch=-1 "
                        f"and load its state_dict() instead"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self._step_count = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.step()  # the lrs of epoch last_epoch + 1 (epoch 0 for a new schedule)

    def get_lr(self) -> list:  # pragma: no cover - abstract
        """The lrs of epoch ``last_epoch``, computed from the groups' current lrs."""
        raise NotImplementedError(f"{type(self).__name__} has no get_lr()")

    def get_last_lr(self) -> list:
        """The lrs the last :meth:`step` set, one per param group."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule one epoch (or jump to ``epoch``, with the closed form) and set
        every group's lr."""
        if self._step_count == 1 and getattr(self.optimizer, "_step_count", 1) == 0:
            warnings.warn(
                f"{type(self).__name__}.step() was called before optimizer.step(): the first lr of "
                f"the schedule is skipped. Call optimizer.step() first, then scheduler.step()",
                UserWarning, stacklevel=2,
            )
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = int(epoch)
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = float(lr)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list:
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    # ----- state dicts ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The schedule's state (not the optimizer's) as JSON-serializable data."""
        state = {"last_epoch": self.last_epoch, "_step_count": self._step_count,
                 "base_lrs": self.base_lrs, "_last_lr": self._last_lr}
        for key in self._saved:
            state[key] = getattr(self, key)
        return {k: _encode(v) for k, v in state.items()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state from :meth:`state_dict` of the same kind of schedule."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}: expected a dict, got {type(state_dict).__name__}")
        required = ("last_epoch", "base_lrs", "_last_lr") + tuple(self._saved)
        missing = [k for k in required if k not in state_dict]
        if missing:
            raise ValueError(f"{name}: the state dict lacks {', '.join(missing)} "
                             f"(is it from another kind of scheduler?)")
        n = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            if len(state_dict[key]) != n:
                raise ValueError(f"{name}: '{key}' has {len(state_dict[key])} value(s), but the "
                                 f"optimizer has {n} param group(s)")
        for key, value in state_dict.items():
            value = _decode(value)
            if key == "milestones":
                value = Counter(value)
            setattr(self, key, value)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._saved)
        return f"{type(self).__name__}({args}, last_epoch={self.last_epoch})"


def _check_positive_int(owner: str, key: str, value) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {key} must be a positive integer, got {value!r}")


def _check_gamma(owner: str, gamma) -> None:
    if not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"{owner}: gamma must be a number > 0, got {gamma!r}")


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs::

        lr(epoch) = base_lr * gamma ** (epoch // step_size)
    """

    _saved = ("step_size", "gamma")

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        _check_positive_int("StepLR", "step_size", step_size)
        _check_gamma("StepLR", gamma)
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each epoch listed in ``milestones``::

        lr(epoch) = base_lr * gamma ** (number of milestones <= epoch)

    A milestone listed twice multiplies by ``gamma`` twice.
    """

    _saved = ("milestones", "gamma")

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        milestones = list(milestones)
        for m in milestones:
            if not isinstance(m, numbers.Integral) or isinstance(m, bool) or m < 0:
                raise ValueError(f"MultiStepLR: milestones must be non-negative integers (epochs), "
                                 f"got {milestones!r}")
        _check_gamma("MultiStepLR", gamma)
        self.milestones, self.gamma = Counter(int(m) for m in milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self.last_epoch not in self.milestones:
            return lrs
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        k = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**k for base in self.base_lrs]

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["milestones"] = sorted(self.milestones.elements())
        return state


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch::

        lr(epoch) = base_lr * gamma ** epoch
    """

    _saved = ("gamma",)

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        _check_gamma("ExponentialLR", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self.last_epoch == 0:
            return lrs
        return [lr * self.gamma for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from ``base_lr`` down to ``eta_min`` over ``T_max`` epochs::

        lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    (SGDR without restarts). Like PyTorch, each step computes the new lr from the current one::

        lr_e = eta_min + (lr_{e-1} - eta_min) * (1 + cos(pi e / T_max)) / (1 + cos(pi (e-1) / T_max))

    which equals the closed form when nothing else changes the lr; past ``T_max`` the lr comes
    back up along the cosine (period ``2 T_max``).
    """

    _saved = ("T_max", "eta_min")

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        if not isinstance(eta_min, numbers.Real) or eta_min < 0:
            raise ValueError(f"CosineAnnealingLR: eta_min must be a number >= 0, got {eta_min!r}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        lrs = self._current_lrs()
        if e == 0:
            return lrs
        if self._step_count == 1 and e > 0:  # resuming at epoch e: closed form
            return [lo + (base - lo) * (1 + math.cos(e * math.pi / T)) / 2 for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:  # at the bottom (cos = -1): the recursion would divide by 0
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(lrs, self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - lo) + lo for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * e / T)) / 2 for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor * base_lr`` to ``end_factor * base_lr`` over
    ``total_iters`` epochs, then keep it (a warm-up when ``start_factor < end_factor``)::

        lr(epoch) = base_lr * (start_factor
                               + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)

    Each step multiplies the current lr by the ratio of consecutive factors, like PyTorch.
    """

    _saved = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not isinstance(start_factor, numbers.Real) or not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not isinstance(end_factor, numbers.Real) or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        _check_positive_int("LinearLR", "total_iters", total_iters)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        e, a, b, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if e == 0:
            return [lr * a for lr in lrs]
        if e > n:
            return lrs
        ratio = 1.0 + (b - a) / (n * a + (e - 1) * (b - a))
        return [lr * ratio for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        e, a, b, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        return [base * (a + (b - a) * min(n, e) / n) for base in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """Divide the lr by ``1 / factor`` when a metric has stopped improving.

    ``step(metric)`` once per epoch (e.g. with the validation loss). A value is an improvement
    when it beats the best so far by the threshold:

    ========  ===========  =========================================
    mode      threshold    improvement
    ========  ===========  =========================================
    min       rel          metric < best * (1 - threshold)
    min       abs          metric < best - threshold
    max       rel          metric > best * (1 + threshold)
    max       abs          metric > best + threshold
    ========  ===========  =========================================

    After more than ``patience`` epochs in a row without improvement, each group's lr becomes
    ``max(lr * factor, min_lr)`` (unchanged if that changes it by ``eps`` or less), and the next
    ``cooldown`` epochs count no bad epochs. Like PyTorch, it does not set ``initial_lr``.

    Args:
        optimizer: the optimizer.
        mode: ``"min"`` (the metric should go down, like a loss) or ``"max"`` (like accuracy).
        factor: the lr multiplier, in [0, 1).
        patience: bad epochs tolerated before reducing.
        threshold: the margin of a significant improvement (>= 0).
        threshold_mode: ``"rel"`` (relative to best) or ``"abs"``.
        cooldown: epochs to wait after a reduction before counting bad epochs again.
        min_lr: lower bound on the lr: a number, or a list with one per param group.
        eps: smallest change of lr worth applying.
    """

    _saved = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
              "cooldown_counter", "min_lrs", "default_min_lr", "eps", "best", "num_bad_epochs",
              "mode_worse")

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0, eps: float = 1e-8):
        name = "ReduceLROnPlateau"
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{name}: expected an optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not isinstance(factor, numbers.Real) or not 0 <= factor < 1:
            raise ValueError(f"{name}: factor must be in [0, 1), got {factor!r}")
        for key, value in (("patience", patience), ("cooldown", cooldown)):
            if not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name}: {key} must be an integer >= 0, got {value!r}")
        for key, value in (("threshold", threshold), ("eps", eps)):
            if not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"{name}: {key} must be a number >= 0, got {value!r}")
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"{name}: min_lr has {len(min_lr)} value(s), but the optimizer has "
                                 f"{n} param group(s)")
            self.default_min_lr, self.min_lrs = None, list(min_lr)
        else:
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * n
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, int(patience)
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = int(cooldown), eps
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self.last_epoch = 0
        self._step_count = 0
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves significantly on ``best`` (see the table above)."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    def step(self, metrics, epoch: int | None = None) -> None:
        """Record this epoch's ``metrics`` value and reduce the lr if it has plateaued."""
        current = float(metrics)
        self._step_count += 1
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown are ignored
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict) -> None:
        min_lrs = state_dict.get("min_lrs") if isinstance(state_dict, dict) else None
        n = len(self.optimizer.param_groups)
        if isinstance(min_lrs, list) and len(min_lrs) != n:
            raise ValueError(f"ReduceLROnPlateau.load_state_dict: 'min_lrs' has {len(min_lrs)} "
                             f"value(s), but the optimizer has {n} param group(s)")
        super().load_state_dict(state_dict)
