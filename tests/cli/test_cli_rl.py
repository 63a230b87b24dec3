"""The rl command: value iteration, Q-learning, DQN and eval round trips on tiny settings."""
import json

import pytest

from deepbasic import cli

pytest.importorskip("gymnasium")


def test_value_iteration_frozenlake_and_eval(tmp_path, capsys):
    out = tmp_path / "vi"
    assert cli.main(["rl", "value-iteration", "--env", "frozenlake", "--episodes", "200",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "optimal success probability (gamma -> 1, no step limit): 0.823529" in text
    r = json.loads((out / "result.json").read_text())
    assert r["max_q_difference"] < 1e-8
    assert (out / "returns.png").stat().st_size > 1000
    assert (out / "convergence.png").stat().st_size > 1000
    assert cli.main(["rl", "eval", "--checkpoint", str(out / "tabular.safetensors"),
                     "--episodes", "50"]) == 0
    assert "exact success probability 0.8235" in capsys.readouterr().out  # gamma 0.99: optimal


def test_value_iteration_gridworld(tmp_path, capsys):
    out = tmp_path / "grid"
    assert cli.main(["rl", "value-iteration", "--env", "gridworld", "--episodes", "20",
                     "--out", str(out)]) == 0
    assert "V* from the start: -" in capsys.readouterr().out
    assert json.loads((out / "result.json").read_text())["max_q_difference"] < 1e-8
    assert cli.main(["rl", "eval", "--checkpoint", str(out / "tabular.safetensors"),
                     "--episodes", "20"]) == 0
    assert "exact value -" in capsys.readouterr().out


def test_q_learning_deterministic_lake(tmp_path, capsys):
    out = tmp_path / "ql"
    assert cli.main(["rl", "q-learning", "--no-slip", "--episodes", "300", "--alpha", "0.5",
                     "--gamma", "0.95", "--eval-episodes", "5", "--out", str(out)]) == 0
    assert "exact success probability 1.0000 (optimal 1.0000)" in capsys.readouterr().out
    assert (out / "returns.png").exists()
    assert cli.main(["rl", "eval", "--checkpoint", str(out / "tabular.safetensors"),
                     "--episodes", "5"]) == 0
    assert "mean return 1.000" in capsys.readouterr().out


def test_dqn_compare_and_eval(tmp_path, capsys):
    out = tmp_path / "dqn"
    assert cli.main(["rl", "dqn", "--episodes", "6", "--compare", "--hidden", "16",
                     "--learning-starts", "32", "--batch-size", "16", "--memory-size", "200",
                     "--eval-every", "3", "--select-episodes", "1", "--eval-episodes", "2",
                     "--seed", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "DQN (replay)" in text and "DQN (no replay)" in text
    r = json.loads((out / "result.json").read_text())
    assert r["seed"] == 1 and r["replay"]["config"]["replay"] is True
    assert r["no_replay"]["config"]["replay"] is False
    assert (out / "returns.png").stat().st_size > 1000
    assert cli.main(["rl", "eval", "--checkpoint", str(out / "dqn.safetensors"),
                     "--episodes", "2"]) == 0
    assert "DQN on CartPole-v1: mean return" in capsys.readouterr().out


def test_one_line_errors(tmp_path, capsys):
    assert cli.main(["rl", "eval", "--checkpoint", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert cli.main(["rl", "eval", "--checkpoint", str(bad)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["rl", "dqn", "--no-replay", "--compare", "--episodes", "1"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert cli.main(["rl", "dqn", "--env", "FrozenLake-v1", "--episodes", "1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        cli.main(["rl", "q-learning", "--episodes", "0"])
    assert e.value.code == 2
