"""``deepbasic rl``: planning on known MDPs, tabular Q-learning and deep Q-networks.

    deepbasic rl value-iteration --env frozenlake --out runs/vi
    deepbasic rl q-learning --episodes 20000 --out runs/ql
    deepbasic rl dqn --episodes 600 --seed 0 --out runs/dqn [--no-replay | --compare]
    deepbasic rl eval --checkpoint runs/dqn/dqn.safetensors --episodes 100

``value-iteration`` solves FrozenLake (gymnasium's transition table) or a grid world of our own
by value iteration and policy iteration and checks them against each other and the exact values
of the greedy policy; ``q-learning`` learns FrozenLake from experience and compares the greedy
policy's exact success probability with the optimal one; ``dqn`` trains a DQN on CartPole-v1.
Each writes returns per episode as a PNG and the agent as a checkpoint that ``eval`` runs.
See :mod:`deepbasic.rl`.
"""
from __future__ import annotations

import json
import os
import time

from deepbasic.cli_args import CLIError, hidden_sizes, non_negative_int, positive_float, positive_int


def _gym():
    try:
        import gymnasium
    except ImportError:
        raise CLIError("deepbasic rl needs gymnasium (pip install gymnasium)") from None
    return gymnasium


def _lake(map_name: str, slippery: bool, max_episode_steps=None):
    gym = _gym()
    kwargs = {"map_name": map_name, "is_slippery": slippery}
    if max_episode_steps:
        kwargs["max_episode_steps"] = max_episode_steps
    return gym.make("FrozenLake-v1", **kwargs)


def _mdp(env_name: str, map_name: str, slippery: bool, gamma: float):
    from deepbasic.rl.mdp import from_frozenlake, gridworld

    if env_name == "frozenlake":
        mdp = from_frozenlake(_lake(map_name, slippery), gamma)
        mdp.info.update(map_name=map_name, slippery=slippery)
        return mdp
    return gridworld(gamma=gamma)


def _mdp_from_info(info: dict, gamma: float):
    from deepbasic.rl.mdp import gridworld

    if info.get("env") == "frozenlake":
        return _mdp("frozenlake", info["map_name"], info["slippery"], gamma)
    return gridworld(info["rows"], info["cols"], [tuple(t) for t in info["terminals"]],
                     info["step_reward"], {tuple(c): v for c, v in info["terminal_rewards"]},
                     [tuple(w) for w in info["walls"]], info["slip"], gamma)


def _write_json(path, obj) -> None:
    from deepbasic.serialization import atomic_write

    with atomic_write(path) as f:
        f.write(json.dumps(obj, indent=1).encode())


def _save_table(path, q, mdp, extra: dict) -> None:
    from deepbasic.rl.qlearning import TabularQ
    from deepbasic.train.checkpoint import save_checkpoint

    t = TabularQ(*q.shape)
    t.q = q
    save_checkpoint(path, t, extra={"kind": "tabular", "env": mdp.info, "gamma": mdp.gamma,
                                    **extra})


def cmd_value_iteration(args) -> int:
    import numpy as np

    from deepbasic.rl.mdp import (optimal_success_probability, policy_arrows,
                                  policy_evaluation_exact, policy_iteration, start_value,
                                  value_iteration)
    from deepbasic.rl.plots import plot_convergence, plot_returns

    gamma = args.gamma if args.gamma is not None else (0.99 if args.env == "frozenlake" else 1.0)
    if gamma > 1:
        raise CLIError(f"--gamma {gamma}: expected a discount in (0, 1]")
    mdp = _mdp(args.env, args.map, not args.no_slip, gamma)
    t0 = time.perf_counter()
    vi = value_iteration(mdp, tol=1e-12)
    t_vi = time.perf_counter() - t0
    start = None if args.env == "frozenlake" else mdp.policy_matrix(
        np.where(np.arange(mdp.n_states) % mdp.shape[1] == 0, 3, 0))  # terminates when gamma = 1
    pi = policy_iteration(mdp, None if start is None else start.argmax(1))
    exact = policy_evaluation_exact(mdp, vi.policy)
    print(f"{mdp.name}: {mdp.n_states} states, {mdp.n_actions} actions, gamma {gamma:g}")
    print(f"value iteration: {vi.iterations} sweeps ({1000 * t_vi:.1f} ms); policy iteration: "
          f"{pi.iterations} improvements")
    print(f"max |Q*_VI - Q*_PI| = {np.abs(vi.Q - pi.Q).max():.2e}; max |V*_VI - V^greedy exact| = "
          f"{np.abs(vi.V - exact).max():.2e}")
    print(f"V* from the start: {start_value(mdp, vi.V):.6f}")
    for row in policy_arrows(mdp, vi.policy):
        print("  " + row)
    result = {"env": mdp.info, "gamma": gamma, "vi_sweeps": vi.iterations,
              "pi_improvements": pi.iterations, "start_value": start_value(mdp, vi.V),
              "max_q_difference": float(np.abs(vi.Q - pi.Q).max())}
    hlines = {}
    if args.env == "frozenlake":
        best, _ = optimal_success_probability(mdp)
        print(f"optimal success probability (gamma -> 1, no step limit): {best:.6f}")
        result["optimal_success"] = best
        hlines["optimal success probability"] = best
    returns, _ = mdp.simulate(vi.policy, args.episodes, seed=args.seed)
    print(f"{args.episodes} simulated episodes of the optimal policy: mean return "
          f"{returns.mean():.4f}")
    result["simulated_mean_return"] = float(returns.mean())
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        ckpt = os.path.join(args.out, "tabular.safetensors")
        _save_table(ckpt, vi.Q, mdp, {"method": "value-iteration"})
        curves = plot_returns({"optimal policy (simulated)": returns},
                              os.path.join(args.out, "returns.png"), hlines=hlines,
                              title=f"{mdp.name}: value iteration's policy")
        conv = plot_convergence(vi.history, os.path.join(args.out, "convergence.png"))
        _write_json(os.path.join(args.out, "result.json"), result)
        print(f"checkpoint: {ckpt}\ncurves: {curves}, {conv}")
    return 0


