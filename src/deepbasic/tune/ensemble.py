"""Model ensembles: average the class probabilities of several networks.

    ens, runs = train_ensemble(5, "fashion-mnist", epochs=12, out_dir="runs/ensemble")
    report = ensemble_report(ens, x_test, y_test)   # members, best single, ensemble, gain
    print(format_ensemble_report(report))

Why it works: networks trained from different random initializations (and batch orders) reach
different minima and make partly different mistakes; averaging their predictions cancels some of
the independent errors, so the ensemble is usually more accurate (and better calibrated) than its
best member, at N times the cost of training and prediction.

Averaging probabilities, not logits: the ensemble's prediction is

    p(y | x) = (1 / N) sum_i softmax(s_i(x))

the mixture of the members' predictive distributions (as in Lakshminarayanan et al., 2017). Each
member's logits are only defined up to an additive constant per example, and their scale differs
from network to network (a confident network has large logits), so a plain mean of logits lets the
member with the largest logits dominate; probabilities all live on the same [0, 1] simplex, so
every member gets an equal vote, weighted by its own confidence. (The softmax of the mean logit is
the renormalized *geometric* mean of the probabilities; :func:`ensemble_report` also measures it,
as ``logit_average``, for comparison.)

Snapshot ensembles (Huang et al., 2017) take the members from checkpoints saved along *one* run,
so they cost a single training run. Huang et al. restart a cyclic learning rate so that each
snapshot sits in a different minimum; here the snapshots are simply the checkpoints a run keeps
every k epochs (``Trainer(snapshot_every=k)``), with whatever schedule the run used, which gives
less diverse members ("horizontal voting") and usually a smaller gain than independent runs.
"""
from __future__ import annotations

import glob
import os
import re
import tempfile

import numpy as np


def softmax(scores) -> np.ndarray:
    """Row-wise softmax of ``scores`` (N, C) in float64, stable for any logit size."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"softmax: expected scores of shape (N, C), got shape {s.shape}")
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Ensemble:
    """An equally weighted ensemble of classifiers that averages their softmax probabilities.

    models: deepbasic modules mapping a batch (N, ...) to class scores (N, C) (logits), all with
    the same C. names: a label per member (default ``member_1``, ``member_2``, ...).

    ``predict_proba(x)`` is the mean of the members' softmax probabilities (see the module
    docstring for why probabilities and not logits), ``predict(x)`` its argmax and
    ``score(x, y)`` the accuracy, like scikit-learn's classifiers. The members are evaluated in
    evaluation mode (dropout off, batch norm with running statistics).
    """

    def __init__(self, models, names=None):
        self.models = list(models)
        if not self.models:
            raise ValueError("Ensemble: expected at least one model, got none")
        if names is None:
            names = [f"member_{i + 1}" for i in range(len(self.models))]
        self.names = [str(n) for n in names]
        if len(self.names) != len(self.models):
            raise ValueError(f"Ensemble: expected one name per model ({len(self.models)}), "
                             f"got {len(self.names)}")

    @classmethod
    def from_checkpoints(cls, paths, names=None) -> "Ensemble":
        """Rebuild each member from a checkpoint of :func:`~deepbasic.train.recipes.train_classifier`
        (its saved configuration says how to build the model); names default to the paths."""
        from deepbasic.train.recipes import load_model

        paths = [os.fspath(p) for p in paths]
        models = [load_model(p)[0] for p in paths]
        return cls(models, names=paths if names is None else names)

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return f"Ensemble({len(self)} members: {', '.join(self.names)})"

    def member_scores(self, x, batch_size: int = 1024) -> np.ndarray:
        """Every member's raw scores (logits): (M, N, C) float64."""
        from deepbasic.train.loop import predict

        x = np.asarray(x)
        out = []
        for name, model in zip(self.names, self.models):
            s = np.asarray(predict(model, x, batch_size), dtype=np.float64)
            if s.ndim != 2 or len(s) != len(x):
                raise ValueError(f"Ensemble: member {name} gave scores of shape {s.shape} for "
                                 f"{len(x)} examples; expected (N, C)")
            if out and s.shape[1] != out[0].shape[1]:
                raise ValueError(f"Ensemble: member {name} scores {s.shape[1]} classes, but "
                                 f"{self.names[0]} scores {out[0].shape[1]}")
            out.append(s)
        return np.stack(out)

    def member_proba(self, x, batch_size: int = 1024) -> np.ndarray:
        """Every member's softmax probabilities: (M, N, C) float64."""
        return np.stack([softmax(s) for s in self.member_scores(x, batch_size)])

    def predict_proba(self, x, batch_size: int = 1024) -> np.ndarray:
        """The mean of the members' class probabilities: (N, C), rows sum to 1."""
        return self.member_proba(x, batch_size).mean(axis=0)

    def predict(self, x, batch_size: int = 1024) -> np.ndarray:
        """The class with the highest averaged probability: (N,) int64."""
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def score(self, x, y, batch_size: int = 1024) -> float:
        """Accuracy of :meth:`predict` on ``(x, y)``."""
        y = _labels(y, len(x))
        return float((self.predict(x, batch_size) == y).mean())


