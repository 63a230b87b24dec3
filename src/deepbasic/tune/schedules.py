"""Learning-rate decay compared: the same network trained with each schedule of ``SCHEDULES``.

    results = compare_schedules("fashion-mnist", epochs=15, lr=1e-3, out_dir="runs/decay")
    print(format_schedule_table(results))
    plot_schedule_comparison(results, "runs/decay/schedules.png")

Every run starts from the same initial weights and sees the same batches (same seed), with the
same initial lr, so the schedule is the only difference. The schedules (see
:func:`deepbasic.train.recipes.make_scheduler`), over E epochs:

* ``constant``: the lr throughout;
* ``step``: lr, then lr/10 after E/2 epochs and lr/100 after 3E/4;
* ``exponential``: lr * gamma^(epoch-1), gamma = 0.01^(1/(E-1)): a smooth 100x decay;
* ``cosine``: lr * (1 + cos(pi (epoch-1) / E)) / 2, half a cosine towards 0.

A large lr early makes fast progress; a small lr late lets the weights settle into the minimum
instead of bouncing around it, which usually shows as a drop of the training loss and a rise of
validation accuracy when the lr falls.
"""
from __future__ import annotations

import os

from deepbasic.train.recipes import SCHEDULES

DEFAULT_SCHEDULES = ("constant", "step", "exponential", "cosine")


def _check_schedules(schedules) -> tuple:
    if isinstance(schedules, str):
        schedules = (schedules,)
    schedules = tuple(schedules)
    if not schedules:
        raise ValueError(f"expected at least one schedule of {', '.join(SCHEDULES)}, got none")
    bad = [s for s in schedules if s not in SCHEDULES]
    if bad:
        raise ValueError(f"unknown schedule(s) {', '.join(map(repr, bad))}: expected some of "
                         f"{', '.join(SCHEDULES)}")
    if len(set(schedules)) != len(schedules):
        raise ValueError(f"each schedule once, got {', '.join(schedules)}")
    return schedules


def schedule_lrs(schedule: str, lr: float, epochs: int) -> list:
    """The lr of each of ``epochs`` epochs under ``schedule``, without training (a list of E
    floats, exactly what the Trainer records as ``history[i]["lr"]``)."""
    from deepbasic import nn, optim
    from deepbasic.train.recipes import make_scheduler

    (schedule,) = _check_schedules(schedule)
    opt = optim.SGD([nn.Parameter([0.0])], lr=lr)
    scheduler = make_scheduler(schedule, opt, epochs)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradient: nothing changes, but the schedule expects a step first
        if scheduler is not None:
            scheduler.step()
    return lrs


def compare_schedules(dataset: str = "digits", schedules=DEFAULT_SCHEDULES, *, epochs: int = 20,
                      lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                      model_kwargs: dict | None = None, weight_decay: float = 0.0,
                      out_dir: str | None = None, data_root: str | None = None,
                      progress: bool = False, verbose: bool = False) -> dict:
    """Train the same MLP (same seed, same initial ``lr``) once per schedule and record the curves.

    Each run is a :func:`~deepbasic.train.recipes.train_classifier` run with Adam, into
    ``out_dir/<schedule>`` when ``out_dir`` is given (None: nothing kept on disk).

    Returns a JSON-able dict: ``dataset``, ``epochs``, ``lr``, ``seed``, ``batch_size``,
    ``model_kwargs`` and ``runs``, ``{schedule: {"lr": [...], "train_loss": [...],
    "val_loss": [...], "val_accuracy": [...] (one value per epoch), "best_val_accuracy",
    "final_val_accuracy", "test_accuracy" (of the final weights), "train_time_s"}}``.
    """
    from deepbasic.train.recipes import train_classifier

    schedules = _check_schedules(schedules)
    model_kwargs = dict(model_kwargs or {})
    runs = {}
    for name in schedules:
        if verbose:
            print(f"schedule {name}: {epochs} epochs from lr {lr:g}")
        r = train_classifier("mlp", dataset, epochs=epochs, lr=lr, batch_size=batch_size,
                             weight_decay=weight_decay, seed=seed, model_kwargs=model_kwargs,
                             schedule=name, data_root=data_root, progress=progress,
                             verbose=verbose,
                             out_dir=os.path.join(out_dir, name) if out_dir else None)
        h = r["history"]
        runs[name] = {
            "lr": [row["lr"] for row in h],
            "train_loss": [row["train_loss"] for row in h],
            "val_loss": [row["val_loss"] for row in h],
            "val_accuracy": [row["val_accuracy"] for row in h],
            "best_val_accuracy": max(row["val_accuracy"] for row in h),
            "final_val_accuracy": h[-1]["val_accuracy"],
            "test_accuracy": r["test_accuracy"],
            "train_time_s": r["train_time_s"],
        }
    return {"dataset": dataset, "epochs": epochs, "lr": lr, "seed": seed,
            "batch_size": batch_size, "model_kwargs": model_kwargs, "runs": runs}


def format_schedule_table(results: dict) -> str:
    """One line per schedule: final lr, final training loss, best and final validation accuracy,
    test accuracy."""
    runs = results["runs"]
    width = max(len("schedule"), *map(len, runs))
    lines = [f"{'schedule':{width}}  {'final lr':>9}  {'train loss':>10}  {'best val':>8}  "
             f"{'final val':>9}  {'test':>6}"]
    for name, r in runs.items():
        lines.append(f"{name:{width}}  {r['lr'][-1]:9.2e}  {r['train_loss'][-1]:10.4f}  "
                     f"{r['best_val_accuracy']:8.4f}  {r['final_val_accuracy']:9.4f}  "
                     f"{r['test_accuracy']:6.4f}")
    return "\n".join(lines)


def plot_schedule_comparison(results: dict, path: str, title: str | None = None) -> str:
    """One figure, three panels per epoch: the lr (log scale), the training loss (log scale) and
    the validation accuracy, one line per schedule. PNG at ``path``; returns the path."""
    from deepbasic.train.plots import _pyplot, _save

    runs = results.get("runs") if isinstance(results, dict) else None
    if not runs:
        raise ValueError("plot_schedule_comparison: expected the dict of compare_schedules() "
                         "with at least one run under 'runs'")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = (("lr", "learning rate", True), ("train_loss", "training loss", True),
              ("val_accuracy", "validation accuracy", False))
    for ax, (key, label, log) in zip(axes, panels):
        for i, (name, r) in enumerate(runs.items()):
            epochs = range(1, len(r[key]) + 1)
            ax.plot(epochs, r[key], marker="o", ms=3, color=f"C{i}", label=name)
        if log:
            ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=label, title=label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or f"lr schedules on {results.get('dataset', '?')} "
                          f"(same MLP, seed and initial lr {results.get('lr', '?')})")
    fig.tight_layout()
    return _save(fig, path)
