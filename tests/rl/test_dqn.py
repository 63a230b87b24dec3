"""DQN pieces on tiny settings: replay memory, Huber loss, updates, target sync, checkpoints."""
import numpy as np
import pytest

import deepbasic as db

gym = pytest.importorskip("gymnasium")

from deepbasic.rl.dqn import (  # noqa: E402
    DQNAgent,
    DQNConfig,
    ReplayMemory,
    evaluate,
    huber_loss,
    load_dqn,
    save_dqn,
    train_dqn,
)


def _fill(mem, n, d=3):
    for i in range(n):
        mem.push(np.full(d, i), i % 2, float(i), np.full(d, i + 1), i % 5 == 4)


def test_replay_memory_wraparound():
    mem = ReplayMemory(5, 3, seed=0)
    _fill(mem, 3)
    assert len(mem) == 3 and mem.position == 3
    _fill(mem, 8)  # 11 pushes into 5 slots: values 3..7 of the second fill remain
    assert len(mem) == 5 and mem.position == (3 + 8) % 5
    assert sorted(mem.rewards.tolist()) == [3.0, 4.0, 5.0, 6.0, 7.0]
    np.testing.assert_array_equal(mem.next_states[:, 0], mem.states[:, 0] + 1)
    assert mem.states.dtype == np.float32 and mem.actions.dtype == np.int64
    s, a, r, s2, d = mem.recent(3)
    assert r.tolist() == [5.0, 6.0, 7.0]  # newest three, oldest first
    assert d.tolist() == [0.0, 0.0, 0.0]
    assert mem.recent(4)[4].tolist() == [1.0, 0.0, 0.0, 0.0]  # the fifth push (i = 4) ended
    assert mem.recent(99)[2].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_replay_memory_uniform_seeded_sampling():
    mem = ReplayMemory(10, 2, seed=1)
    _fill(mem, 4, d=2)
    s, a, r, s2, d = mem.sample(20_000)
    assert s.shape == (20_000, 2) and a.shape == r.shape == d.shape == (20_000,)
    counts = np.bincount(r.astype(int), minlength=4)
    assert counts.size == 4  # only stored transitions are drawn
    np.testing.assert_allclose(counts / 20_000, 0.25, atol=0.015)
    np.testing.assert_array_equal(s[:, 0], r)  # the fields of one draw belong together
    again = ReplayMemory(10, 2, seed=1)
    _fill(again, 4, d=2)
    np.testing.assert_array_equal(again.sample(20_000)[2], r)
    with pytest.raises(ValueError, match="empty"):
        ReplayMemory(3, 2).sample(1)


def test_huber_loss_values_and_gradient():
    x = db.tensor(np.array([0.5, -2.0, 3.0, 0.0]), requires_grad=True)
    y = db.tensor(np.zeros(4))
    loss = huber_loss(x, y, delta=1.0)
    assert float(loss.item()) == pytest.approx((0.125 + 1.5 + 2.5 + 0.0) / 4, rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad, np.array([0.5, -1.0, 1.0, 0.0]) / 4, rtol=1e-6)


def _agent(**kw):
    cfg = DQNConfig(hidden=(16,), batch_size=8, memory_size=50, learning_starts=8,
                    target_sync=5, lr=1e-2, **kw)
    return DQNAgent(4, 2, cfg)


def _random_batch(agent, n=8, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        agent.memory.push(rng.normal(size=4), int(rng.integers(2)), float(rng.normal()),
                          rng.normal(size=4), bool(rng.random() < 0.3))
    return agent.memory.recent(n)


def test_update_lowers_td_loss_on_its_batch():
    agent = _agent()
    batch = _random_batch(agent)
    before = agent.td_loss(batch)
    reported = agent.update(batch)
    assert reported == pytest.approx(before, rel=1e-5)
    for _ in range(20):
        agent.update(batch)
    assert agent.td_loss(batch) < 0.5 * before


def test_target_network_changes_only_at_sync():
    agent = _agent()
    target0 = agent.target.state_dict()
    q0 = agent.q.state_dict()
    for k in q0:
        np.testing.assert_array_equal(q0[k], target0[k])
    rng = np.random.default_rng(0)
    for step in range(1, 10):
        agent.observe(rng.normal(size=4), int(rng.integers(2)), 1.0, rng.normal(size=4), False)
        t = agent.target.state_dict()
        q = agent.q.state_dict()
        if step < 5:
            for k in t:
                np.testing.assert_array_equal(t[k], target0[k])
        if step == 5:  # synced: target = online network
            for k in t:
                np.testing.assert_array_equal(t[k], q[k])
            synced = t
        if step > 5:
            for k in t:
                np.testing.assert_array_equal(t[k], synced[k])
    assert agent.updates == 2  # learning starts at step 8
    assert any(not np.array_equal(agent.q.state_dict()[k], synced[k]) for k in synced)


def test_terminal_transitions_do_not_bootstrap():
    agent = _agent()
    s2 = np.ones((2, 4), np.float32)
    y = agent.td_targets(np.array([1.0, 1.0], np.float32), s2, np.array([1.0, 0.0], np.float32))
    assert y[0] == pytest.approx(1.0)
    assert y[1] == pytest.approx(1.0 + 0.99 * agent.q_values(s2)[1].max(), rel=1e-5)


def test_no_replay_uses_consecutive_samples():
    agent = _agent(replay=False)
    assert agent.memory.capacity == agent.config.batch_size
    _random_batch(agent, 20)
    assert len(agent.memory) == 8


def test_epsilon_schedule():
    agent = _agent(eps_start=1.0, eps_end=0.1, eps_decay_steps=100)
    assert agent.epsilon(0) == 1.0
    assert agent.epsilon(50) == pytest.approx(0.55)
    assert agent.epsilon(1000) == pytest.approx(0.1)


def test_train_save_load_evaluate(tmp_path):
    cfg = DQNConfig(hidden=(16,), batch_size=16, memory_size=500, learning_starts=50,
                    target_sync=50, eps_decay_steps=200, seed=2)
    r = train_dqn(cfg, episodes=12, eval_every=6, eval_episodes=2)
    assert r.returns.shape == (12,) and len(r.evaluations) == 2
    assert r.best_episode in (6, 12) and r.steps == int(r.returns.sum())
    path = tmp_path / "dqn.safetensors"
    save_dqn(path, r.agent, extra={"returns": r.returns.tolist()})
    agent, extra = load_dqn(path)
    assert extra["returns"] == r.returns.tolist() and agent.config == r.agent.config
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(agent.q_values(obs), r.agent.q_values(obs))
    np.testing.assert_array_equal(evaluate(agent, 2, seed=3), evaluate(r.agent, 2, seed=3))
    with pytest.raises(ValueError, match="episodes"):
        train_dqn(cfg, episodes=0)
    with pytest.raises(ValueError, match="vector observations"):
        train_dqn(DQNConfig(env_id="FrozenLake-v1"), episodes=1)
