"""Finite Markov decision processes with a known model, and planning on them.

An :class:`MDP` holds ``P: (S, A, S)`` transition probabilities ``P[s, a, s']``, the expected
rewards ``R: (S, A)`` (``R[s, a] = sum_s' P[s, a, s'] R[s, a, s']`` when rewards are given per
transition), the discount ``gamma`` and a boolean mask of terminal states. A terminal state is
absorbing and worth nothing: its outgoing transitions and rewards are ignored, so ``V[s] = 0``
there for every policy.

A policy is either a deterministic action per state, ``(S,)`` ints, or a stochastic matrix
``pi: (S, A)`` with rows summing to one. With ``P_pi[s, s'] = sum_a pi[s, a] P[s, a, s']`` and
``R_pi[s] = sum_a pi[s, a] R[s, a]``:

- Bellman expectation equation: ``V = R_pi + gamma P_pi V``; iterated (policy evaluation) or
  solved exactly as the linear system ``(I - gamma P_pi) V = R_pi``.
- ``Q[s, a] = R[s, a] + gamma sum_s' P[s, a, s'] V[s']``.
- Bellman optimality: ``V*(s) = max_a R[s, a] + gamma sum_s' P[s, a, s'] V*(s')``; value
  iteration iterates it, policy iteration alternates exact evaluation and greedy improvement.

Everything is vectorised over states and actions (``tensordot`` / ``einsum(optimize=True)``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# FrozenLake's action order (gymnasium): 0 left, 1 down, 2 right, 3 up.
ACTIONS = ("left", "down", "right", "up")
_MOVES = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]])
ARROWS = "<v>^"


@dataclass
class MDP:
    """A finite MDP. ``P: (S, A, S)``, ``R: (S, A)`` or ``(S, A, S)``, ``gamma`` in [0, 1],
    ``terminal: (S,)`` bool, ``start: (S,)`` initial-state distribution (uniform over the
    non-terminal states when None), ``shape``: (rows, cols) for grid worlds, ``name`` for
    messages, ``info``: how to rebuild it (JSON-able, stored in checkpoints)."""

    P: np.ndarray
    R: np.ndarray
    gamma: float = 0.99
    terminal: np.ndarray | None = None
    start: np.ndarray | None = None
    shape: tuple | None = None
    name: str = "mdp"
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        P = np.asarray(self.P, dtype=np.float64)
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"MDP: P must have shape (S, A, S), got {P.shape}")
        S, A, _ = P.shape
        if np.any(P < -1e-12) or not np.allclose(P.sum(axis=2), 1.0, atol=1e-9):
            raise ValueError("MDP: every P[s, a, :] must be a probability distribution")
        R = np.asarray(self.R, dtype=np.float64)
        self.R_sas = None  # per-transition rewards when given (used by simulate)
        if R.shape == (S, A, S):
            self.R_sas = R
            R = np.einsum("sat,sat->sa", P, R, optimize=True)
        elif R.shape != (S, A):
            raise ValueError(f"MDP: R must have shape {(S, A)} or {(S, A, S)}, got {R.shape}")
        if not 0.0 <= float(self.gamma) <= 1.0:
            raise ValueError(f"MDP: gamma must be in [0, 1], got {self.gamma}")
        term = np.zeros(S, bool) if self.terminal is None else np.asarray(self.terminal, bool)
        if term.shape != (S,):
            raise ValueError(f"MDP: terminal must have shape ({S},), got {term.shape}")
        if self.start is None:
            start = (~term).astype(np.float64)
            start = start / start.sum() if start.sum() > 0 else np.full(S, 1.0 / S)
        else:
            start = np.asarray(self.start, dtype=np.float64)
            if start.shape != (S,) or not np.isclose(start.sum(), 1.0):
                raise ValueError(f"MDP: start must be a distribution over {S} states")
        self.P, self.R, self.gamma, self.terminal, self.start = P, R, float(self.gamma), term, start
        # The model used for planning: terminal states absorb with no reward.
        self._P = np.where(term[:, None, None], 0.0, P)
        self._R = np.where(term[:, None], 0.0, R)

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    def with_gamma(self, gamma: float) -> "MDP":
        """The same MDP with another discount."""
        R = self.R if self.R_sas is None else self.R_sas
        return MDP(self.P, R, gamma, self.terminal, self.start, self.shape, self.name,
                   dict(self.info))

    # ----- policies ----------------------------------------------------------------------------
    def policy_matrix(self, policy) -> np.ndarray:
        """``pi: (S, A)`` from a deterministic ``(S,)`` action array or a stochastic matrix."""
        pol = np.asarray(policy)
        S, A = self.n_states, self.n_actions
        if pol.shape == (S,):
            if not np.issubdtype(pol.dtype, np.integer) or pol.min() < 0 or pol.max() >= A:
                raise ValueError(f"policy: expected actions in [0, {A}) per state")
            pi = np.zeros((S, A))
            pi[np.arange(S), pol] = 1.0
            return pi
        if pol.shape != (S, A):
            raise ValueError(f"policy: expected shape ({S},) or ({S}, {A}), got {pol.shape}")
        pi = pol.astype(np.float64)
        if np.any(pi < -1e-12) or not np.allclose(pi.sum(axis=1), 1.0, atol=1e-9):
            raise ValueError("policy: each row of pi must be a probability distribution")
        return pi

    def uniform_policy(self) -> np.ndarray:
        return np.full((self.n_states, self.n_actions), 1.0 / self.n_actions)

    def policy_model(self, policy):
        """``(P_pi: (S, S), R_pi: (S,))`` of a policy (terminal rows are zero)."""
        pi = self.policy_matrix(policy)
        P_pi = np.einsum("sa,sat->st", pi, self._P, optimize=True)
        R_pi = (pi * self._R).sum(axis=1)
        return P_pi, R_pi

    # ----- simulation --------------------------------------------------------------------------
    def simulate(self, policy, episodes: int, seed: int = 0, max_steps: int = 1000):
        """Sample episodes from the model under ``policy``; returns ``(returns, successes)``:
        undiscounted return per episode ``(episodes,)`` and whether each ended in a terminal
        state whose last reward was positive (the goal). Episodes run in parallel (vectorised
        over episodes, one loop over time steps)."""
        rng = np.random.default_rng(seed)
        pi = self.policy_matrix(policy)
        S = self.n_states
        s = rng.choice(S, size=episodes, p=self.start)
        returns = np.zeros(episodes)
        success = np.zeros(episodes, bool)
        alive = ~self.terminal[s]
        cum_pi = np.cumsum(pi, axis=1)
        cum_P = np.cumsum(self.P, axis=2)
        for _ in range(max_steps):
            if not alive.any():
                break
            idx = np.flatnonzero(alive)
            a = (rng.random(idx.size)[:, None] > cum_pi[s[idx]]).sum(axis=1)
            a = np.minimum(a, self.n_actions - 1)
            nxt = (rng.random(idx.size)[:, None] > cum_P[s[idx], a]).sum(axis=1)
            nxt = np.minimum(nxt, S - 1)
            r = self.R[s[idx], a] if self.R_sas is None else self.R_sas[s[idx], a, nxt]
            returns[idx] += r
            s[idx] = nxt
            done = self.terminal[nxt]
            success[idx[done]] = r[done] > 0
            alive[idx[done]] = False
        return returns, success


# ----- constructors --------------------------------------------------------------------------------
def from_frozenlake(env, gamma: float = 0.99) -> MDP:
    """The MDP of a gymnasium FrozenLake (or any toy-text env with the public transition table
    ``env.unwrapped.P[s][a] = [(prob, next_state, reward, terminated), ...]``). Terminal states
    are the states entered with ``terminated=True`` (holes and the goal); the start distribution
    is FrozenLake's ``initial_state_distrib`` when present."""
    u = getattr(env, "unwrapped", env)
    table = u.P
    S = len(table)
    A = len(table[0])
    P = np.zeros((S, A, S))
    Rsas = np.zeros((S, A, S))
    terminal = np.zeros(S, bool)
    for s in range(S):
        for a in range(A):
            for prob, nxt, reward, term in table[s][a]:
                P[s, a, nxt] += prob
                Rsas[s, a, nxt] = reward  # the reward of entering ``nxt`` (same for every entry)
                if term:
                    terminal[nxt] = True
    start = getattr(u, "initial_state_distrib", None)
    shape = None
    desc = getattr(u, "desc", None)
    if desc is not None:
        shape = tuple(int(n) for n in np.asarray(desc).shape)
    info = {"env": "frozenlake"}
    if desc is not None:
        info["map"] = ["".join(c.decode() if isinstance(c, bytes) else str(c) for c in row)
                       for row in np.asarray(desc)]
    return MDP(P, Rsas, gamma, terminal, None if start is None else np.asarray(start, float),
               shape, "FrozenLake", info)


