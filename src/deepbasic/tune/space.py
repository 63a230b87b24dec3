"""Search spaces: one :class:`Dimension` per hyperparameter, a space is ``{name: Dimension}``.

    space = {"lr": LogUniform(1e-4, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2),
             "hidden": Choice([64, 128, 256]), "dropout": Uniform(0.0, 0.5)}

Every dimension can

- ``sample(rng)``: draw one value with a ``numpy.random.Generator`` (random search);
- ``grid(n)``: ``n`` evenly spaced values, the ends of the range included (grid search); a
  log dimension spaces them evenly in log space, so ``LogUniform(1e-4, 1e-1).grid(4)`` is
  1e-4, 1e-3, 1e-2, 1e-1; ``grid(1)`` is the (geometric) midpoint;
- ``narrow(values, margin)``: a smaller dimension around the given values (coarse-to-fine).

``Uniform(a, b)`` and ``LogUniform(a, b)`` sample [a, b); ``IntUniform(a, b)`` the integers a..b,
both included. A bad range is a ``ValueError`` naming what was expected (``low < high``; a log
scale needs ``low > 0``), a value of the wrong type a ``TypeError``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}")
    return value


def _plain(value):
    """NumPy scalars -> Python scalars (configs stay JSON-able and print cleanly)."""
    return value.item() if isinstance(value, np.generic) else value


class Dimension:
    """One hyperparameter's range. Subclasses define sample, grid, narrow, size and to_dict."""

    log = False

    def sample(self, rng: np.random.Generator):
        raise NotImplementedError

    def grid(self, n: int) -> list:
        raise NotImplementedError

    def narrow(self, values, margin: float = 0.1) -> "Dimension":
        raise NotImplementedError

    @property
    def size(self) -> int | None:
        """How many distinct values the dimension has (None: a continuum)."""
        return None

    def to_dict(self) -> dict:
        raise NotImplementedError

    @staticmethod
    def _check_n(n) -> int:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"grid: the number of points must be a positive integer, got {n!r}")
        return int(n)

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(repr(self))


class _Range(Dimension):
    """A numeric interval [low, high], on a linear or a log scale."""

    kind = "range"

    def __init__(self, low, high):
        name = type(self).__name__
        self.low, self.high = _number(low, f"{name}: low"), _number(high, f"{name}: high")
        if self.low >= self.high:
            raise ValueError(f"{name}: low must be < high, got low={low}, high={high}")
        if self.log and self.low <= 0:
            raise ValueError(f"{name}: a log scale needs low > 0, got low={low}")

    # the scale: where values are spread evenly
    def _to(self, v):
        return np.log(v) if self.log else np.asarray(v, dtype=float)

    def _from(self, u):
        return np.exp(u) if self.log else u

    def sample(self, rng):
        u = rng.uniform(self._to(self.low), self._to(self.high))
        return float(min(max(self._from(u), self.low), self.high))

    def grid(self, n):
        n = self._check_n(n)
        if n == 1:
            return [float(self._from((self._to(self.low) + self._to(self.high)) / 2))]
        points = np.geomspace(self.low, self.high, n) if self.log else np.linspace(self.low, self.high, n)
        return [float(p) for p in points]

    def _narrowed_bounds(self, values, margin: float):
        values = [_number(v, f"{type(self).__name__}.narrow: value") for v in values]
        if not values:
            raise ValueError(f"{type(self).__name__}.narrow: needs at least one value")
        if margin < 0:
            raise ValueError(f"{type(self).__name__}.narrow: margin must be >= 0, got {margin}")
        lo_u, hi_u = self._to(self.low), self._to(self.high)
        u = self._to(np.clip(values, self.low, self.high))
        pad = margin * (hi_u - lo_u)
        lo = float(self._from(max(lo_u, float(np.min(u)) - pad)))
        hi = float(self._from(min(hi_u, float(np.max(u)) + pad)))
        return max(lo, self.low), min(hi, self.high)

    def narrow(self, values, margin=0.1):
        """The (log-)range spanned by ``values``, widened by ``margin`` times the current width on
        each side and clipped to the current range: ranges only shrink."""
        lo, hi = self._narrowed_bounds(values, margin)
        if lo >= hi:  # margin 0 and a single value: keep a sliver around it
            return self
        return type(self)(lo, hi)

    def to_dict(self):
        return {"type": type(self).__name__, "low": self.low, "high": self.high, "log": self.log}

    def __repr__(self):
        return f"{type(self).__name__}({self.low:g}, {self.high:g})"


