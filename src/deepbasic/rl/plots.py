"""Learning curves of RL runs, saved as PNG (matplotlib's Agg backend)."""
from __future__ import annotations

import numpy as np

from deepbasic.rl.qlearning import moving_average


def plot_returns(curves: dict, path: str, window: int = 100, title: str = "returns per episode",
                 hlines: dict | None = None, ylabel: str = "return") -> str:
    """Each ``{label: returns per episode}`` as faint raw points and its ``window``-episode
    moving average; ``hlines``: ``{label: value}`` reference levels (dashed)."""
    from deepbasic.train.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, (label, returns) in enumerate(curves.items()):
        r = np.asarray(returns, dtype=np.float64)
        ep = np.arange(1, r.size + 1)
        ax.plot(ep, r, color=f"C{i}", alpha=0.2, linewidth=0.6)
        ax.plot(ep, moving_average(r, window), color=f"C{i}",
                label=f"{label} ({window}-episode mean)")
    for j, (label, value) in enumerate((hlines or {}).items()):
        ax.axhline(value, color=f"C{j + len(curves)}", linestyle="--", label=label)
    ax.set(xlabel="episode", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_convergence(history, path: str, title: str = "value iteration") -> str:
    """The largest change of V per sweep, log scale."""
    from deepbasic.train.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    h = np.maximum(np.asarray(history, dtype=np.float64), 1e-300)
    ax.semilogy(np.arange(1, h.size + 1), h)
    ax.set(xlabel="sweep", ylabel="max |V_new - V|", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