def _labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"expected labels of shape ({n},), one per example, got shape {y.shape}")
    return y


def ensemble_report(ensemble: Ensemble, x, y, batch_size: int = 1024) -> dict:
    """Each member's accuracy on ``(x, y)``, the best single one, the ensemble's and the gain.

    Returns a JSON-able dict: ``members`` ([{name, accuracy, nll}]), ``best_single`` (the
    highest member accuracy), ``best_member`` (its name), ``mean_single``, ``ensemble`` (accuracy
    of the averaged probabilities), ``gain`` (``ensemble - best_single``), ``logit_average``
    (accuracy of averaging logits instead, for comparison), ``ensemble_nll`` and
    ``mean_single_nll`` (the mean negative log-likelihood of the true class, which averaging
    usually improves even when accuracy barely moves) and ``examples``. The members are run once.
    """
    y = _labels(y, len(x))
    scores = ensemble.member_scores(x, batch_size)
    probs = np.stack([softmax(s) for s in scores])
    member_acc = [float((p.argmax(axis=1) == y).mean()) for p in probs]
    member_nll = [_nll(p, y) for p in probs]
    best = int(np.argmax(member_acc))
    ens = float((probs.mean(axis=0).argmax(axis=1) == y).mean())
    return {
        "members": [{"name": n, "accuracy": a, "nll": l}
                    for n, a, l in zip(ensemble.names, member_acc, member_nll)],
        "best_single": member_acc[best],
        "best_member": ensemble.names[best],
        "mean_single": float(np.mean(member_acc)),
        "ensemble": ens,
        "gain": ens - member_acc[best],
        "logit_average": float((scores.mean(axis=0).argmax(axis=1) == y).mean()),
        "ensemble_nll": _nll(probs.mean(axis=0), y),
        "mean_single_nll": float(np.mean(member_nll)),
        "examples": int(len(y)),
    }