def gridworld(rows: int = 4, cols: int = 4, terminals=((0, 0), (-1, -1)), step_reward=-1.0,
              terminal_rewards: dict | None = None, walls=(), slip: float = 0.0,
              gamma: float = 1.0, start=None) -> MDP:
    """A grid world: states are cells (row-major), actions left/down/right/up (FrozenLake's
    order). A move into the border or a wall leaves the agent in place. With probability
    ``1 - slip`` the intended move happens, otherwise one of the two perpendicular moves (each
    ``slip / 2``). Every step earns ``step_reward``; entering cell ``c`` earns
    ``terminal_rewards[c]`` in addition. The default is Sutton & Barto's example 4.1: 4x4,
    terminal corners, reward -1 per step, undiscounted (the random policy's values are
    0, -14, -20, -22 / -14, -18, -20, -20 / ...)."""
    if rows < 1 or cols < 1:
        raise ValueError(f"gridworld: expected a positive size, got {rows}x{cols}")
    if not 0.0 <= slip <= 1.0:
        raise ValueError(f"gridworld: slip must be in [0, 1], got {slip}")

    def cell(rc):
        r, c = int(rc[0]) % rows, int(rc[1]) % cols
        return r, c

    walls = {cell(w) for w in walls}
    term_cells = [cell(t) for t in terminals]
    S, A = rows * cols, 4
    P = np.zeros((S, A, S))
    r_idx, c_idx = np.divmod(np.arange(S), cols)
    for move in range(4):
        dr, dc = _MOVES[move]
        nr, nc = r_idx + dr, c_idx + dc
        inside = (nr >= 0) & (nr < rows) & (nc >= 0) & (nc < cols)
        nr, nc = np.where(inside, nr, r_idx), np.where(inside, nc, c_idx)
        blocked = np.array([(int(a), int(b)) in walls for a, b in zip(nr, nc)], bool)
        dest = np.where(blocked, np.arange(S), nr * cols + nc)
        for a in range(4):
            if a == move:
                prob = 1.0 - slip
            elif (a - move) % 2 == 1:  # perpendicular
                prob = slip / 2
            else:
                continue
            np.add.at(P, (np.arange(S), a, dest), prob)
    enter = np.full(S, float(step_reward))
    for c, rew in (terminal_rewards or {}).items():
        enter[cell(c)[0] * cols + cell(c)[1]] += float(rew)
    Rsas = np.broadcast_to(enter, (S, A, S)).copy()
    terminal = np.zeros(S, bool)
    for r, c in term_cells:
        terminal[r * cols + c] = True
    st = None
    if start is not None:
        st = np.zeros(S)
        st[cell(start)[0] * cols + cell(start)[1]] = 1.0
    else:
        free = ~terminal
        for w in walls:
            free[w[0] * cols + w[1]] = False
        st = free / free.sum() if free.any() else None
    info = {"env": "gridworld", "rows": rows, "cols": cols,
            "terminals": [list(t) for t in term_cells], "step_reward": float(step_reward),
            "terminal_rewards": [[list(cell(c)), float(v)] for c, v in (terminal_rewards or {}).items()],
            "walls": [list(w) for w in sorted(walls)], "slip": float(slip)}
    return MDP(P, Rsas, gamma, terminal, st, (rows, cols), "gridworld", info)