class Uniform(_Range):
    """A real number drawn uniformly from [low, high)."""


class LogUniform(_Range):
    """A positive real number whose logarithm is uniform: every decade is equally likely.

    The natural scale for learning rates and regularization strengths (low > 0).
    """

    log = True


class IntUniform(_Range):
    """An integer drawn uniformly from low..high (both included); ``log=True`` draws it
    log-uniformly (layer widths). ``grid(n)`` rounds and drops repeated values."""

    def __init__(self, low, high, log: bool = False):
        for what, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"IntUniform: {what} must be an integer, got {v!r}")
        self.log = bool(log)
        super().__init__(low, high)
        self.low, self.high = int(low), int(high)

    @property
    def size(self):
        return self.high - self.low + 1

    def sample(self, rng):
        if not self.log:
            return int(rng.integers(self.low, self.high + 1))
        # log-uniform over [low - 0.5, high + 0.5) so the end integers get their full share
        u = rng.uniform(np.log(self.low - 0.5), np.log(self.high + 0.5))
        return int(min(max(round(float(np.exp(u))), self.low), self.high))

    def grid(self, n):
        n = min(self._check_n(n), self.size)
        if n == 1:
            mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
            return [int(round(mid))]
        points = np.geomspace(self.low, self.high, n) if self.log else np.linspace(self.low, self.high, n)
        return sorted({int(round(float(p))) for p in points})

    def narrow(self, values, margin=0.1):
        lo, hi = self._narrowed_bounds(values, margin)
        lo, hi = max(self.low, math.floor(lo)), min(self.high, math.ceil(hi))
        if lo >= hi:
            return Choice([int(lo)])
        return IntUniform(int(lo), int(hi), log=self.log)

    def to_dict(self):
        return {"type": "IntUniform", "low": self.low, "high": self.high, "log": self.log}

    def __repr__(self):
        return f"IntUniform({self.low}, {self.high}{', log=True' if self.log else ''})"


