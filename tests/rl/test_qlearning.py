"""Tabular Q-learning on FrozenLake: near-optimal success, exact and by rollouts; seeding."""
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from deepbasic.rl.mdp import (  # noqa: E402
    from_frozenlake,
    optimal_success_probability,
    start_value,
    success_probability,
)
from deepbasic.rl.qlearning import (  # noqa: E402
    TabularQ,
    epsilon_schedule,
    moving_average,
    q_learning,
    rollout_returns,
)


def _optimal_success(mdp):
    return optimal_success_probability(mdp)[0]


def test_deterministic_lake_is_solved():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    mdp = from_frozenlake(env)
    r = q_learning(env, episodes=300, alpha=0.5, gamma=0.95, seed=0)
    assert _optimal_success(mdp) == pytest.approx(1.0)
    assert start_value(mdp, success_probability(mdp, r.table.greedy())) == pytest.approx(1.0)
    assert rollout_returns(env, r.table.greedy(), episodes=5).tolist() == [1.0] * 5
    # the learned values approach gamma^(steps to go - 1) on the optimal path from the start
    assert r.table.q[0].max() == pytest.approx(0.95 ** 5, abs=0.05)


def test_slippery_lake_near_optimal_exact_and_rollouts():
    env = gym.make("FrozenLake-v1")
    mdp = from_frozenlake(env)
    r = q_learning(env, episodes=6000, alpha=0.1, alpha_end=0.01, gamma=0.999, seed=0)
    optimal = _optimal_success(mdp)
    assert optimal == pytest.approx(14 / 17)
    learned = start_value(mdp, success_probability(mdp, r.table.greedy()))
    assert learned >= optimal - 0.1
    # rollouts (without FrozenLake's 100-step limit) agree with the exact probability
    long_env = gym.make("FrozenLake-v1", max_episode_steps=10_000)
    rate = rollout_returns(long_env, r.table.greedy(), episodes=1500, seed=1).mean()
    assert abs(rate - learned) < 0.04
    # learning shows in the returns: the last episodes succeed more often than the first
    assert r.returns[-1000:].mean() > r.returns[:1000].mean() + 0.2


def test_seeded_runs_repeat():
    a = q_learning(gym.make("FrozenLake-v1"), episodes=200, seed=3)
    b = q_learning(gym.make("FrozenLake-v1"), episodes=200, seed=3)
    np.testing.assert_array_equal(a.table.q, b.table.q)
    np.testing.assert_array_equal(a.returns, b.returns)


def test_helpers_and_errors():
    assert epsilon_schedule(0, 100, 1.0, 0.1, 0.5) == 1.0
    assert epsilon_schedule(25, 100, 1.0, 0.1, 0.5) == pytest.approx(0.55)
    assert epsilon_schedule(90, 100, 1.0, 0.1, 0.5) == pytest.approx(0.1)
    np.testing.assert_allclose(moving_average([1, 3, 5, 7], 2), [1, 2, 4, 6])
    t = TabularQ(3, 2)
    t.load_state_dict({"q": np.ones((3, 2))})
    with pytest.raises(ValueError, match="shape"):
        t.load_state_dict({"q": np.ones((2, 2))})
    with pytest.raises(ValueError, match="episodes"):
        q_learning(gym.make("FrozenLake-v1"), episodes=0)