def _nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-probability of the true class (probabilities clipped at 1e-12)."""
    return float(-np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12)).mean()) if len(y) else 0.0


def format_ensemble_report(report: dict, title: str = "ensemble") -> str:
    """The report as a text table: one line per member, then best single, mean, ensemble, gain."""
    width = max([len(m["name"]) for m in report["members"]] + [len("best single"), len(title)])
    lines = [f"{'':{width}}  accuracy       NLL"]
    lines += [f"{m['name']:{width}}  {m['accuracy']:.4f}    {m['nll']:.4f}" for m in report["members"]]
    lines += [
        f"{'best single':{width}}  {report['best_single']:.4f}            ({report['best_member']})",
        f"{'mean single':{width}}  {report['mean_single']:.4f}    {report['mean_single_nll']:.4f}",
        f"{title:{width}}  {report['ensemble']:.4f}    {report['ensemble_nll']:.4f}  (mean of "
        f"probabilities; mean of logits: accuracy {report['logit_average']:.4f})",
        f"{'gain':{width}}  {report['gain']:+.4f}  (ensemble - best single, "
        f"{report['examples']} examples)",
    ]
    return "\n".join(lines)


def plot_ensemble_report(report: dict, path: str, title: str = "members vs ensemble") -> str:
    """Bar plot of each member's accuracy and the ensemble's, the best single one marked. PNG."""
    from deepbasic.train.plots import _pyplot, _save

    plt = _pyplot()
    names = [m["name"] for m in report["members"]] + ["ensemble"]
    acc = [m["accuracy"] for m in report["members"]] + [report["ensemble"]]
    colors = ["C0"] * len(report["members"]) + ["C1"]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.75 * len(names) + 1.5), 3.6))
    bars = ax.bar(range(len(names)), acc, color=colors)
    for b, a in zip(bars, acc):
        ax.text(b.get_x() + b.get_width() / 2, a, f"{a:.4f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(report["best_single"], color="gray", ls="--", lw=0.8,
               label=f"best single {report['best_single']:.4f}")
    lo, hi = min(acc), max(acc)
    pad = max(hi - lo, 0.005)
    ax.set_ylim(max(0.0, lo - 1.5 * pad), min(1.0, hi + 1.0 * pad))
    ax.set_xticks(range(len(names)), labels=names, rotation=30, ha="right")
    ax.set(ylabel="test accuracy", title=f"{title} (gain {report['gain']:+.4f})")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


# ----- training members ------------------------------------------------------------------------
CHECKPOINTS = ("last", "best")


def _check_checkpoint(checkpoint: str) -> str:
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
    return checkpoint


def train_ensemble(n: int, dataset: str = "digits", *, out_dir: str | None = None, seed: int = 0,
                   checkpoint: str = "last", progress: bool = False, verbose: bool = False,
                   **train_kwargs):
    """Train ``n`` MLPs that differ only in their seed, then load them back as an :class:`Ensemble`.

    Member i (1-based) is a complete :func:`~deepbasic.train.recipes.train_classifier` run with
    seed ``seed + i - 1`` (its initialization and batch order; the data split is the same for
    all) into ``out_dir/member_<i>``; every other argument (``epochs``, ``lr``, ``batch_size``,
    ``weight_decay``, ``model_kwargs``, ``schedule``, ``snapshot_every``, ``data_root``, ...) goes
    to ``train_classifier`` unchanged. checkpoint: which checkpoint of each run becomes the member,
    ``"last"`` (the final weights, those ``train_classifier`` tests) or ``"best"`` (the best
    validation accuracy). out_dir None: the runs go to a temporary directory, deleted afterwards.

    Returns ``(ensemble, results)``: the ensemble (members named ``member_<i>``) and each run's
    ``train_classifier`` result dict (with its ``run_dir``, None without ``out_dir``).
    """
    from deepbasic.train.recipes import train_classifier

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"train_ensemble: n must be a positive integer, got {n!r}")
    _check_checkpoint(checkpoint)
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="deepbasic-ensemble-") as tmp:
            ens, results = train_ensemble(n, dataset, out_dir=tmp, seed=seed, checkpoint=checkpoint,
                                          progress=progress, verbose=verbose, **train_kwargs)
        for r in results:
            r["run_dir"] = None
        return ens, results
    results, paths, names = [], [], []
    for i in range(1, int(n) + 1):
        run_dir = os.path.join(os.fspath(out_dir), f"member_{i}")
        if verbose:
            print(f"member {i}/{n}: seed {seed + i - 1} -> {run_dir}")
        r = train_classifier("mlp", dataset, seed=seed + i - 1, out_dir=run_dir, progress=progress,
                             verbose=verbose, **train_kwargs)
        r["run_dir"] = run_dir
        results.append(r)
        paths.append(os.path.join(run_dir, f"{checkpoint}.safetensors"))
        names.append(f"member_{i}")
    return Ensemble.from_checkpoints(paths, names=names), results


_SNAPSHOT = re.compile(r"^epoch_(\d+)\.safetensors$")


def snapshot_paths(run_dir: str) -> list:
    """The snapshot checkpoints ``epoch_<NNN>.safetensors`` of a run directory, by epoch."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(os.fspath(run_dir)), "epoch_*.safetensors")):
        m = _SNAPSHOT.match(os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found)]


