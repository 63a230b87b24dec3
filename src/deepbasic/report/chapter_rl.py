"""Chapter: reinforcement learning: value iteration on FrozenLake's known model (the Bellman
optimality equation), tabular Q-learning from experience, and a deep Q-network on CartPole with
and without experience replay.

Quick: 3,000 Q-learning episodes and 60 DQN episodes (far from solving CartPole). Full: 20,000
Q-learning episodes and 800 DQN episodes with and without replay (``deepbasic rl dqn
--compare``).
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register

QUICK = dict(q_episodes=3000, dqn_episodes=60, eval_episodes=20, compare=False)
FULL = dict(q_episodes=20000, dqn_episodes=800, eval_episodes=100, compare=True)


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    import gymnasium as gym
    import numpy as np

    from deepbasic.rl.dqn import DQNConfig, evaluate, train_dqn
    from deepbasic.rl.mdp import (from_frozenlake, optimal_success_probability,
                                  policy_arrows, policy_evaluation, policy_evaluation_exact,
                                  policy_iteration, start_value, success_probability,
                                  value_iteration)
    from deepbasic.rl.plots import plot_returns
    from deepbasic.rl.qlearning import q_learning

    s = QUICK if quick else FULL
    root = os.path.join(out_dir, "rl")
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    mdp = from_frozenlake(env, 0.99)
    vi = value_iteration(mdp)
    pi = policy_iteration(mdp)
    uniform = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    gap = float(np.abs(policy_evaluation(mdp, uniform) - policy_evaluation_exact(mdp, uniform)).max())
    best, _ = optimal_success_probability(mdp)
    q = q_learning(env, episodes=s["q_episodes"], seed=0)
    learned = start_value(mdp, success_probability(mdp, q.table.greedy()))
    plot_returns({"Q-learning": q.returns}, os.path.join(root, "qlearning.png"),
                 hlines={"optimal success probability": best,
                         "greedy policy, exact": learned},
                 title="FrozenLake 4x4 (slippery): tabular Q-learning")
    curves, dqn_numbers = {}, []
    runs = [("replay", True)] + ([("no replay", False)] if s["compare"] else [])
    for label, replay in runs:
        cfg = DQNConfig(replay=replay, lr=1e-3, target_sync=1000, double=True, seed=0)
        r = train_dqn(cfg, episodes=s["dqn_episodes"], eval_every=10, eval_episodes=10)
        scores = evaluate(r.agent, s["eval_episodes"], seed=10_000)
        curves[f"DQN, {label}"] = r.returns
        dqn_numbers.append((f"DQN on CartPole-v1, {label}: mean return over "
                            f"{s['eval_episodes']} evaluation episodes",
                            f"{scores.mean():.1f} ({s['dqn_episodes']} training episodes, "
                            f"{r.steps:,} steps, {r.time_s:.0f} s; seed 0)"))
    plot_returns(curves, os.path.join(root, "dqn.png"), window=20,
                 hlines={"solved (475)": 475.0}, title="CartPole-v1: DQN")
    numbers = [
        ("policy evaluation of the uniform policy: iterative vs linear system",
         f"max difference {gap:.1e}"),
        ("value iteration vs policy iteration", f"max |Q* difference| "
                                                f"{float(np.abs(vi.Q - pi.Q).max()):.1e} "
                                                f"({vi.iterations} sweeps, {pi.iterations} "
                                                f"improvements)"),
        ("optimal policy (gamma 0.99)", " | ".join(policy_arrows(mdp, vi.policy))),
        ("optimal success probability", f"{best:.4f}"),
        (f"Q-learning, {s['q_episodes']:,} episodes: greedy policy's success probability",
         f"{learned:.4f} (exact, from the known model)"),
    ] + dqn_numbers
    return ChapterResult(
        numbers=numbers,
        figures=[("rl/qlearning.png", "Q-learning on FrozenLake: returns per episode (moving "
                                      "average) against the optimal success probability"),
                 ("rl/dqn.png", "DQN on CartPole: returns per training episode")],
        notes=["Quick version: 60 DQN episodes do not solve CartPole; docs/RESULTS.md has the "
               "full runs."] if quick else [],
    )


register(Chapter(
    key="rl",
    title="Reinforcement learning: MDPs, Q-learning, deep Q-networks",
    idea=("With the model known, the Bellman equations give a policy's values (a linear "
          "system) and the optimal ones (value iteration). Without it, Q-learning learns Q* from "
          "experience; a deep Q-network does the same with a neural network, a replay memory "
          "that breaks the correlation of consecutive samples, and a target network."),
    command="deepbasic rl dqn --compare --out runs/dqn",
    run=run,
))
