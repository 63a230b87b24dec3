"""Random, grid and coarse-to-fine search: seeded, equal budgets, narrowing, failures recorded,
the same results in worker processes as in this one, and the table / JSON / plot outputs."""
import json
import math
import os

import pytest

from deepbasic.tune import (Choice, LogUniform, ProcessBackend, SearchResult, SerialBackend,
                            coarse_to_fine, grid_search, random_search)
from deepbasic.tune.search import compare_random_grid, comparison_line
from deepbasic.tune.trial import MLPObjective, synthetic_objective

SPACE = {"lr": LogUniform(1e-5, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}


def flaky(config):
    """Fails for large learning rates (top-level, so worker processes can import it)."""
    if config["lr"] > 1e-2:
        raise RuntimeError(f"diverged at lr {config['lr']:.3g}")
    return synthetic_objective(config)


def plain_float(config):
    return -abs(math.log10(config["lr"]) + 3)


def test_random_search_is_seeded():
    a = random_search(synthetic_objective, SPACE, 12, seed=3, backend="serial")
    b = random_search(synthetic_objective, SPACE, 12, seed=3, backend="serial")
    c = random_search(synthetic_objective, SPACE, 12, seed=4, backend="serial")
    assert [t.config for t in a.trials] == [t.config for t in b.trials]
    assert a.scores() == b.scores()
    assert [t.config for t in a.trials] != [t.config for t in c.trials]
    assert len(a.trials) == 12 and [t.index for t in a.trials] == list(range(12))
    assert a.best.score == max(a.scores())
    assert a.best.info["train_accuracy"] == pytest.approx(a.best.score + 0.02)


def test_grid_search_has_the_same_budget():
    g = grid_search(synthetic_objective, SPACE, 16, backend="serial")
    assert len(g.trials) == 16 and {t.source for t in g.trials} == {"grid"}
    assert len({t.config["lr"] for t in g.trials}) == 4
    assert g.notes == ["grid 4 x 4 = 16 points"]
    # 17 is not a product of the axis counts: 4 x 4 on the grid, 1 drawn at random (seeded)
    g17 = grid_search(synthetic_objective, SPACE, 17, seed=1, backend="serial")
    assert len(g17.trials) == 17 and [t.source for t in g17.trials].count("grid-fill") == 1
    assert g17.trials[-1].config == grid_search(synthetic_objective, SPACE, 17, seed=1,
                                                backend="serial").trials[-1].config
    only = grid_search(synthetic_objective, SPACE, 17, fill="none", backend="serial")
    assert len(only.trials) == 16
    with pytest.raises(ValueError, match="fill must be"):
        grid_search(synthetic_objective, SPACE, 4, fill="more", backend="serial")


def test_random_search_tries_more_learning_rates_than_grid():
    results = compare_random_grid(synthetic_objective, SPACE, 16, seed=0, backend="serial")
    assert len({t.config["lr"] for t in results["random"].trials}) == 16
    assert len({t.config["lr"] for t in results["grid"].trials}) == 4
    line = comparison_line(results)
    assert "same budget of 16 trials" in line and "search wins" in line


def test_coarse_to_fine_narrows_the_range():
    space = dict(SPACE, act=Choice(["relu", "tanh"]))
    r = coarse_to_fine(synthetic_objective, space, budget_per_round=10, rounds=3, seed=0,
                       keep_top=3, backend="serial")
    assert len(r.trials) == 30 and len(r.rounds) == 3
    widths = [math.log10(s["lr"]["high"] / s["lr"]["low"]) for s in r.rounds]
    assert widths[0] == pytest.approx(4.0) and widths[0] > widths[1] > widths[2]
    # the narrowed range keeps the optimum of the synthetic objective (lr = 3e-3)
    assert r.rounds[-1]["lr"]["low"] < 3e-3 < r.rounds[-1]["lr"]["high"]
    for t in r.trials:
        bounds = r.rounds[t.round - 1]["lr"]
        assert bounds["low"] <= t.config["lr"] <= bounds["high"] and t.source == f"round {t.round}"
    best_first = max(t.score for t in r.trials if t.round == 1)
    assert r.best.score >= best_first


def test_failing_trials_are_recorded_and_the_search_goes_on():
    r = random_search(flaky, SPACE, 12, seed=0, backend="serial")
    failed = [t for t in r.trials if not t.ok]
    assert failed and len(failed) < 12
    assert all(t.score is None and "RuntimeError: diverged at lr" in t.error for t in failed)
    assert r.best.config["lr"] <= 1e-2
    table = r.to_table()
    assert "failed" in table and "error: RuntimeError" in table
    assert table.splitlines()[-1].lstrip().startswith("-")   # failed trials come last


def test_bad_objective_results_are_failures():
    r = random_search(lambda c: {"loss": 1.0}, SPACE, 2, backend="serial")
    assert all("without a 'score' key" in t.error for t in r.trials) and r.best is None
    r = random_search(lambda c: float("nan"), SPACE, 1, backend="serial")
    assert "NaN" in r.trials[0].error
    r = random_search(plain_float, SPACE, 3, backend="serial", mode="min")
    assert r.best.score == min(r.scores())
    assert "every trial failed" in random_search(lambda c: 1 / 0, SPACE, 1, backend="serial").summary()


def test_argument_errors():
    with pytest.raises(ValueError, match="budget must be a positive integer"):
        random_search(synthetic_objective, SPACE, 0, backend="serial")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        random_search(synthetic_objective, SPACE, 2, backend="gpu")
    with pytest.raises(ValueError, match="mode must be"):
        random_search(synthetic_objective, SPACE, 2, backend="serial", mode="best")
    with pytest.raises(TypeError, match="must be callable"):
        random_search("train", SPACE, 2, backend="serial")
    with pytest.raises(TypeError, match="must be picklable"):
        random_search(lambda c: 1.0, SPACE, 2, backend="process")


def test_callback_sees_every_trial():
    seen = []
    random_search(synthetic_objective, SPACE, 5, backend=SerialBackend(), callback=seen.append)
    assert sorted(t.index for t in seen) == list(range(5)) and all(t.ok for t in seen)


def mlp_unless_lr_large(config):
    if config["lr"] > 3e-2:
        raise RuntimeError("lr too large")
    result = MLPObjective("digits", epochs=2, hidden=(32,))(config)
    from threadpoolctl import threadpool_info

    result["blas_threads"] = max(i["num_threads"] for i in threadpool_info()
                                 if i["user_api"] == "blas")
    return result


def test_process_backend_matches_serial():
    """Real training in 2 worker processes gives bit-identical scores to training in this one,
    and a trial that raises in a worker is recorded the same way."""
    space = {"lr": LogUniform(1e-3, 1e-1), "weight_decay": LogUniform(1e-6, 1e-3)}
    serial = random_search(mlp_unless_lr_large, space, 5, seed=0, backend="serial")
    process = random_search(mlp_unless_lr_large, space, 5, seed=0,
                            backend=ProcessBackend(workers=2, threads=1))
    assert [t.config for t in process.trials] == [t.config for t in serial.trials]
    assert process.scores() == serial.scores()
    assert [t.error for t in process.trials] == [t.error for t in serial.trials]
    assert 0 < len(process.failed) < 5
    assert ([t.info.get("train_loss") for t in process.trials]
            == [t.info.get("train_loss") for t in serial.trials])
    assert process.backend == "ProcessBackend(workers=2, threads=1)"
    assert {t.info["blas_threads"] for t in process.completed} == {1}   # no oversubscription


def test_table_json_and_plot(tmp_path):
    from deepbasic.tune.plots import plot_search

    results = compare_random_grid(flaky, SPACE, 9, seed=0, backend="serial")
    r = results["random"]
    table = r.to_table()
    lines = table.splitlines()
    assert lines[0].startswith("random search: 9 trials") and "best score" in lines[0]
    assert lines[1].split()[:4] == ["rank", "trial", "lr", "weight_decay"]
    ranked = [float(line.split()[4]) for line in lines[2:] if not line.lstrip().startswith("-")]
    assert ranked == sorted(ranked, reverse=True)
    assert len(r.to_table(top=3).splitlines()) == 2 + 3

    path = r.save_json(str(tmp_path / "out" / "random.json"))
    data = json.load(open(path))
    assert data["method"] == "random" and len(data["trials"]) == 9
    assert data["best"]["score"] == r.best.score
    assert data["space"]["lr"] == {"type": "LogUniform", "low": 1e-5, "high": 1e-1, "log": True}
    back = SearchResult.load_json(path)
    assert back.scores() == r.scores() and back.best.config == r.best.config
    assert back.to_table() == table

    png = plot_search(results, str(tmp_path / "search.png"), title="test")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 5000
    with pytest.raises(ValueError, match="no hyperparameter 'dropout'"):
        plot_search(results, str(tmp_path / "x.png"), y="dropout")
