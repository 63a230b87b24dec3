"""Random search, grid search and coarse-to-fine search over a space of hyperparameters.

    from deepbasic.tune import LogUniform, random_search, grid_search
    from deepbasic.tune.trial import MLPObjective

    space = {"lr": LogUniform(1e-4, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}
    objective = MLPObjective("digits", epochs=10)
    r = random_search(objective, space, budget=16, seed=0)
    g = grid_search(objective, space, budget=16)        # 4 x 4
    print(r.to_table()); print(r.best.config, r.best.score)

The objective is ``objective(config) -> float`` or ``-> {"score": float, ...}`` (the other keys
are kept as the trial's ``info``, e.g. training accuracy). Higher scores are better unless
``mode="min"``. A trial that raises is recorded as failed with its error; the search goes on.
``seed`` fixes the configurations drawn, so the same seed and a deterministic objective give the
same trials and scores on every backend.

Bergstra & Bengio (2012): when only a few hyperparameters matter, a grid of ``n ** d`` trials tries
only ``n`` values of each, while ``n ** d`` random trials try ``n ** d`` different values of every
hyperparameter, the important ones included.
"""
from __future__ import annotations

import json
import math
import numbers
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from deepbasic.tune.backends import make_backend, session
from deepbasic.tune.space import (check_space, describe_space, grid_configs, grid_counts,
                                  narrow_space, sample_config)

MODES = ("max", "min")


@dataclass
class Trial:
    """One evaluated configuration: its score (None if it failed), info, time and error."""

    index: int
    config: dict
    score: float | None = None
    seconds: float = 0.0
    info: dict = field(default_factory=dict)
    error: str | None = None
    source: str = "random"   # "random", "grid", "grid-fill", or "round K" (coarse-to-fine)
    round: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None and self.score is not None


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt(v) for v in value)
    return str(value)


