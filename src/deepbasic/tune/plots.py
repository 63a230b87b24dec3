"""Figures of hyperparameter searches, saved as PNG with matplotlib's file-only (Agg) backend.

``plot_search`` draws one panel per search: every trial at its (x, y) hyperparameters (log axes
for log dimensions), coloured by its score on one colour scale shared by all panels (spanning the
better three quarters of the scores; worse ones get the end colour); the best trial is ringed
and labelled, failed trials are grey crosses. A last panel puts the score against
``x`` alone for all searches together: with equal budgets a 4 x 4 grid tries 4 values of ``x``,
random search 16 (Bergstra & Bengio, 2012).
"""
from __future__ import annotations

import numbers

import numpy as np

MARKERS = {"random": "o", "grid": "s", "coarse-to-fine": "^"}


def _axis_is_log(result, name) -> bool:
    d = result.space.get(name, {})
    return bool(d.get("log")) or d.get("type") == "LogUniform"


def _limits(result, name, log: bool):
    """The searched range of ``name``, padded by 5% (of its log-width on a log axis)."""
    d = result.space[name]
    if "low" not in d:
        return None, None
    lo, hi = float(d["low"]), float(d["high"])
    if log:
        pad = (np.log10(hi) - np.log10(lo)) * 0.05
        return lo / 10 ** pad, hi * 10 ** pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _color_range(scores, mode: str):
    """(vmin, vmax, extend): the colour scale spans the better three quarters of the scores, so
    that a few diverged runs do not squash the good ones into one colour."""
    if not scores:
        return 0.0, 1.0, "neither"
    lo, hi = min(scores), max(scores)
    if len(scores) >= 4:
        if mode == "max":
            lo = max(lo, float(np.percentile(scores, 25)))
        else:
            hi = min(hi, float(np.percentile(scores, 75)))
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    below, above = min(scores) < lo, max(scores) > hi
    return lo, hi, "both" if below and above else "min" if below else "max" if above else "neither"


def _values(trials, name):
    out = []
    for t in trials:
        v = t.config.get(name)
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ValueError(f"plot_search: {name!r} must be a numeric hyperparameter of every "
                             f"trial, trial {t.index} has {name}={v!r}")
        out.append(float(v))
    return np.array(out)


def _as_dict(results) -> dict:
    if hasattr(results, "trials"):
        return {results.method: results}
    if isinstance(results, dict):
        return dict(results)
    out = {}
    for r in results:
        label, k = r.method, 2
        while label in out:
            label, k = f"{r.method} ({k})", k + 1
        out[label] = r
    return out


def plot_search(results, path: str, x: str = "lr", y: str = "weight_decay",
                title: str | None = None, projection: bool = True) -> str:
    """Scatter of each search's trials over hyperparameters ``x`` and ``y`` coloured by score.

    results: a :class:`~deepbasic.tune.search.SearchResult`, a list of them, or
    ``{label: result}``. projection: add a panel of score against ``x`` for all searches.
    Returns ``path``.
    """
    from deepbasic.train.plots import _pyplot, _save

    results = _as_dict(results)
    if not results:
        raise ValueError("plot_search: expected at least one search result, got none")
    for label, r in results.items():
        for name in (x, y):
            if name not in r.space:
                raise ValueError(f"plot_search: {label} searched {', '.join(r.space)}; "
                                 f"it has no hyperparameter {name!r}")
    plt = _pyplot()
    first = next(iter(results.values()))
    scores = [t.score for r in results.values() for t in r.completed]
    vmin, vmax, extend = _color_range(scores, first.mode)
    cmap = "viridis" if first.mode == "max" else "viridis_r"
    n = len(results) + (1 if projection else 0)
    fig, axes = plt.subplots(1, n, figsize=(4.3 * n + 0.8, 3.9), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    xlog, ylog = _axis_is_log(first, x), _axis_is_log(first, y)
    mappable = None
    for ax, (label, r) in zip(axes, results.items()):
        marker = MARKERS.get(r.method, "D")
        done, failed = r.completed, r.failed
        if done:
            mappable = ax.scatter(_values(done, x), _values(done, y), c=[t.score for t in done],
                                  cmap=cmap, vmin=vmin, vmax=vmax, marker=marker, s=46,
                                  edgecolors="black", linewidths=0.4, zorder=3)
        if failed:
            ax.scatter(_values(failed, x), _values(failed, y), marker="x", color="0.55", s=40,
                       label=f"failed ({len(failed)})", zorder=2)
            ax.legend(loc="best", fontsize=7)
        best = r.best
        if best is not None:
            bx, by = float(best.config[x]), float(best.config[y])
            ax.scatter([bx], [by], s=260, facecolors="none", edgecolors="red", linewidths=1.8,
                       zorder=4)
            ax.annotate(f"best {best.score:.4f}", (bx, by), textcoords="offset points",
                        xytext=(8, 8), fontsize=8, color="red")
        distinct = len({float(t.config[x]) for t in r.trials})
        ax.set_title(f"{label}: {len(r.trials)} trials, {distinct} values of {x}", fontsize=9)
        ax.set(xlabel=x, ylabel=y)
        if xlog:
            ax.set_xscale("log")
        if ylog:
            ax.set_yscale("log")
        ax.set_xlim(*_limits(first, x, xlog))
        ax.set_ylim(*_limits(first, y, ylog))
        ax.grid(alpha=0.3)
    if projection:
        ax = axes[-1]
        # scores far from the good ones (diverged runs) are drawn at the panel's edge as
        # triangles, so that the differences between the good trials stay visible
        span = vmax - vmin
        edge = vmin - 0.25 * span if first.mode == "max" else vmax + 0.25 * span
        clipped_any = False
        for k, (label, r) in enumerate(results.items()):
            done = r.completed
            if not done:
                continue
            xs, ys = _values(done, x), np.array([t.score for t in done])
            out = ys < edge if first.mode == "max" else ys > edge
            clipped_any |= bool(out.any())
            ax.scatter(xs[~out], ys[~out], color=f"C{k}", marker=MARKERS.get(r.method, "D"),
                       s=34, alpha=0.8, label=label, edgecolors="black", linewidths=0.3)
            if out.any():
                ax.scatter(xs[out], np.full(out.sum(), edge), color=f"C{k}", alpha=0.8, s=34,
                           marker="v" if first.mode == "max" else "^", clip_on=False)
            if r.best is not None:
                ax.axhline(r.best.score, color=f"C{k}", lw=1, ls="--", alpha=0.7)
        if xlog:
            ax.set_xscale("log")
        ax.set_xlim(*_limits(first, x, xlog))
        if extend != "neither":
            pad = 0.05 * span
            ax.set_ylim(*((edge - pad, vmax + pad) if first.mode == "max" else (vmin - pad, edge + pad)))
        where = "below" if first.mode == "max" else "above"
        note = f"\n(triangles: {where} {edge:.3g})" if clipped_any else ""
        ax.set(xlabel=x, ylabel="score", title=f"score against {x} alone{note}")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=list(axes[:len(results)]), fraction=0.04, pad=0.01,
                           aspect=30, extend=extend)
        bar.set_label("score (validation accuracy)")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