# ----- evaluation ----------------------------------------------------------------------------------
def policy_evaluation(mdp: MDP, policy, tol: float = 1e-12, max_iter: int = 100_000,
                      return_iterations: bool = False):
    """``V^pi: (S,)`` by iterating the Bellman expectation backup ``V <- R_pi + gamma P_pi V``
    from ``V = 0`` until the largest change is below ``tol``. Raises if it has not converged
    after ``max_iter`` sweeps (e.g. ``gamma = 1`` and a policy that never terminates)."""
    P_pi, R_pi = mdp.policy_model(policy)
    V = np.zeros(mdp.n_states)
    for it in range(1, max_iter + 1):
        V_new = R_pi + mdp.gamma * (P_pi @ V)
        delta = np.max(np.abs(V_new - V))
        V = V_new
        if delta < tol:
            return (V, it) if return_iterations else V
    raise ValueError(f"policy_evaluation: no convergence after {max_iter} sweeps "
                     f"(last change {delta:.3g}); does the policy terminate when gamma = 1?")


def policy_evaluation_exact(mdp: MDP, policy) -> np.ndarray:
    """``V^pi: (S,)`` solving ``(I - gamma P_pi) V = R_pi`` (one LU solve)."""
    P_pi, R_pi = mdp.policy_model(policy)
    M = np.eye(mdp.n_states) - mdp.gamma * P_pi
    try:
        return np.linalg.solve(M, R_pi)
    except np.linalg.LinAlgError:
        raise ValueError("policy_evaluation_exact: I - gamma P_pi is singular (gamma = 1 and "
                         "a policy that can loop forever)") from None


