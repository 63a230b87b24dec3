"""Deep Q-networks (Mnih et al. 2015) with deepbasic.nn, for gymnasium environments with a
vector observation and discrete actions (CartPole-v1).

- Q-network: an MLP ``obs (N, D) -> Q (N, A)``.
- Replay memory: the last ``memory_size`` transitions ``(s, a, r, s', done)`` in preallocated
  arrays (a ring buffer); minibatches are drawn uniformly with replacement.
- Target network: a copy of the Q-network, synchronised every ``target_sync`` environment steps;
  the TD target ``y = r + gamma (1 - done) max_a' Q_target(s', a')`` (with ``double``:
  ``Q_target(s', argmax_a' Q(s', a'))``) uses it, so targets stay fixed between syncs.
- Loss: Huber (smooth L1) of ``Q(s, a) - y``, averaged over the batch; Adam; the gradients'
  total norm clipped to ``grad_clip``.
- Epsilon-greedy actions, epsilon decaying linearly from ``eps_start`` to ``eps_end`` over
  ``eps_decay_steps`` environment steps.
- ``replay=False``: the same agent trained on consecutive samples: each update uses the
  ``batch_size`` most recent transitions, in order (no memory, no decorrelation).

``done`` means *terminated* (the pole fell); a time-limit truncation still bootstraps.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

import deepbasic as db
from deepbasic import nn
from deepbasic.optim import Adam
from deepbasic.optim.clip import clip_grad_norm_


class ReplayMemory:
    """A ring buffer of ``capacity`` transitions in preallocated arrays: ``states`` and
    ``next_states: (capacity, D)`` float32, ``actions: (capacity,)`` int64, ``rewards`` and
    ``dones: (capacity,)`` float32. ``sample(n)`` draws ``n`` stored transitions uniformly
    (with replacement) with its own seeded generator; ``recent(n)`` returns the ``n`` newest in
    the order they were pushed."""

    def __init__(self, capacity: int, obs_dim: int, seed: int = 0):
        if capacity < 1 or obs_dim < 1:
            raise ValueError(f"ReplayMemory: expected positive capacity and observation size, "
                             f"got {capacity}, {obs_dim}")
        self.capacity = int(capacity)
        self.states = np.zeros((capacity, obs_dim), np.float32)
        self.next_states = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.dones = np.zeros(capacity, np.float32)
        self.position = 0  # next slot to write
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def push(self, state, action: int, reward: float, next_state, done: bool) -> None:
        i = self.position
        self.states[i] = state
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_states[i] = next_state
        self.dones[i] = float(done)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def _batch(self, idx):
        return (self.states[idx], self.actions[idx], self.rewards[idx], self.next_states[idx],
                self.dones[idx])

    def sample(self, batch_size: int):
        """``(states, actions, rewards, next_states, dones)`` of ``batch_size`` uniform draws."""
        if self.size == 0:
            raise ValueError("ReplayMemory.sample: the memory is empty")
        return self._batch(self.rng.integers(0, self.size, size=batch_size))

    def recent(self, n: int):
        """The ``min(n, len)`` newest transitions, oldest first."""
        n = min(n, self.size)
        return self._batch((self.position - n + np.arange(n)) % self.capacity)


def huber_loss(input, target, delta: float = 1.0):
    """Mean Huber loss: ``0.5 d^2`` for ``|d| <= delta``, ``delta (|d| - 0.5 delta)`` beyond,
    ``d = input - target``; written as ``0.5 m^2 + delta (|d| - m)`` with ``m = min(|d|, delta)``
    (its gradient is ``d`` clipped to ``[-delta, delta]``). ``input``, ``target: (N,)``."""
    d = input - target
    a = d.abs()
    m = a.clamp(max=delta)
    return (0.5 * m * m + delta * (a - m)).mean()


def q_network(obs_dim: int, n_actions: int, hidden=(128, 128)) -> nn.Sequential:
    """An MLP ``(N, obs_dim) -> (N, n_actions)`` with ReLUs between the Linear layers."""
    layers = []
    d = obs_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, n_actions))
    return nn.Sequential(*layers)


@dataclass
class DQNConfig:
    """Hyperparameters (stored in checkpoints)."""

    env_id: str = "CartPole-v1"
    hidden: tuple = (128, 128)
    lr: float = 5e-4
    gamma: float = 0.99
    batch_size: int = 64
    memory_size: int = 50_000
    learning_starts: int = 1000
    train_every: int = 1
    target_sync: int = 500
    eps_start: float = 1.0
    eps_end: float = 0.02
    eps_decay_steps: int = 10_000
    grad_clip: float = 10.0
    huber_delta: float = 1.0
    double: bool = False
    replay: bool = True
    seed: int = 0

    def to_json(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "DQNConfig":
        d = dict(d)
        d["hidden"] = tuple(d.get("hidden", (128, 128)))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


class DQNAgent:
    """Q-network, target network, optimizer and memory. ``act`` picks epsilon-greedy actions;
    ``update`` takes one gradient step on a batch and returns its TD loss before the step."""

    def __init__(self, obs_dim: int, n_actions: int, config: DQNConfig | None = None):
        self.config = config = config or DQNConfig()
        self.obs_dim, self.n_actions = int(obs_dim), int(n_actions)
        db.manual_seed(config.seed)
        self.q = q_network(obs_dim, n_actions, config.hidden)
        self.target = q_network(obs_dim, n_actions, config.hidden)
        self.sync_target()
        self.target.eval()
        self.optimizer = Adam(self.q.parameters(), lr=config.lr)
        capacity = config.memory_size if config.replay else config.batch_size
        self.memory = ReplayMemory(capacity, obs_dim, seed=config.seed)
        self.rng = np.random.default_rng(config.seed + 1)
        self.steps = 0  # environment steps seen by observe()
        self.updates = 0

    def sync_target(self) -> None:
        self.target.load_state_dict(self.q.state_dict())

    def epsilon(self, step: int | None = None) -> float:
        c = self.config
        step = self.steps if step is None else step
        frac = min(1.0, step / max(1, c.eps_decay_steps))
        return c.eps_start + frac * (c.eps_end - c.eps_start)

    def q_values(self, states) -> np.ndarray:
        """``Q: (N, A)`` of ``states: (N, D)`` (no graph)."""
        with db.no_grad():
            return self.q(db.tensor(np.asarray(states, np.float32))).numpy()

    def act(self, state, epsilon: float = 0.0) -> int:
        if epsilon > 0 and self.rng.random() < epsilon:
            return int(self.rng.integers(self.n_actions))
        return int(self.q_values(np.asarray(state, np.float32)[None])[0].argmax())

    def td_targets(self, rewards, next_states, dones) -> np.ndarray:
        c = self.config
        with db.no_grad():
            q_next = self.target(db.tensor(next_states)).numpy()
        if c.double:
            best = self.q_values(next_states).argmax(axis=1)
            nxt = q_next[np.arange(len(best)), best]
        else:
            nxt = q_next.max(axis=1)
        return (rewards + c.gamma * (1.0 - dones) * nxt).astype(np.float32)

    def td_loss(self, batch) -> float:
        """The Huber TD loss of ``batch`` with the current networks (no update)."""
        s, a, r, s2, d = batch
        y = self.td_targets(r, s2, d)
        q = self.q_values(s)[np.arange(len(a)), a]
        dd = np.abs(q - y)
        m = np.minimum(dd, self.config.huber_delta)
        return float(np.mean(0.5 * m * m + self.config.huber_delta * (dd - m)))

    def update(self, batch) -> float:
        """One Adam step on the Huber loss of ``batch = (s, a, r, s', done)``; returns the loss."""
        s, a, r, s2, d = batch
        y = db.tensor(self.td_targets(r, s2, d))
        onehot = np.zeros((len(a), self.n_actions), np.float32)
        onehot[np.arange(len(a)), a] = 1.0
        q_sa = (self.q(db.tensor(s)) * db.tensor(onehot)).sum(dim=1)
        loss = huber_loss(q_sa, y, self.config.huber_delta)
        self.optimizer.zero_grad()
        loss.backward()
        if self.config.grad_clip > 0:
            clip_grad_norm_(self.q.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.updates += 1
        return float(loss.item())

    def observe(self, state, action, reward, next_state, terminated) -> float | None:
        """Store a transition, train when due, sync the target when due; returns the loss of
        the update made at this step, if any."""
        c = self.config
        self.memory.push(state, action, reward, next_state, terminated)
        self.steps += 1
        loss = None
        if self.steps >= c.learning_starts and self.steps % c.train_every == 0 \
                and len(self.memory) >= c.batch_size:
            batch = self.memory.sample(c.batch_size) if c.replay else \
                self.memory.recent(c.batch_size)
            loss = self.update(batch)
        if self.steps % c.target_sync == 0:
            self.sync_target()
        return loss


def _make_env(env_id: str, **kwargs):
    import gymnasium as gym

    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as e:
        raise ValueError(f"gymnasium environment {env_id!r}: {e}") from None


def evaluate(agent: DQNAgent, episodes: int = 100, seed: int = 10_000, env=None,
             epsilon: float = 0.0) -> np.ndarray:
    """Return of each of ``episodes`` greedy episodes (environment seeded with ``seed``)."""
    env = env or _make_env(agent.config.env_id)
    out = np.zeros(episodes)
    rng = np.random.default_rng(seed)
    for ep in range(episodes):
        s, _ = env.reset(seed=int(seed + ep))
        total = 0.0
        while True:
            a = int(rng.integers(agent.n_actions)) if epsilon > 0 and rng.random() < epsilon \
                else agent.act(s)
            s, r, terminated, truncated, _ = env.step(a)
            total += r
            if terminated or truncated:
                break
        out[ep] = total
    return out


@dataclass
class DQNResult:
    """Returns and lengths per training episode, mean loss per episode, the periodic greedy
    evaluations ``[(episode, mean return)]``, the episode whose weights were kept (the best
    evaluation; the final weights when there were none), steps and wall time."""

    agent: DQNAgent
    returns: np.ndarray
    losses: np.ndarray
    evaluations: list = field(default_factory=list)
    best_episode: int = -1
    steps: int = 0
    time_s: float = 0.0


def train_dqn(config: DQNConfig | None = None, episodes: int = 300, eval_every: int = 0,
              eval_episodes: int = 10, stop_return: float | None = None, env=None,
              progress=None) -> DQNResult:
    """Train a DQN agent for ``episodes`` episodes. With ``eval_every > 0``, every
    ``eval_every`` episodes the greedy policy is evaluated on ``eval_episodes`` episodes and the
    best weights are kept (restored at the end); training stops early once an evaluation reaches
    ``stop_return``. ``progress(episode, return, epsilon)`` is called after each episode."""
    config = config or DQNConfig()
    if episodes < 1:
        raise ValueError(f"train_dqn: expected a positive number of episodes, got {episodes}")
    env = env or _make_env(config.env_id)
    shape = getattr(env.observation_space, "shape", None)
    if shape is None or len(shape) != 1 or not hasattr(env.action_space, "n"):
        raise ValueError(f"train_dqn: {config.env_id} needs vector observations and discrete "
                         f"actions, got {env.observation_space} and {env.action_space}")
    agent = DQNAgent(shape[0], int(env.action_space.n), config)
    eval_env = _make_env(config.env_id) if eval_every else None
    returns, losses, evaluations = [], [], []
    best, best_state, best_episode = -np.inf, None, -1
    t0 = time.perf_counter()
    s, _ = env.reset(seed=config.seed)
    for ep in range(episodes):
        if ep > 0:
            s, _ = env.reset()
        total, ep_losses = 0.0, []
        while True:
            a = agent.act(s, agent.epsilon())
            s2, r, terminated, truncated, _ = env.step(a)
            loss = agent.observe(s, a, r, s2, terminated)
            if loss is not None:
                ep_losses.append(loss)
            total += r
            s = s2
            if terminated or truncated:
                break
        returns.append(total)
        losses.append(np.mean(ep_losses) if ep_losses else np.nan)
        if progress is not None:
            progress(ep, total, agent.epsilon())
        if eval_every and (ep + 1) % eval_every == 0:
            score = float(evaluate(agent, eval_episodes, seed=50_000 + ep, env=eval_env).mean())
            evaluations.append((ep + 1, score))
            if score >= best:
                best, best_state, best_episode = score, agent.q.state_dict(), ep + 1
            if stop_return is not None and score >= stop_return:
                break
    if best_state is not None:
        agent.q.load_state_dict(best_state)
        agent.sync_target()
    return DQNResult(agent, np.array(returns), np.array(losses), evaluations, best_episode,
                     agent.steps, time.perf_counter() - t0)


def save_dqn(path, agent: DQNAgent, extra: dict | None = None) -> None:
    """Write the Q-network's weights and the config (safetensors + JSON, atomically)."""
    from deepbasic.train.checkpoint import save_checkpoint

    save_checkpoint(path, agent.q, epoch=agent.steps,
                    extra={"kind": "dqn", "config": agent.config.to_json(),
                           "obs_dim": agent.obs_dim, "n_actions": agent.n_actions,
                           **(extra or {})})


def load_dqn(path) -> tuple[DQNAgent, dict]:
    """The agent saved by :func:`save_dqn` (target = Q-network) and the checkpoint's extra."""
    from deepbasic.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    if ckpt.extra.get("kind") != "dqn":
        raise ValueError(f"{path}: not a DQN checkpoint (kind {ckpt.extra.get('kind')!r})")
    config = DQNConfig.from_json(ckpt.extra["config"])
    agent = DQNAgent(ckpt.extra["obs_dim"], ckpt.extra["n_actions"], config)
    agent.q.load_state_dict(ckpt.model)
    agent.sync_target()
    agent.steps = ckpt.epoch
    return agent, ckpt.extra
