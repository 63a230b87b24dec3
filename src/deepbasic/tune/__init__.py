"""Hyperparameter search: spaces, random / grid / coarse-to-fine search, and where trials run.

    from deepbasic.tune import LogUniform, random_search, grid_search
    from deepbasic.tune.trial import MLPObjective

    space = {"lr": LogUniform(1e-4, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}
    result = random_search(MLPObjective("digits", epochs=10), space, budget=16, seed=0)
    print(result.to_table())

- :mod:`deepbasic.tune.space`: ``Uniform``, ``LogUniform``, ``IntUniform``, ``Choice``.
- :mod:`deepbasic.tune.search`: ``random_search``, ``grid_search``, ``coarse_to_fine`` and their
  ``SearchResult`` (table, JSON).
- :mod:`deepbasic.tune.backends`: ``"process"`` (default), ``"serial"``, ``"ray"`` (optional:
  ``pip install 'deepbasic[tune]'``).
- :mod:`deepbasic.tune.trial`: ``MLPObjective``, the standard objective (train an MLP, return the
  best validation accuracy); :mod:`deepbasic.tune.plots`: ``plot_search``.
- :mod:`deepbasic.tune.ensemble`: ``Ensemble`` (averaged probabilities), ``train_ensemble``,
  snapshot ensembles and the gain over the best single model.
- :mod:`deepbasic.tune.schedules`: learning-rate decay compared (``compare_schedules``).

This module imports only NumPy-level code; training, plotting and Ray load when used.
"""
from deepbasic.tune.backends import ProcessBackend, RayBackend, SerialBackend, make_backend
from deepbasic.tune.search import SearchResult, Trial, coarse_to_fine, grid_search, random_search
from deepbasic.tune.space import Choice, Dimension, IntUniform, LogUniform, Uniform
from deepbasic.tune.ensemble import (Ensemble, ensemble_report, format_ensemble_report,
                                     load_snapshots, plot_ensemble_report, snapshot_ensemble,
                                     train_ensemble)
from deepbasic.tune.schedules import (compare_schedules, format_schedule_table,
                                      plot_schedule_comparison, schedule_lrs)

__all__ = [
    "Choice", "Dimension", "IntUniform", "LogUniform", "ProcessBackend", "RayBackend",
    "SearchResult", "SerialBackend", "Trial", "Uniform", "coarse_to_fine", "grid_search",
    "make_backend", "random_search",
    "Ensemble", "ensemble_report", "format_ensemble_report", "load_snapshots",
    "plot_ensemble_report", "snapshot_ensemble", "train_ensemble",
    "compare_schedules", "format_schedule_table", "plot_schedule_comparison", "schedule_lrs",
]