def q_from_v(mdp: MDP, V) -> np.ndarray:
    """``Q: (S, A)``, ``Q[s, a] = R[s, a] + gamma sum_s' P[s, a, s'] V[s']`` (0 at terminals)."""
    return mdp._R + mdp.gamma * np.tensordot(mdp._P, np.asarray(V, np.float64), axes=([2], [0]))


def q_evaluation(mdp: MDP, policy, exact: bool = True) -> np.ndarray:
    """``Q^pi: (S, A)`` of a policy (through ``V^pi``)."""
    V = policy_evaluation_exact(mdp, policy) if exact else policy_evaluation(mdp, policy)
    return q_from_v(mdp, V)


def greedy_policy(Q, tol: float = 0.0) -> np.ndarray:
    """The greedy deterministic policy ``argmax_a Q[s, a]``, ``(S,)`` ints. With ``tol > 0``,
    actions within ``tol`` of the maximum count as tied and the first of them is taken."""
    Q = np.asarray(Q)
    if tol <= 0:
        return Q.argmax(axis=1)
    return (Q >= Q.max(axis=1, keepdims=True) - tol).argmax(axis=1)


def policy_arrows(mdp: MDP, policy) -> list[str]:
    """A grid MDP's deterministic policy as rows of arrows (terminal cells shown as ``.``)."""
    if mdp.shape is None:
        raise ValueError("policy_arrows: the MDP is not a grid")
    pol = np.asarray(policy)
    chars = np.where(mdp.terminal, ".", np.array(list(ARROWS))[pol])
    return ["".join(row) for row in chars.reshape(mdp.shape)]


@dataclass
class PlanningResult:
    """``V: (S,)``, ``Q: (S, A)``, the greedy ``policy: (S,)``, ``iterations`` and the history of
    the largest change per sweep (value iteration) or the number of changed actions per
    improvement (policy iteration)."""

    V: np.ndarray
    Q: np.ndarray
    policy: np.ndarray
    iterations: int
    history: list


