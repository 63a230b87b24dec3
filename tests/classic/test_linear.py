"""Linear classifiers: accuracy on digits, the loss goes down, L1 vs L2, templates, errors."""
import os

import numpy as np
import pytest

from deepbasic.classic import LinearClassifier, plot_loss_history, plot_weight_templates


@pytest.fixture(scope="module")
def digits():
    from deepbasic.data import load_dataset

    return load_dataset("digits")


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_reaches_90_percent_on_digits_and_loss_decreases(loss, digits):
    clf = LinearClassifier(loss=loss, reg=1e-4, lr=0.05, epochs=20, seed=0)
    clf.fit(digits.train.x, digits.train.y)
    assert clf.score(digits.test.x, digits.test.y) > 0.9
    h = clf.loss_history_
    assert len(h) == 20 and h[-1] < 0.5 * h[0] and h[-1] <= min(h[:5])
    assert clf.coef_.shape == (10, 64) and clf.intercept_.shape == (10,)
    assert clf.decision_function(digits.test.x[:3]).shape == (3, 10)


def test_other_optimizer_and_validation_history(digits):
    clf = LinearClassifier(loss="softmax", optimizer="adam", lr=1e-2, epochs=5)
    clf.fit(digits.train.x, digits.train.y, digits.val.x, digits.val.y)
    assert len(clf.val_history_) == 5 and clf.val_history_[-1] > 0.85


def test_l1_makes_more_weights_near_zero_than_l2(digits):
    kw = dict(loss="softmax", reg=1e-3, lr=0.05, epochs=15, preprocess="none", seed=0)
    l1 = LinearClassifier(reg_type="l1", **kw).fit(digits.train.x, digits.train.y)
    l2 = LinearClassifier(reg_type="l2", **kw).fit(digits.train.x, digits.train.y)
    small1 = np.mean(np.abs(l1.coef_) < 1e-2)
    small2 = np.mean(np.abs(l2.coef_) < 1e-2)
    assert small1 > small2 + 0.1, (small1, small2)


def test_regularization_shrinks_weights(digits):
    kw = dict(loss="svm", lr=0.05, epochs=5, seed=0)
    weak = LinearClassifier(reg=0.0, **kw).fit(digits.train.x, digits.train.y)
    strong = LinearClassifier(reg=1e-1, **kw).fit(digits.train.x, digits.train.y)
    assert np.abs(strong.coef_).sum() < 0.5 * np.abs(weak.coef_).sum()


def test_string_labels_and_templates(digits, tmp_path):
    names = np.array([f"c{i}" for i in range(10)])
    clf = LinearClassifier(epochs=3).fit(digits.train.x, names[digits.train.y])
    assert set(clf.predict(digits.test.x[:20])) <= set(names)
    assert clf.templates((1, 8, 8)).shape == (10, 1, 8, 8)
    p = plot_weight_templates(clf.coef_, (1, 8, 8), clf.classes_, str(tmp_path / "t.png"))
    q = plot_loss_history({"softmax": clf.loss_history_}, str(tmp_path / "loss.png"))
    for path in (p, q):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(path) > 1000


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_clear_errors(digits):
    X, y = digits.train.x, digits.train.y
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearClassifier().predict(X)
    with pytest.raises(ValueError, match="loss must be"):
        LinearClassifier(loss="hinge").fit(X, y)
    with pytest.raises(ValueError, match="reg_type"):
        LinearClassifier(reg_type="l3").fit(X, y)
    with pytest.raises(ValueError, match="optimizer must be"):
        LinearClassifier(optimizer="nope").fit(X, y)
    with pytest.raises(ValueError, match="epochs"):
        LinearClassifier(epochs=0).fit(X, y)
    clf = LinearClassifier(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="10 features.*64"):
        clf.predict(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="lower lr"):
        LinearClassifier(loss="svm", lr=1e30, epochs=3, preprocess="none").fit(X * 1e20, y)
