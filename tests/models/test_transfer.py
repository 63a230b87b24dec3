"""Transfer-learning surgery: replacing the classifier, freezing and unfreezing parameters."""
from __future__ import annotations

import numpy as np
import pytest

import deepbasic as db
from deepbasic import nn, optim
from deepbasic.models import build_model
from deepbasic.models.transfer import classifier_name, freeze, replace_classifier, unfreeze


def _convnet(num_classes=5, seed=0):
    db.manual_seed(seed)
    return build_model("convnet", (1, 8, 8), num_classes, channels=(4, 8))


def _batch(n=6, seed=1):
    rng = np.random.default_rng(seed)
    x = db.tensor(rng.standard_normal((n, 1, 8, 8)).astype(np.float32))
    y = db.tensor(rng.integers(0, 3, n))
    return x, y


class TwoHeads(nn.Module):
    """fc and fc2: a prefix must match whole name parts (``fc`` is not ``fc2``)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        return self.fc2(self.fc(x))


def test_classifier_name_is_the_last_linear():
    assert classifier_name(_convnet()) == "classifier.2"
    assert classifier_name(build_model("resnet20", (3, 32, 32), 10)) == "fc"
    assert classifier_name(TwoHeads()) == "fc2"
    with pytest.raises(ValueError, match="no Linear layer"):
        classifier_name(nn.Sequential(nn.ReLU()))


def test_replace_classifier_gives_a_fresh_linear_of_the_right_shape():
    model = _convnet(5)
    old = model.classifier[2]
    new = replace_classifier(model, 3)
    assert model.classifier[2] is new and new is not old
    assert isinstance(new, nn.Linear)
    assert (new.in_features, new.out_features) == (old.in_features, 3)
    assert new.weight.shape == (3, old.in_features) and new.bias.shape == (3,)
    assert new.weight.requires_grad and new.bias.requires_grad
    # a new initialization, not a slice of the old weights
    assert not np.array_equal(new.weight.data, old.weight.data[:3])
    bound = 1 / np.sqrt(old.in_features)
    assert np.abs(new.weight.data).max() <= bound
    # the order of the Sequential and the names of the state dict are kept
    assert [k for k, _ in model.classifier.named_children()] == ["0", "1", "2"]
    assert model.state_dict()["classifier.2.weight"].shape == (3, old.in_features)
    x, _ = _batch()
    model.eval()
    assert model(x).shape == (6, 3)


def test_replace_classifier_keeps_bias_choice_dtype_and_mode():
    model = TwoHeads().double()
    model.eval()
    new = replace_classifier(model, 7)
    assert new.bias is None and new.weight.data.dtype == np.float64
    assert new.training is False
    assert model(db.tensor(np.ones((2, 4)))).shape == (2, 7)
    new = replace_classifier(model, 2, name="fc")  # an inner Linear by name
    assert model.fc is new and new.out_features == 2 and new.bias is not None


def test_replace_classifier_draws_from_the_global_generator():
    heads = []
    for _ in range(2):
        model = _convnet()
        db.manual_seed(42)
        heads.append(replace_classifier(model, 3).weight.data.copy())
    np.testing.assert_array_equal(heads[0], heads[1])


@pytest.mark.parametrize("num_classes", [0, -1, 2.5, True, "3"])
def test_replace_classifier_rejects_bad_class_counts(num_classes):
    with pytest.raises(ValueError, match="positive int"):
        replace_classifier(_convnet(), num_classes)


def test_replace_classifier_rejects_bad_names():
    model = _convnet()
    with pytest.raises(ValueError, match="no module 'classifier.9'"):
        replace_classifier(model, 3, name="classifier.9")
    with pytest.raises(ValueError, match="no module 'head'"):
        replace_classifier(model, 3, name="head.0")
    with pytest.raises(ValueError, match="features.0 is a Conv2d, not a Linear"):
        replace_classifier(model, 3, name="features.0")


def test_freeze_leaves_only_the_named_parameters_trainable():
    model = _convnet()
    left = freeze(model, trainable=("classifier.2",))
    assert left == ["classifier.2.weight", "classifier.2.bias"]
    for name, p in model.named_parameters():
        assert p.requires_grad == name.startswith("classifier.2."), name
    assert model.num_parameters(trainable_only=True) == model.classifier[2].weight.numel() + 5
    # a single name works as well as a tuple of them
    assert freeze(model, "classifier.2") == left


def test_frozen_modules_stay_in_eval_mode_under_train():
    model = _convnet()
    freeze(model, ("classifier.2",))
    model.train()
    modes = {name: m.training for name, m in model.named_modules()}
    assert modes["features"] is False
    assert modes["features.0"] is False and modes["features.1"] is False  # conv, batch norm
    assert isinstance(model.features[1], nn.BatchNorm2d)
    assert modes["classifier.2"] is True
    # no parameters of their own: dropout before the new head still regularizes it
    assert isinstance(model.classifier[1], nn.Dropout) and modes["classifier.1"] is True
    assert model.training is True
    model.eval()
    assert not any(m.training for m in model.modules())


def test_optimizer_step_leaves_frozen_weights_and_batchnorm_statistics_unchanged():
    model = _convnet(5)
    replace_classifier(model, 3)
    freeze(model, (classifier_name(model),))
    before = model.state_dict()
    # every parameter handed to the optimizer, with weight decay: frozen ones must still not move
    opt = optim.Adam(model.parameters(), lr=1e-2, weight_decay=0.1)
    model.train()
    for step in range(3):
        x, y = _batch(seed=step)
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(x), y).backward()
        for name, p in model.named_parameters():
            assert (p.grad is None) == (not name.startswith("classifier.2.")), name
        opt.step()
    after = model.state_dict()
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    assert changed == {"classifier.2.weight", "classifier.2.bias"}
    for k in ("features.1.running_mean", "features.1.running_var",
              "features.1.num_batches_tracked"):
        assert after[k].tobytes() == before[k].tobytes()


def test_frozen_batchnorm_normalizes_with_running_statistics():
    model = _convnet()
    freeze(model, ("classifier.2",))
    model.train()
    x, _ = _batch()
    features_train = model.features(x).numpy()
    model.eval()
    np.testing.assert_array_equal(features_train, model.features(x).numpy())


def test_freeze_matches_whole_name_parts_and_replaces_earlier_marks():
    model = TwoHeads()
    assert freeze(model, "fc") == ["fc.weight", "fc.bias"]
    assert not model.fc2.weight.requires_grad and model.fc2.__dict__.get("frozen")
    assert freeze(model, ["fc2"]) == ["fc2.weight"]
    assert model.fc.__dict__.get("frozen") and not model.fc2.__dict__.get("frozen")
    model.train()
    assert model.fc2.training and not model.fc.training


def test_freeze_everything_and_unfreeze():
    model = _convnet()
    assert freeze(model) == []
    assert model.num_parameters(trainable_only=True) == 0
    model.train()
    assert not model.features.training and not model.classifier[2].training
    unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())
    assert not any("frozen" in m.__dict__ for m in model.modules())
    assert model.training and all(m.training for m in model.modules())  # mode restored


def test_unfreeze_lets_every_parameter_learn_again():
    model = _convnet()
    replace_classifier(model, 3)
    freeze(model, "classifier.2")
    unfreeze(model)
    before = model.state_dict()
    opt = optim.SGD(model.parameters(), lr=0.1)
    model.train()
    x, y = _batch()
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(x), y).backward()
    opt.step()
    after = model.state_dict()
    for k in ("features.0.weight", "features.1.weight", "features.1.running_mean",
              "classifier.2.weight"):
        assert not np.array_equal(before[k], after[k]), k


def test_freeze_rejects_names_that_match_no_parameter():
    model = _convnet()
    with pytest.raises(ValueError, match="no parameter of ConvNet is under 'head'"):
        freeze(model, ("classifier.2", "head"))
    with pytest.raises(ValueError, match="'classifier.1'"):
        freeze(model, "classifier.1")  # dropout: it holds no parameter
    # nothing was changed by the failed calls
    assert all(p.requires_grad for p in model.parameters())