def load_snapshots(run_dir: str, last: int | None = None) -> Ensemble:
    """A snapshot ensemble: the run's ``epoch_<NNN>.safetensors`` checkpoints (the ``last`` ones
    only, if given), members named ``epoch_<N>``. The run must have been trained with
    ``snapshot_every`` (see :class:`~deepbasic.train.trainer.Trainer`)."""
    paths = snapshot_paths(run_dir)
    if not paths:
        raise FileNotFoundError(f"{run_dir}: no epoch_<N>.safetensors snapshots (train with "
                                f"snapshot_every=k to keep them)")
    if last is not None:
        if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 1:
            raise ValueError(f"load_snapshots: last must be a positive integer, got {last!r}")
        paths = paths[-int(last):]
    names = [f"epoch_{int(_SNAPSHOT.match(os.path.basename(p)).group(1))}" for p in paths]
    return Ensemble.from_checkpoints(paths, names=names)


def snapshot_ensemble(dataset: str = "digits", *, members: int = 5, epochs: int = 15,
                      snapshot_every: int | None = None, out_dir: str | None = None,
                      seed: int = 0, progress: bool = False, verbose: bool = False,
                      **train_kwargs):
    """Train one run that keeps a snapshot every ``snapshot_every`` epochs (default
    ``max(1, epochs // members)``) and ensemble its last ``members`` snapshots.

    Other arguments go to :func:`~deepbasic.train.recipes.train_classifier`. out_dir None: a
    temporary directory. Returns ``(ensemble, result)`` (``result`` is the run's result dict).
    """
    from deepbasic.train.recipes import train_classifier

    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or members < 1:
        raise ValueError(f"snapshot_ensemble: members must be a positive integer, got {members!r}")
    every = max(1, epochs // members) if snapshot_every is None else snapshot_every
    if epochs // every < 1:
        raise ValueError(f"snapshot_ensemble: {epochs} epochs keep no snapshot every {every} "
                         f"epochs; expected snapshot_every <= epochs")
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="deepbasic-snapshots-") as tmp:
            ens, result = snapshot_ensemble(dataset, members=members, epochs=epochs,
                                            snapshot_every=every, out_dir=tmp, seed=seed,
                                            progress=progress, verbose=verbose, **train_kwargs)
        result["run_dir"] = None
        return ens, result
    from deepbasic.train.trainer import Trainer

    result = train_classifier("mlp", dataset, epochs=epochs, seed=seed, out_dir=out_dir,
                              snapshot_every=every, progress=progress, verbose=verbose,
                              **train_kwargs)
    result["run_dir"] = os.fspath(out_dir)
    # the snapshots this run wrote (not stale ones an earlier run left in out_dir)
    kept = list(range(every, result["epochs"] + 1, every))[-members:]
    if not kept:
        raise ValueError(f"snapshot_ensemble: the run stopped after {result['epochs']} epochs, "
                         f"before its first snapshot (epoch {every})")
    paths = [os.path.join(os.fspath(out_dir), Trainer.snapshot_name(e)) for e in kept]
    return Ensemble.from_checkpoints(paths, names=[f"epoch_{e}" for e in kept]), result
