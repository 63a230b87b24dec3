"""Planning on known MDPs: policy evaluation (iterative vs exact), value vs policy iteration."""
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from deepbasic.rl.mdp import (  # noqa: E402
    MDP,
    from_frozenlake,
    greedy_policy,
    gridworld,
    policy_arrows,
    policy_evaluation,
    policy_evaluation_exact,
    optimal_success_probability,
    policy_iteration,
    q_evaluation,
    q_from_v,
    start_value,
    success_probability,
    value_iteration,
)


@pytest.fixture(scope="module")
def lake():
    return from_frozenlake(gym.make("FrozenLake-v1"), gamma=0.95)


def _random_policy(mdp, seed=0):
    pi = np.random.default_rng(seed).random((mdp.n_states, mdp.n_actions)) + 0.1
    return pi / pi.sum(axis=1, keepdims=True)


def test_sutton_gridworld_random_policy_values():
    g = gridworld()  # Sutton & Barto, example 4.1
    expected = np.array([[0, -14, -20, -22], [-14, -18, -20, -20],
                         [-20, -20, -18, -14], [-22, -20, -14, 0]], float)
    V = policy_evaluation_exact(g, g.uniform_policy())
    np.testing.assert_allclose(V.reshape(4, 4), expected, atol=1e-9)
    np.testing.assert_allclose(policy_evaluation(g, g.uniform_policy()), V, atol=1e-8)


def test_frozenlake_table_is_the_environment(lake):
    u = gym.make("FrozenLake-v1").unwrapped
    assert lake.P.shape == (16, 4, 16)
    np.testing.assert_allclose(lake.P.sum(axis=2), 1.0)
    assert np.flatnonzero(lake.terminal).tolist() == [5, 7, 11, 12, 15]
    # slippery: intended move or either perpendicular move, 1/3 each
    assert lake.P[14, 2, 15] == pytest.approx(1 / 3)
    assert lake.R[14, 2] == pytest.approx(1 / 3)
    assert lake.start[0] == 1.0
    for s in range(16):
        for a in range(4):
            for p, nxt, r, _ in u.P[s][a]:
                assert lake.P[s, a, nxt] >= p - 1e-12


@pytest.mark.parametrize("which", ["lake", "slippery-grid", "sutton"])
def test_iterative_and_exact_evaluation_agree(lake, which):
    mdp = {"lake": lake,
           "slippery-grid": gridworld(3, 5, terminals=[(2, 4), (1, 2)], step_reward=-0.1,
                                      terminal_rewards={(2, 4): 1.0, (1, 2): -1.0}, walls=[(0, 2)],
                                      slip=0.2, gamma=0.9),
           "sutton": gridworld()}[which]
    pi = _random_policy(mdp)
    V_iter = policy_evaluation(mdp, pi)
    V_exact = policy_evaluation_exact(mdp, pi)
    np.testing.assert_allclose(V_iter, V_exact, atol=1e-8, rtol=0)
    # Q^pi satisfies the Bellman expectation equation and V = sum_a pi Q
    Q = q_evaluation(mdp, pi)
    np.testing.assert_allclose((pi * Q).sum(axis=1)[~mdp.terminal], V_exact[~mdp.terminal],
                               atol=1e-10)
    np.testing.assert_allclose(Q, q_from_v(mdp, V_iter), atol=1e-8)
    assert np.all(V_exact[mdp.terminal] == 0)


@pytest.mark.parametrize("gamma", [0.9, 0.99, 1.0])
def test_value_and_policy_iteration_agree(lake, gamma):
    mdp = lake.with_gamma(gamma)
    vi = value_iteration(mdp, tol=1e-13)
    pi = policy_iteration(mdp, policy=np.full(16, 1))  # start "down": terminates w.p. 1
    np.testing.assert_allclose(vi.Q, pi.Q, atol=1e-8)
    np.testing.assert_allclose(vi.V, pi.V, atol=1e-8)
    # the greedy policy's exact values are the optimal ones
    np.testing.assert_allclose(policy_evaluation_exact(mdp, vi.policy), vi.V, atol=1e-8)
    np.testing.assert_allclose(policy_evaluation_exact(mdp, pi.policy), vi.V, atol=1e-8)
    # Bellman optimality: V* = max_a Q*, Q* = R + gamma P V*
    np.testing.assert_allclose(vi.Q.max(axis=1), vi.V, atol=1e-10)
    # no policy beats it
    V_rand = policy_evaluation_exact(mdp, _random_policy(mdp, 3))
    assert np.all(V_rand <= vi.V + 1e-10)


def test_gridworld_optimal_values():
    g = gridworld()
    vi = value_iteration(g)
    # optimal value = minus the Manhattan distance to the nearest terminal corner
    r, c = np.divmod(np.arange(16), 4)
    np.testing.assert_allclose(vi.V, -np.minimum(r + c, 6 - r - c), atol=1e-12)
    # start from a policy that terminates: up in the first column, left elsewhere
    pi = policy_iteration(g, policy=np.where(c == 0, 3, 0))
    np.testing.assert_allclose(pi.V, vi.V, atol=1e-10)
    assert policy_arrows(g, vi.policy)[0][0] == "."


def test_optimal_frozenlake_success_probability(lake):
    vi = value_iteration(lake.with_gamma(1.0), tol=1e-14)
    h = success_probability(lake, vi.policy)
    # undiscounted with reward 1 at the goal, V* is the success probability: 14/17 from the start
    np.testing.assert_allclose(h[~lake.terminal], vi.V[~lake.terminal], atol=1e-9)
    assert start_value(lake, h) == pytest.approx(14 / 17, abs=1e-9)
    best, policy = optimal_success_probability(lake)
    assert best == pytest.approx(14 / 17, abs=1e-9)
    np.testing.assert_array_equal(policy, vi.policy)
    _, success = lake.simulate(vi.policy, 20000, seed=1)
    assert abs(success.mean() - 14 / 17) < 0.015


def test_success_probability_of_looping_policy(lake):
    # "left" everywhere keeps the agent near the start forever or falls in a hole: never succeeds
    h = success_probability(lake, np.zeros(16, int))
    assert h[0] == 0.0
    assert np.all(h[lake.terminal] == [0, 0, 0, 0, 1])


def test_greedy_policy_ties_and_validation():
    Q = np.array([[1.0, 1.0 + 1e-13, 0.0], [0.0, 0.0, 2.0]])
    assert greedy_policy(Q).tolist() == [1, 2]
    assert greedy_policy(Q, tol=1e-10).tolist() == [0, 2]
    with pytest.raises(ValueError, match="probability"):
        MDP(np.ones((2, 1, 2)), np.zeros((2, 1)))
    g = gridworld(2, 2)
    with pytest.raises(ValueError, match="policy"):
        g.policy_matrix(np.full(4, 7))


def test_optimal_success_breaks_gamma_one_ties():
    lake = from_frozenlake(gym.make("FrozenLake-v1", is_slippery=False))
    best, policy = optimal_success_probability(lake)
    assert best == pytest.approx(1.0)
    assert lake.simulate(policy, 10, seed=0)[1].all()
