"""Reinforcement learning: planning on known MDPs (policy evaluation, value and policy
iteration), tabular Q-learning and deep Q-networks. gymnasium provides the environments
(imported only where an environment is made)."""
from deepbasic.rl.dqn import (
    DQNAgent,
    DQNConfig,
    DQNResult,
    ReplayMemory,
    evaluate,
    huber_loss,
    load_dqn,
    q_network,
    save_dqn,
    train_dqn,
)
from deepbasic.rl.mdp import (
    MDP,
    PlanningResult,
    from_frozenlake,
    greedy_policy,
    gridworld,
    optimal_success_probability,
    policy_arrows,
    policy_evaluation,
    policy_evaluation_exact,
    policy_iteration,
    q_evaluation,
    q_from_v,
    start_value,
    success_probability,
    value_iteration,
)
from deepbasic.rl.qlearning import (
    QLearningResult,
    TabularQ,
    epsilon_schedule,
    moving_average,
    q_learning,
    rollout_returns,
)

__all__ = [
    "DQNAgent", "DQNConfig", "DQNResult", "ReplayMemory", "evaluate", "huber_loss", "load_dqn",
    "q_network", "save_dqn", "train_dqn",
    "MDP", "PlanningResult", "from_frozenlake", "greedy_policy", "gridworld",
    "optimal_success_probability", "policy_arrows", "policy_evaluation",
    "policy_evaluation_exact", "policy_iteration", "q_evaluation", "q_from_v", "start_value",
    "success_probability", "value_iteration",
    "QLearningResult", "TabularQ", "epsilon_schedule", "moving_average", "q_learning",
    "rollout_returns",
]
