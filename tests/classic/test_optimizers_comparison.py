"""compare_optimizers: every method trains the same softmax regression; L-BFGS gets further in
the same number of iterations; the two-panel figure is a PNG."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic import optim
from deepbasic.classic.optimizers import (DEFAULT_LR, METHODS, compare_optimizers,
                                          comparison_table, make_optimizer,
                                          plot_optimizer_comparison)
from deepbasic.nn import Parameter
from deepbasic.nn import functional as F


def blobs(n=120, d=5, c=3, seed=0):
    """Well-conditioned small data: Gaussian blobs around random class means."""
    r = np.random.default_rng(seed)
    means = r.standard_normal((c, d)) * 1.5
    y = r.integers(0, c, n)
    x = means[y] + r.standard_normal((n, d))
    return x, y


@pytest.fixture(scope="module")
def histories():
    x, y = blobs()
    xt, yt = blobs(60, seed=1)
    return compare_optimizers(x, y, iterations=15, reg=1e-3, seed=0, x_test=xt, y_test=yt)


def test_every_method_lowers_the_loss(histories):
    assert list(histories) == list(METHODS)
    for m, h in histories.items():
        assert not h["diverged"], m
        assert len(h["loss"]) == len(h["seconds"]) == len(h["evals"]) == 16
        assert len(h["iteration_seconds"]) == 15
        assert h["loss"][-1] < h["loss"][0], m
        assert h["final_loss"] == h["loss"][-1]
        assert h["seconds"][0] == 0 and np.all(np.diff(h["seconds"]) >= 0)
        np.testing.assert_allclose(np.cumsum(h["iteration_seconds"]), h["seconds"][1:])
        assert h["lr"] == DEFAULT_LR[m]
        assert 0 <= h["test_accuracy"] <= 1 and h["train_accuracy"] > 0.5
    # all start from the same point
    assert len({round(h["loss"][0], 12) for h in histories.values()}) == 1
    # first-order methods: one evaluation per iteration; L-BFGS: the start and the line search,
    # then the line search alone (the start point's loss comes from the previous search)
    assert histories["adam"]["evals"] == list(range(16))
    ev = np.diff(histories["lbfgs"]["evals"])
    assert ev[0] >= 2 and ev[1:].min() >= 1 and histories["lbfgs"]["total_evals"] < 2 * 15


def test_lbfgs_beats_sgd_in_the_same_iterations(histories):
    assert histories["lbfgs"]["final_loss"] < histories["sgd"]["final_loss"]
    assert histories["lbfgs"]["final_loss"] < min(h["final_loss"] for m, h in histories.items()
                                                  if m != "lbfgs")


def test_plot_is_a_png(histories, tmp_path):
    path = plot_optimizer_comparison(histories, str(tmp_path / "sub" / "optimizers.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "sub" / "optimizers.png").stat().st_size > 5000
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.endswith(".tmp")]


def test_table_lists_every_method(histories):
    table = comparison_table(histories)
    for m in METHODS:
        assert m in table
    assert "final loss" in table and "test acc" in table


def test_lbfgs_reuses_the_line_search_evaluation():
    """The recorded L-BFGS run is the run of one long step(): same points, same losses."""
    x, y = blobs()
    h = compare_optimizers(x, y, iterations=10, methods=["lbfgs"], reg=1e-3)["lbfgs"]
    xs = (x - x.mean(axis=0)) / (x - x.mean(axis=0)).std()
    W = Parameter(1e-3 * np.random.default_rng(0).standard_normal((3, 5)))
    b = Parameter(np.zeros(3))
    opt = optim.LBFGS([W, b], max_iter=10, max_eval=1000, tolerance_grad=0, tolerance_change=0,
                      history_size=20, line_search_fn="strong_wolfe")
    losses = []

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(db.tensor(xs) @ W.T + b, db.tensor(y)) + 1e-3 * (W * W).sum()
        loss.backward()
        losses.append(float(loss))
        return loss

    opt.step(closure)
    assert h["total_evals"] == len(losses)
    np.testing.assert_allclose(h["final_loss"], float(closure()), rtol=1e-9)


def test_image_input_selection_and_lr_override():
    r = np.random.default_rng(0)
    x = r.random((40, 1, 4, 4))
    y = np.where(x.reshape(40, -1).mean(axis=1) > 0.5, "bright", "dark")
    h = compare_optimizers(x, y, iterations=3, methods=["adam", "lbfgs"], lrs={"adam": 0.1},
                           dtype="float32")
    assert list(h) == ["adam", "lbfgs"] and h["adam"]["lr"] == 0.1
    assert h["adam"]["test_accuracy"] is None


def test_divergence_is_recorded():
    x, y = blobs()
    with np.errstate(all="ignore"):  # W grows by 2e8 per step until the loss overflows
        h = compare_optimizers(x, y, iterations=40, methods=["sgd"], lrs={"sgd": 1e8},
                               reg=1.0)["sgd"]
    assert h["diverged"] and not np.isfinite(h["final_loss"])
    assert len(h["loss"]) < 41 and len(h["seconds"]) == len(h["loss"])


@pytest.mark.parametrize("kwargs,message", [
    (dict(methods=["sgd", "newton"]), "methods must be a non-empty selection of sgd"),
    (dict(methods=[]), "methods must be a non-empty selection"),
    (dict(iterations=0), "iterations must be a positive integer, got 0"),
    (dict(reg=-1.0), "reg must be a number >= 0, got -1.0"),
    (dict(lrs={"adamw": 0.1}), r"lrs has unknown methods \['adamw'\]"),
    (dict(lrs={"sgd": -0.1}), "the learning rate of sgd must be a positive number, got -0.1"),
])
def test_bad_arguments(kwargs, message):
    x, y = blobs(20)
    with pytest.raises(ValueError, match=message):
        compare_optimizers(x, y, **kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"y must have shape \(20,\) to match x, got \(19,\)"):
        compare_optimizers(np.zeros((20, 3)), np.zeros(19))
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        compare_optimizers(np.zeros(20), np.zeros(20))
    with pytest.raises(ValueError, match="method must be one of"):
        make_optimizer("lbfgs2", [])
    with pytest.raises(ValueError, match="no histories"):
        plot_optimizer_comparison({}, "x.png")
