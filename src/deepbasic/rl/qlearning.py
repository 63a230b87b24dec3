"""Tabular Q-learning with epsilon-greedy exploration (gymnasium environments with discrete
observations and actions, e.g. FrozenLake).

After each step ``(s, a, r, s', terminated)``::

    target = r + gamma * max_a' Q[s', a'] * (1 - terminated)
    Q[s, a] += alpha * (target - Q[s, a])

Truncation (a time limit) is not termination: the target still bootstraps from ``s'``.
Actions are epsilon-greedy with ties among maximal actions broken at random (so that an
all-zero table explores), epsilon decaying linearly from ``eps_start`` to ``eps_end`` over the
first ``eps_decay`` fraction of the episodes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


class TabularQ:
    """A Q-table ``q: (S, A)`` with the ``state_dict`` / ``load_state_dict`` that checkpoints use."""

    def __init__(self, n_states: int, n_actions: int):
        self.q = np.zeros((n_states, n_actions))

    def state_dict(self) -> dict:
        return {"q": self.q}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        q = np.asarray(state["q"], dtype=np.float64)
        if q.shape != self.q.shape:
            raise ValueError(f"TabularQ: table of shape {q.shape}, expected {self.q.shape}")
        self.q = q.copy()

    def greedy(self) -> np.ndarray:
        return self.q.argmax(axis=1)


def _argmax_random_ties(row: np.ndarray, rng) -> int:
    best = np.flatnonzero(row == row.max())
    return int(best[0]) if best.size == 1 else int(rng.choice(best))


def epsilon_schedule(episode: int, episodes: int, eps_start: float, eps_end: float,
                     eps_decay: float) -> float:
    """Linear decay from ``eps_start`` to ``eps_end`` over ``eps_decay * episodes`` episodes."""
    span = max(1.0, eps_decay * episodes)
    frac = min(1.0, episode / span)
    return eps_start + frac * (eps_end - eps_start)


@dataclass
class QLearningResult:
    """The learned table, returns per episode ``(episodes,)``, epsilon per episode, wall time."""

    table: TabularQ
    returns: np.ndarray
    epsilons: np.ndarray
    steps: int
    time_s: float
    config: dict = field(default_factory=dict)


def q_learning(env, episodes: int = 20000, alpha: float = 0.1, gamma: float = 0.99,
               eps_start: float = 1.0, eps_end: float = 0.01, eps_decay: float = 0.5,
               alpha_end: float | None = None, seed: int = 0, table: TabularQ | None = None
               ) -> QLearningResult:
    """Train a Q-table on ``env`` (discrete observations and actions) for ``episodes``
    episodes. ``alpha`` decays linearly to ``alpha_end`` over all episodes when given. The
    environment is reset with ``seed`` once (then continues its own random stream); exploration
    uses ``numpy.random.default_rng(seed)``."""
    if episodes < 1:
        raise ValueError(f"q_learning: expected a positive number of episodes, got {episodes}")
    if not 0 < alpha <= 1 or not 0 <= gamma <= 1:
        raise ValueError(f"q_learning: expected alpha in (0, 1] and gamma in [0, 1], got "
                         f"{alpha}, {gamma}")
    nS = int(env.observation_space.n)
    nA = int(env.action_space.n)
    table = table or TabularQ(nS, nA)
    Q = table.q
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    returns = np.zeros(episodes)
    epsilons = np.zeros(episodes)
    steps = 0
    t0 = time.perf_counter()
    s, _ = env.reset(seed=seed)
    for ep in range(episodes):
        if ep > 0:
            s, _ = env.reset()
        eps = epsilon_schedule(ep, episodes, eps_start, eps_end, eps_decay)
        lr = alpha if alpha_end is None else alpha + (alpha_end - alpha) * ep / max(1, episodes - 1)
        epsilons[ep] = eps
        total = 0.0
        while True:
            if rng.random() < eps:
                a = int(rng.integers(nA))
            else:
                a = _argmax_random_ties(Q[s], rng)
            s2, r, terminated, truncated, _ = env.step(a)
            target = r if terminated else r + gamma * Q[s2].max()
            Q[s, a] += lr * (target - Q[s, a])
            total += r
            steps += 1
            s = s2
            if terminated or truncated:
                break
        returns[ep] = total
    config = {"episodes": episodes, "alpha": alpha, "alpha_end": alpha_end, "gamma": gamma,
              "eps_start": eps_start, "eps_end": eps_end, "eps_decay": eps_decay, "seed": seed}
    return QLearningResult(table, returns, epsilons, steps, time.perf_counter() - t0, config)


def rollout_returns(env, policy, episodes: int = 1000, seed: int = 0) -> np.ndarray:
    """Undiscounted return of each of ``episodes`` episodes following the deterministic
    tabular ``policy: (S,)`` (for FrozenLake, return 1 = success)."""
    policy = np.asarray(policy)
    out = np.zeros(episodes)
    s, _ = env.reset(seed=seed)
    for ep in range(episodes):
        if ep > 0:
            s, _ = env.reset()
        total = 0.0
        while True:
            s, r, terminated, truncated, _ = env.step(int(policy[s]))
            total += r
            if terminated or truncated:
                break
        out[ep] = total
    return out


def moving_average(x, window: int = 100) -> np.ndarray:
    """Mean of the last ``window`` values at each position (shorter at the start)."""
    x = np.asarray(x, dtype=np.float64)
    c = np.cumsum(np.concatenate([[0.0], x]))
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)