def cmd_q_learning(args) -> int:
    from deepbasic.rl.mdp import from_frozenlake, optimal_success_probability, start_value, \
        success_probability
    from deepbasic.rl.plots import plot_returns
    from deepbasic.rl.qlearning import q_learning, rollout_returns

    env = _lake(args.map, not args.no_slip)
    mdp = from_frozenlake(env, args.gamma)
    mdp.info.update(map_name=args.map, slippery=not args.no_slip)
    print(f"Q-learning on FrozenLake {args.map}{'' if not args.no_slip else ' (not slippery)'}: "
          f"{args.episodes} episodes, alpha {args.alpha:g}, gamma {args.gamma:g}, seed {args.seed}")
    r = q_learning(env, episodes=args.episodes, alpha=args.alpha, alpha_end=args.alpha_end,
                   gamma=args.gamma, eps_end=args.eps_end, seed=args.seed)
    policy = r.table.greedy()
    learned = start_value(mdp, success_probability(mdp, policy))
    best, _ = optimal_success_probability(mdp)
    long_env = _lake(args.map, not args.no_slip, max_episode_steps=10_000)
    rollouts = rollout_returns(long_env, policy, episodes=args.eval_episodes, seed=args.seed + 1)
    print(f"{r.steps} steps in {r.time_s:.1f} s; last 100 training episodes: mean return "
          f"{r.returns[-100:].mean():.3f}")
    print(f"greedy policy: exact success probability {learned:.4f} (optimal {best:.4f}); "
          f"{args.eval_episodes} rollouts: {rollouts.mean():.4f}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        ckpt = os.path.join(args.out, "tabular.safetensors")
        _save_table(ckpt, r.table.q, mdp, {"method": "q-learning", "config": r.config,
                                           "returns": r.returns.tolist()})
        png = plot_returns({"Q-learning": r.returns}, os.path.join(args.out, "returns.png"),
                           hlines={"optimal success probability": best,
                                   "greedy policy, exact": learned},
                           title="FrozenLake: tabular Q-learning")
        _write_json(os.path.join(args.out, "result.json"),
                    {"config": r.config, "steps": r.steps, "time_s": r.time_s,
                     "exact_success": learned, "optimal_success": best,
                     "rollout_success": float(rollouts.mean())})
        print(f"checkpoint: {ckpt}\ncurves: {png}")
    return 0


def cmd_dqn(args) -> int:
    from deepbasic.rl.dqn import DQNConfig, evaluate, save_dqn, train_dqn
    from deepbasic.rl.plots import plot_returns

    _gym()
    if args.no_replay and args.compare:
        raise CLIError("--no-replay and --compare exclude each other (--compare runs both)")
    base = dict(env_id=args.env, hidden=args.hidden, lr=args.lr, batch_size=args.batch_size,
                target_sync=args.target_sync, eps_decay_steps=args.eps_decay_steps,
                learning_starts=min(args.learning_starts, args.memory_size),
                memory_size=args.memory_size, double=args.double, seed=args.seed)
    runs = [("replay", True)] if not args.no_replay else [("no replay", False)]
    if args.compare:
        runs.append(("no replay", False))
    curves, result = {}, {"seed": args.seed, "episodes": args.episodes}
    for label, replay in runs:
        cfg = DQNConfig(replay=replay, **base)
        print(f"DQN ({label}) on {args.env}: {args.episodes} episodes, seed {args.seed}")

        def progress(ep, ret, eps):
            if args.progress and (ep + 1) % args.progress == 0:
                print(f"  episode {ep + 1}: return {ret:.0f}, epsilon {eps:.3f}", flush=True)
        try:
            r = train_dqn(cfg, episodes=args.episodes, eval_every=args.eval_every,
                          eval_episodes=args.select_episodes, progress=progress)
        except ValueError as e:
            raise CLIError(str(e).splitlines()[0]) from None
        t0 = time.perf_counter()
        scores = evaluate(r.agent, args.eval_episodes, seed=args.eval_seed)
        print(f"{r.steps} steps, {r.time_s:.1f} s of training; kept the weights of episode "
              f"{r.best_episode if r.best_episode > 0 else len(r.returns)}; evaluation over "
              f"{args.eval_episodes} episodes: mean return {scores.mean():.1f} (min "
              f"{scores.min():.0f}, {time.perf_counter() - t0:.1f} s)")
        curves[f"DQN, {label}"] = r.returns
        key = label.replace(" ", "_")
        result[key] = {"config": cfg.to_json(), "steps": r.steps, "train_time_s": r.time_s,
                       "best_episode": r.best_episode, "evaluations": r.evaluations,
                       "eval_mean_return": float(scores.mean()), "eval_min_return":
                       float(scores.min()), "eval_episodes": args.eval_episodes}
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            ckpt = os.path.join(args.out, f"dqn{'' if replay else '-no-replay'}.safetensors")
            save_dqn(ckpt, r.agent, extra={"returns": r.returns.tolist(),
                                           "eval_mean_return": float(scores.mean())})
            print(f"checkpoint: {ckpt}")
    if args.out:
        png = plot_returns(curves, os.path.join(args.out, "returns.png"), window=20,
                           hlines={"solved (475)": 475.0} if args.env == "CartPole-v1" else None,
                           title=f"DQN on {args.env}")
        _write_json(os.path.join(args.out, "result.json"), result)
        print(f"curves: {png}")
    return 0


def cmd_eval(args) -> int:
    import numpy as np

    from deepbasic.train.checkpoint import load_checkpoint

    if not os.path.isfile(args.checkpoint):
        raise CLIError(f"--checkpoint {args.checkpoint}: no such file")
    try:
        kind = load_checkpoint(args.checkpoint).extra.get("kind")
    except (ValueError, OSError) as e:
        raise CLIError(f"--checkpoint {args.checkpoint}: {str(e).splitlines()[0]}") from None
    if kind == "dqn":
        from deepbasic.rl.dqn import evaluate, load_dqn

        _gym()
        agent, _ = load_dqn(args.checkpoint)
        t0 = time.perf_counter()
        scores = evaluate(agent, args.episodes, seed=args.seed)
        print(f"DQN on {agent.config.env_id}: mean return {scores.mean():.1f} over "
              f"{args.episodes} episodes (min {scores.min():.0f}, max {scores.max():.0f}; "
              f"{time.perf_counter() - t0:.1f} s, seed {args.seed})")
        return 0
    if kind == "tabular":
        from deepbasic.rl.mdp import start_value, success_probability
        from deepbasic.rl.qlearning import rollout_returns

        ckpt = load_checkpoint(args.checkpoint)
        q = np.asarray(ckpt.model["q"])
        info = ckpt.extra["env"]
        mdp = _mdp_from_info(info, ckpt.extra.get("gamma", 0.99))
        if q.shape != (mdp.n_states, mdp.n_actions):
            raise CLIError(f"--checkpoint {args.checkpoint}: table {q.shape} does not fit the "
                           f"environment ({mdp.n_states}, {mdp.n_actions})")
        policy = q.argmax(axis=1)
        if info.get("env") == "frozenlake":
            env = _lake(info["map_name"], info["slippery"])
            returns = rollout_returns(env, policy, args.episodes, seed=args.seed)
            exact = start_value(mdp, success_probability(mdp, policy))
            print(f"FrozenLake {info['map_name']}: greedy policy, mean return {returns.mean():.3f}"
                  f" over {args.episodes} episodes (100-step limit); exact success probability "
                  f"{exact:.4f}")
        else:
            from deepbasic.rl.mdp import policy_evaluation_exact

            returns, _ = mdp.simulate(policy, args.episodes, seed=args.seed)
            exact = start_value(mdp, policy_evaluation_exact(mdp, policy))
            print(f"gridworld: greedy policy, mean return {returns.mean():.3f} over "
                  f"{args.episodes} simulated episodes; exact value {exact:.4f}")
        return 0
    raise CLIError(f"--checkpoint {args.checkpoint}: not an RL checkpoint (kind {kind!r})")


def register(subparsers) -> None:
    p = subparsers.add_parser("rl", help="reinforcement learning: value iteration, Q-learning, "
                                         "DQN (gymnasium environments)")
    sub = p.add_subparsers(dest="action", required=True,
                           metavar="value-iteration|q-learning|dqn|eval")

    v = sub.add_parser("value-iteration", help="plan on a known MDP: value and policy iteration")
    v.add_argument("--env", choices=["frozenlake", "gridworld"], default="frozenlake")
    v.add_argument("--map", choices=["4x4", "8x8"], default="4x4", help="FrozenLake map")
    v.add_argument("--no-slip", action="store_true", help="deterministic FrozenLake")
    v.add_argument("--gamma", type=positive_float, default=None,
                   help="discount (default 0.99 for FrozenLake, 1 for the grid world)")
    v.add_argument("--episodes", type=positive_int, default=1000,
                   help="simulated episodes of the optimal policy")
    v.add_argument("--seed", type=non_negative_int, default=0)
    v.add_argument("--out", metavar="DIR", help="tabular.safetensors, returns.png, result.json")
    v.set_defaults(func=cmd_value_iteration)

    q = sub.add_parser("q-learning", help="tabular Q-learning on FrozenLake")
    q.add_argument("--episodes", type=positive_int, default=20000)
    q.add_argument("--map", choices=["4x4", "8x8"], default="4x4")
    q.add_argument("--no-slip", action="store_true", help="deterministic FrozenLake")
    q.add_argument("--alpha", type=positive_float, default=0.1, help="learning rate")
    q.add_argument("--alpha-end", type=positive_float, default=0.01,
                   help="learning rate at the last episode (linear decay)")
    q.add_argument("--gamma", type=positive_float, default=0.999)
    q.add_argument("--eps-end", type=positive_float, default=0.01)
    q.add_argument("--eval-episodes", type=positive_int, default=1000,
                   help="rollouts of the greedy policy")
    q.add_argument("--seed", type=non_negative_int, default=0)
    q.add_argument("--out", metavar="DIR")
    q.set_defaults(func=cmd_q_learning)

    d = sub.add_parser("dqn", help="deep Q-network on CartPole-v1")
    d.add_argument("--env", default="CartPole-v1", help="a gymnasium id (vector observations, "
                                                        "discrete actions)")
    d.add_argument("--episodes", type=positive_int, default=800)
    d.add_argument("--no-replay", action="store_true",
                   help="train on consecutive samples (no replay memory)")
    d.add_argument("--compare", action="store_true",
                   help="also train without replay; both curves in one PNG")
    d.add_argument("--hidden", type=hidden_sizes, default=(128, 128))
    d.add_argument("--lr", type=positive_float, default=1e-3)
    d.add_argument("--batch-size", type=positive_int, default=64)
    d.add_argument("--memory-size", type=positive_int, default=50_000)
    d.add_argument("--learning-starts", type=non_negative_int, default=1000)
    d.add_argument("--target-sync", type=positive_int, default=1000, help="steps between syncs")
    d.add_argument("--eps-decay-steps", type=positive_int, default=10_000)
    d.add_argument("--no-double", dest="double", action="store_false",
                   help="plain DQN targets (default: double DQN, the online network picks the "
                        "next action and the target network values it)")
    d.add_argument("--eval-every", type=non_negative_int, default=10,
                   help="episodes between greedy evaluations that select the kept weights "
                        "(0: keep the final weights)")
    d.add_argument("--select-episodes", type=positive_int, default=10,
                   help="episodes per selecting evaluation")
    d.add_argument("--eval-episodes", type=positive_int, default=100,
                   help="final evaluation episodes")
    d.add_argument("--eval-seed", type=non_negative_int, default=10_000)
    d.add_argument("--seed", type=non_negative_int, default=0)
    d.add_argument("--progress", type=non_negative_int, default=0, metavar="N",
                   help="print every N episodes")
    d.add_argument("--out", metavar="DIR", help="dqn.safetensors, returns.png, result.json")
    d.set_defaults(func=cmd_dqn)

    e = sub.add_parser("eval", help="evaluate a checkpoint written by rl value-iteration, "
                                    "q-learning or dqn")
    e.add_argument("--checkpoint", required=True, metavar="CKPT")
    e.add_argument("--episodes", type=positive_int, default=100)
    e.add_argument("--seed", type=non_negative_int, default=10_000)
    e.set_defaults(func=cmd_eval)
