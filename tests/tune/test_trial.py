"""The standard objective: an MLP trained with Adam, scored by its best validation accuracy."""
import pickle

import pytest

from deepbasic.tune.trial import MLPObjective, synthetic_objective, trial_data, train_mlp


def test_mlp_objective_is_deterministic_and_picklable():
    objective = MLPObjective("digits", epochs=2, hidden=(32,), seed=1)
    clone = pickle.loads(pickle.dumps(objective))
    a = objective({"lr": 3e-3, "weight_decay": 1e-4})
    b = clone({"lr": 3e-3, "weight_decay": 1e-4})
    assert a == {**b, "train_seconds": a["train_seconds"]}
    assert 0.5 < a["score"] <= 1.0 and 0.5 < a["train_accuracy"] <= 1.0
    assert a["best_epoch"] in (1, 2) and a["train_loss"] > 0
    other = MLPObjective("digits", epochs=2, hidden=(32,), seed=2)({"lr": 3e-3, "weight_decay": 1e-4})
    assert other["train_loss"] != a["train_loss"]   # the seed matters


def test_config_keys_override_and_errors():
    r = train_mlp({"lr": 1e-2, "hidden": 16, "dropout": 0.1, "batch_size": 128}, "digits",
                  epochs=1, train_size=500)
    assert 0.0 <= r["score"] <= 1.0
    with pytest.raises(ValueError, match=r"unknown config keys \['momentum'\]"):
        train_mlp({"lr": 1e-2, "momentum": 0.9}, "digits", epochs=1)
    with pytest.raises(ValueError, match="needs a learning rate 'lr'"):
        train_mlp({"weight_decay": 1e-4}, "digits", epochs=1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        train_mlp({"lr": -1.0}, "digits", epochs=1)
    with pytest.raises(ValueError, match="dropout must be in"):
        train_mlp({"lr": 1e-3, "dropout": 1.0}, "digits", epochs=1)


def test_training_subset_is_stratified_and_checked():
    x, y, xv, yv, classes = trial_data("digits", None, 500)
    assert len(x) == 500 and len(classes) == 10
    full_y = trial_data("digits")[1]
    for k in range(10):   # every class keeps its share of the training split
        assert abs((y == k).sum() - 500 / len(full_y) * (full_y == k).sum()) < 1
    assert len(xv) == len(trial_data("digits")[2])   # validation is always whole
    with pytest.raises(ValueError, match="larger than the 1078 training images"):
        trial_data("digits", None, 5000)


def test_synthetic_objective_peaks_at_3e_3():
    assert synthetic_objective({"lr": 3e-3})["score"] == pytest.approx(0.95)
    assert synthetic_objective({"lr": 3e-3, "weight_decay": 1e-1})["score"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="lr must be > 0"):
        synthetic_objective({"lr": 0.0})