class Choice(Dimension):
    """One of a list of options (numbers, strings, tuples...), each equally likely.

    ``grid(n)`` takes ``n`` options spread evenly over the list (all of them when n >= len).
    """

    def __init__(self, options):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            raise TypeError(f"Choice: expected a list of options, got {options!r}")
        self.options = [_plain(o) for o in options]
        if not self.options:
            raise ValueError("Choice: expected at least one option, got an empty list")
        for i, o in enumerate(self.options):
            if o in self.options[:i]:
                raise ValueError(f"Choice: option {o!r} is listed twice")

    @property
    def size(self):
        return len(self.options)

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def grid(self, n):
        n = min(self._check_n(n), len(self.options))
        if n == 1:
            return [self.options[(len(self.options) - 1) // 2]]
        idx = np.round(np.linspace(0, len(self.options) - 1, n)).astype(int)
        return [self.options[i] for i in idx]

    def narrow(self, values, margin=0.1):
        """The options among ``values``, in their original order."""
        values = [_plain(v) for v in values]
        keep = [o for o in self.options if o in values or (isinstance(o, tuple) and list(o) in values)]
        if not keep:
            raise ValueError(f"Choice.narrow: none of {values!r} is an option of {self!r}")
        return Choice(keep)

    def to_dict(self):
        return {"type": "Choice", "options": list(self.options)}

    def __repr__(self):
        return f"Choice({self.options!r})"


def check_space(space) -> dict:
    """Return ``space`` after checking it is a non-empty ``{name: Dimension}`` dict."""
    if not isinstance(space, dict) or not space:
        raise TypeError(f"a search space must be a non-empty dict {{name: Dimension}}, got {space!r}")
    for name, dim in space.items():
        if not isinstance(name, str):
            raise TypeError(f"search space: names must be strings, got {name!r}")
        if not isinstance(dim, Dimension):
            hint = " (use Choice([...]) for a list of options)" if isinstance(dim, (list, tuple)) else ""
            raise TypeError(f"search space: {name!r} must be a Uniform, LogUniform, IntUniform or "
                            f"Choice, got {dim!r}{hint}")
    return space


def sample_config(space: dict, rng: np.random.Generator) -> dict:
    """One configuration ``{name: value}``, the dimensions sampled in the space's order."""
    return {name: dim.sample(rng) for name, dim in space.items()}


def _int_root(budget: int, d: int) -> int:
    """The largest n with n ** d <= budget (exact, no floating-point surprises)."""
    n = max(1, int(round(budget ** (1.0 / d))))
    while n ** d > budget:
        n -= 1
    while (n + 1) ** d <= budget:
        n += 1
    return n


def grid_counts(space: dict, budget: int) -> list[int]:
    """Points per axis of the grid that grid search runs with ``budget`` trials.

    Every axis starts with ``floor(budget ** (1 / dims))`` points (fewer if it has fewer values).
    Then, axis by axis in the space's order and round after round, an axis gets one more point
    whenever the grid still has at most ``budget`` points, so the earlier axes (list the
    important hyperparameters first) may get a point more than the later ones. 16 trials over
    two axes give 4 x 4, 20 give 5 x 4, 17 give 4 x 4 (1 left over), and 16 over three axes give
    4 x 2 x 2. Left-over trials are filled as :func:`~deepbasic.tune.search.grid_search` says.
    """
    check_space(space)
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 1:
        raise ValueError(f"grid: budget must be a positive integer, got {budget!r}")
    dims = list(space.values())
    n = _int_root(int(budget), len(dims))
    counts = [len(d.grid(n)) for d in dims]
    changed = True
    while changed:
        changed = False
        for i, d in enumerate(dims):
            if d.size is not None and counts[i] >= d.size:
                continue
            trial = counts[i] + 1
            total = math.prod(counts[:i] + [trial] + counts[i + 1:])
            if total > budget:
                continue
            counts[i] = trial
            changed = True
    return counts


def grid_configs(space: dict, budget: int) -> list[dict]:
    """The grid of :func:`grid_counts` as configurations, the last axis varying fastest."""
    import itertools

    counts = grid_counts(space, budget)
    axes = [dim.grid(c) for dim, c in zip(space.values(), counts)]
    return [dict(zip(space.keys(), values)) for values in itertools.product(*axes)]


def narrow_space(space: dict, configs: list[dict], margin: float = 0.1) -> dict:
    """Each dimension narrowed around the values it takes in ``configs`` (the best trials)."""
    check_space(space)
    if not configs:
        raise ValueError("narrow_space: needs at least one configuration")
    return {name: dim.narrow([c[name] for c in configs], margin) for name, dim in space.items()}


def describe_space(space: dict) -> dict:
    """``{name: dim.to_dict()}``: a JSON-able description of a space."""
    return {name: dim.to_dict() for name, dim in check_space(space).items()}


def space_from_dict(description: dict) -> dict:
    """Rebuild a space from :func:`describe_space`'s output."""
    out = {}
    for name, d in description.items():
        kind = d.get("type")
        if kind == "Choice":
            out[name] = Choice([tuple(o) if isinstance(o, list) else o for o in d["options"]])
        elif kind == "IntUniform":
            out[name] = IntUniform(d["low"], d["high"], log=d.get("log", False))
        elif kind in ("Uniform", "LogUniform"):
            out[name] = (LogUniform if kind == "LogUniform" else Uniform)(d["low"], d["high"])
        else:
            raise ValueError(f"space_from_dict: unknown dimension type {kind!r} for {name!r}")
    return out