def value_iteration(mdp: MDP, tol: float = 1e-12, max_iter: int = 1_000_000) -> PlanningResult:
    """Iterate ``Q <- R + gamma P V``, ``V <- max_a Q`` from ``V = 0`` until the largest change
    of V is below ``tol`` (for ``gamma < 1`` the error of V is then below
    ``tol * gamma / (1 - gamma)``)."""
    V = np.zeros(mdp.n_states)
    history = []
    for it in range(1, max_iter + 1):
        Q = q_from_v(mdp, V)
        V_new = Q.max(axis=1)
        delta = float(np.max(np.abs(V_new - V)))
        history.append(delta)
        V = V_new
        if delta < tol:
            break
    else:
        raise ValueError(f"value_iteration: no convergence after {max_iter} sweeps "
                         f"(last change {delta:.3g})")
    Q = q_from_v(mdp, V)
    return PlanningResult(V, Q, greedy_policy(Q, tol=1e-10), it, history)


def policy_iteration(mdp: MDP, policy=None, max_iter: int = 10_000) -> PlanningResult:
    """Alternate exact evaluation and greedy improvement until the policy is stable. An action
    changes only when it improves Q by more than 1e-12 (no cycling between tied actions). The
    initial policy (default: action 0 everywhere) must terminate when ``gamma = 1``."""
    pol = np.zeros(mdp.n_states, int) if policy is None else np.asarray(policy, int).copy()
    history = []
    for it in range(1, max_iter + 1):
        V = policy_evaluation_exact(mdp, pol)
        Q = q_from_v(mdp, V)
        best = Q.argmax(axis=1)
        improve = Q[np.arange(mdp.n_states), best] > Q[np.arange(mdp.n_states), pol] + 1e-12
        history.append(int(improve.sum()))
        if not improve.any():
            return PlanningResult(V, Q, pol, it, history)
        pol = np.where(improve, best, pol)
    raise ValueError(f"policy_iteration: policy not stable after {max_iter} improvements")


def success_probability(mdp: MDP, policy, goal=None) -> np.ndarray:
    """Exact probability, per start state ``(S,)``, of eventually entering a ``goal`` state
    (default: terminal states entered with a positive reward) under ``policy``, undiscounted
    and without a step limit. States that cannot reach a goal get 0; on the others the
    absorption probabilities solve ``(I - P_pi) h = P_pi[:, goal] 1`` (non-singular there)."""
    P_pi, _ = mdp.policy_model(policy)
    if goal is None:
        entering = np.einsum("sat,sa->t", mdp._P, mdp._R > 0, optimize=True) > 0
        goal = mdp.terminal & entering
    goal = np.asarray(goal, bool)
    S = mdp.n_states
    # states that can reach a goal state: backward reachability over the policy's graph
    reach = goal.copy()
    adj = P_pi > 0
    while True:
        new = reach | (adj[:, reach].any(axis=1) & ~mdp.terminal)
        if (new == reach).all():
            break
        reach = new
    h = np.zeros(S)
    h[goal] = 1.0
    T = reach & ~goal
    if T.any():
        idx = np.flatnonzero(T)
        A_ = np.eye(idx.size) - P_pi[np.ix_(idx, idx)]
        b = P_pi[np.ix_(idx, np.flatnonzero(goal))].sum(axis=1)
        h[idx] = np.linalg.solve(A_, b)
    return h


def start_value(mdp: MDP, values) -> float:
    """Expected value of ``values: (S,)`` under the start distribution."""
    return float(mdp.start @ np.asarray(values))


def optimal_success_probability(mdp: MDP, gamma: float = 1.0 - 1e-6) -> tuple[float, np.ndarray]:
    """The largest probability of reaching the goal from the start, and a policy achieving it:
    value iteration with ``gamma`` just below 1 (with reward 1 at the goal, ``gamma = 1`` makes
    every action that does not lose the game tie, including moves that loop forever; a
    discount slightly below one breaks those ties towards reaching the goal), then the greedy
    policy's exact success probability (:func:`success_probability`)."""
    policy = value_iteration(mdp.with_gamma(gamma), tol=1e-13).policy
    return start_value(mdp, success_probability(mdp, policy)), policy