@dataclass
class SearchResult:
    """Everything a search did: its trials (in the order they were planned) and how it ran."""

    method: str
    space: dict                       # describe_space(...) of the space searched
    trials: list
    budget: int
    seed: int | None = None
    mode: str = "max"
    seconds: float = 0.0              # wall-clock time of the whole search
    backend: str = ""
    objective: str = ""
    rounds: list = field(default_factory=list)   # coarse-to-fine: the space of each round
    notes: list = field(default_factory=list)

    # ----- queries ------------------------------------------------------------------------------
    @property
    def completed(self) -> list:
        return [t for t in self.trials if t.ok]

    @property
    def failed(self) -> list:
        return [t for t in self.trials if not t.ok]

    def ranked(self) -> list:
        """Completed trials, best first (ties: earlier trial first), then the failed ones."""
        sign = -1.0 if self.mode == "max" else 1.0
        done = sorted(self.completed, key=lambda t: (sign * t.score, t.index))
        return done + self.failed

    @property
    def best(self) -> Trial | None:
        """The best completed trial (None when every trial failed)."""
        ranked = self.completed and self.ranked()
        return ranked[0] if ranked else None

    def scores(self) -> list:
        return [t.score for t in self.trials]

    # ----- text ---------------------------------------------------------------------------------
    def summary(self) -> str:
        b = self.best
        head = (f"{self.method} search: {len(self.trials)} trials"
                + (f" ({len(self.failed)} failed)" if self.failed else "")
                + f", {self.seconds:.1f} s on {self.backend or 'an unknown backend'}")
        if b is None:
            return head + "; every trial failed"
        cfg = ", ".join(f"{k} {_fmt(v)}" for k, v in b.config.items())
        return head + f"; best score {b.score:.4f} (trial {b.index}: {cfg})"

    def to_table(self, top: int | None = None, info_keys=None) -> str:
        """A plain-text table of the trials sorted by score, best first; failed trials last.

        top: show only the first ``top`` rows. info_keys: which info columns (default: every
        number the objective reported, in the order first seen).
        """
        names = list(self.space) or sorted({k for t in self.trials for k in t.config})
        if info_keys is None:
            info_keys = []
            for t in self.trials:
                for k, v in t.info.items():
                    if (isinstance(v, numbers.Real) and not isinstance(v, bool)
                            and k not in info_keys):
                        info_keys.append(k)
        show_source = len({t.source for t in self.trials}) > 1
        header = (["rank", "trial"] + (["source"] if show_source else []) + names + ["score"]
                  + list(info_keys) + ["seconds"])
        rows = []
        for rank, t in enumerate(self.ranked(), 1):
            if top is not None and len(rows) >= top:
                break
            row = [str(rank) if t.ok else "-", str(t.index)]
            if show_source:
                row.append(t.source)
            row += [_fmt(t.config.get(n, "")) for n in names]
            row.append(f"{t.score:.4f}" if t.ok else "failed")
            row += [_fmt(t.info[k]) if k in t.info else "" for k in info_keys]
            row.append(f"{t.seconds:.1f}")
            if not t.ok:
                row.append(f"error: {t.error}")
            rows.append(row)
        widths = [max(len(r[i]) for r in [header] + rows if i < len(r)) for i in range(len(header))]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
        for r in rows:
            cells = [c.rjust(w) for c, w in zip(r, widths)]
            lines.append("  ".join(cells + r[len(widths):]))
        return self.summary() + "\n" + "\n".join(lines)

    # ----- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["trials"] = [asdict(t) for t in self.trials]
        d["best"] = asdict(self.best) if self.best else None
        return _json_safe(d)

    def save_json(self, path: str) -> str:
        """Write the result as JSON (atomically); returns the path."""
        import os

        from deepbasic.serialization import atomic_write

        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_write(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
        return path

    @classmethod
    def from_dict(cls, d: dict) -> "SearchResult":
        d = dict(d)
        d.pop("best", None)
        d["trials"] = [Trial(**t) for t in d.get("trials", [])]
        return cls(**d)

    @classmethod
    def load_json(cls, path: str) -> "SearchResult":
        with open(path) as f:
            return cls.from_dict(json.load(f))


# ----- running trials ---------------------------------------------------------------------------
def _check_budget(budget, what: str = "budget") -> int:
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 1:
        raise ValueError(f"{what} must be a positive integer, got {budget!r}")
    return int(budget)


def _check_common(objective, mode):
    if not callable(objective):
        raise TypeError(f"objective must be callable as objective(config), got {objective!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")


def _evaluate(objective, planned: list, backend, callback, offset: int = 0) -> list:
    """Run the planned ``(config, source, round)`` triples on ``backend``; returns Trials."""
    trials = [Trial(index=offset + i, config=dict(c), source=s, round=r)
              for i, (c, s, r) in enumerate(planned)]

    def done(i, record):
        t = trials[i]
        t.score, t.info, t.seconds, t.error = (record["score"], dict(record["info"]),
                                               float(record["seconds"]), record["error"])
        if callback is not None:
            callback(t)

    backend.run(objective, [t.config for t in trials], done)
    return trials


def _objective_name(objective) -> str:
    return repr(objective) if hasattr(type(objective), "__dataclass_fields__") else getattr(
        objective, "__qualname__", type(objective).__name__)


def _result(method, space, trials, budget, seed, mode, start, backend, objective, **kw):
    return SearchResult(method=method, space=describe_space(space), trials=trials, budget=budget,
                        seed=seed, mode=mode, seconds=time.perf_counter() - start,
                        backend=repr(backend), objective=_objective_name(objective), **kw)


def random_search(objective, space: dict, budget: int, seed: int = 0, *, backend="process",
                  workers: int | None = None, address: str | None = None, mode: str = "max",
                  callback=None) -> SearchResult:
    """``budget`` configurations drawn independently from ``space`` (seeded), each evaluated once.

    backend: ``"process"`` (default), ``"serial"``, ``"ray"`` or a backend object (see
    :mod:`deepbasic.tune.backends`); workers / address configure it. callback(trial) is called
    as each trial finishes (in completion order).
    """
    _check_common(objective, mode)
    check_space(space)
    budget = _check_budget(budget)
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    planned = [(sample_config(space, rng), "random", 1) for _ in range(budget)]
    be = make_backend(backend, workers, address)
    trials = _evaluate(objective, planned, be, callback)
    return _result("random", space, trials, budget, seed, mode, start, be, objective)


GRID_FILLS = ("random", "none")


def grid_search(objective, space: dict, budget: int, seed: int = 0, *, fill: str = "random",
                backend="process", workers: int | None = None, address: str | None = None,
                mode: str = "max", callback=None) -> SearchResult:
    """Every point of a grid over ``space`` with at most ``budget`` points.

    Points per axis: ``floor(budget ** (1 / dims))`` each, then axes (in the space's order) get
    one more point while the grid still fits the budget (see
    :func:`~deepbasic.tune.space.grid_counts`): 16 trials over 2 axes are 4 x 4, 20 are 5 x 4,
    16 over 3 axes 4 x 2 x 2. When no such grid uses the whole budget (17 over 2 axes: 4 x 4 and
    1 left over), ``fill`` decides the rest: ``"random"`` (default) spends them on configurations drawn at random
    (seeded; ``source="grid-fill"``), so that grid and random search use the same budget;
    ``"none"`` runs only the grid's points. Each axis includes both ends of its range (the
    geometric midpoint for a single point); a log axis is spaced evenly in log space.
    """
    _check_common(objective, mode)
    check_space(space)
    budget = _check_budget(budget)
    if fill not in GRID_FILLS:
        raise ValueError(f"grid_search: fill must be 'random' or 'none', got {fill!r}")
    start = time.perf_counter()
    counts = grid_counts(space, budget)
    planned = [(c, "grid", 1) for c in grid_configs(space, budget)]
    if fill == "random" and len(planned) < budget:
        rng = np.random.default_rng(seed)
        planned += [(sample_config(space, rng), "grid-fill", 1) for _ in range(budget - len(planned))]
    be = make_backend(backend, workers, address)
    trials = _evaluate(objective, planned, be, callback)
    grid = " x ".join(map(str, counts))
    notes = [f"grid {grid} = {math.prod(counts)} points"
             + (f" + {budget - math.prod(counts)} random fill" if len(trials) > math.prod(counts) else "")]
    return _result("grid", space, trials, budget, seed, mode, start, be, objective, notes=notes)


def coarse_to_fine(objective, space: dict, budget_per_round: int, rounds: int = 3, seed: int = 0,
                   *, keep_top: int = 3, margin: float = 0.1, backend="process",
                   workers: int | None = None, address: str | None = None, mode: str = "max",
                   callback=None) -> SearchResult:
    """Random search in rounds, each in a space narrowed around the best trials so far.

    Round 1 samples ``budget_per_round`` configurations from ``space``. Before each later round
    every dimension shrinks to the range spanned by the ``keep_top`` best completed trials so
    far, widened by ``margin`` times the current width on each side (in log space for log
    dimensions) and clipped to the current range; a :class:`~deepbasic.tune.space.Choice` keeps
    the options those trials used. ``result.rounds`` lists each round's space.
    """
    _check_common(objective, mode)
    check_space(space)
    budget_per_round = _check_budget(budget_per_round, "budget_per_round")
    rounds = _check_budget(rounds, "rounds")
    keep_top = _check_budget(keep_top, "keep_top")
    if not (isinstance(margin, numbers.Real) and margin >= 0):
        raise ValueError(f"coarse_to_fine: margin must be a number >= 0, got {margin!r}")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    be = make_backend(backend, workers, address)
    trials, spaces, current = [], [], space
    sign = -1.0 if mode == "max" else 1.0
    with session(be):  # one process pool for every round
        for k in range(1, rounds + 1):
            if k > 1:
                done = sorted((t for t in trials if t.ok), key=lambda t: (sign * t.score, t.index))
                if done:  # nothing to narrow around if every trial so far failed
                    current = narrow_space(current, [t.config for t in done[:keep_top]], margin)
            spaces.append(describe_space(current))
            planned = [(sample_config(current, rng), f"round {k}", k)
                       for _ in range(budget_per_round)]
            trials += _evaluate(objective, planned, be, callback, offset=len(trials))
    return _result("coarse-to-fine", space, trials, budget_per_round * rounds, seed, mode, start,
                   be, objective, rounds=spaces)


def compare_random_grid(objective, space: dict, budget: int, seed: int = 0, *, backend="process",
                        workers: int | None = None, address: str | None = None,
                        **kwargs) -> dict:
    """Random search and grid search with the same ``budget``: ``{"random": ..., "grid": ...}``.

    Both run on one backend (one process pool); kwargs (mode, callback) go to both searches.
    """
    be = make_backend(backend, workers, address)
    with session(be):
        return {"random": random_search(objective, space, budget, seed, backend=be, **kwargs),
                "grid": grid_search(objective, space, budget, seed, backend=be, **kwargs)}


def comparison_line(results: dict) -> str:
    """One sentence naming the search with the best score among ``{label: SearchResult}``."""
    scored = [(label, r.best) for label, r in results.items() if r.best is not None]
    budgets = {len(r.trials) for r in results.values()}
    same = f"the same budget of {budgets.pop()} trials" if len(budgets) == 1 else "unequal budgets"
    if not scored:
        return f"every trial of every search failed ({same})"
    mode = next(iter(results.values())).mode
    scored.sort(key=lambda lb: lb[1].score, reverse=(mode == "max"))
    parts = ", ".join(f"{label} {b.score:.4f}" for label, b in scored)
    top = [label for label, b in scored if b.score == scored[0][1].score]
    if len(top) > 1:
        return f"tie between {' and '.join(top)}: best scores {parts} ({same})"
    return f"{scored[0][0]} search wins: best scores {parts} ({same})"
