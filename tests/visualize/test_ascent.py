"""deepbasic.visualize.ascent: gradient ascent raises what it should, fooling images fool."""
from __future__ import annotations

import numpy as np
import pytest

from deepbasic import nn
from deepbasic.models import build_model
from deepbasic.visualize import activation_maximization, class_visualization, fooling_image
from deepbasic.visualize.ascent import gaussian_blur, gaussian_kernel
from deepbasic.visualize.saliency import scores_of
from vis_models import mlp, seeded


def _convnet(seed=0):
    return seeded(build_model("convnet", input_shape=(1, 8, 8), num_classes=4, channels=(4, 6),
                              dropout=0.0), seed)


def test_every_plain_gradient_step_raises_the_regularized_class_score():
    model = _convnet()
    r = class_visualization(model, target=2, steps=25, lr=0.05, l2=1e-2, blur_every=0, jitter=0,
                            clip=None)
    obj = np.array([h["objective"] for h in r.history])
    assert len(obj) == 26 and r.image.shape == (1, 8, 8)
    assert np.all(np.diff(obj) > 0)
    assert r.history[-1]["score"] > r.history[0]["score"]


def test_steps_followed_by_a_blur_are_the_only_ones_allowed_to_fall():
    model = mlp([64, 20, 5], nn.Tanh, seed=3)
    blur_every = 4
    r = class_visualization(model, target=1, shape=(1, 8, 8), steps=21, lr=0.1, l2=1e-3,
                            blur_every=blur_every, blur_sigma=1.0, jitter=0, clip=None)
    obj = np.array([h["objective"] for h in r.history])
    for t in range(len(obj) - 1):
        if (t + 1) % blur_every:
            assert obj[t + 1] > obj[t], t


def test_l2_regularization_shrinks_the_image():
    model = mlp([16, 3], nn.Tanh, seed=1)              # a linear classifier
    kw = dict(shape=(1, 4, 4), steps=60, lr=0.3, blur_every=0, jitter=0, clip=None)
    weak = class_visualization(model, 0, l2=1e-4, **kw).image
    strong = class_visualization(model, 0, l2=1.0, **kw).image
    assert np.linalg.norm(strong) < np.linalg.norm(weak)
    # with a linear score the optimum of s(I) - l2 |I|^2 is w / (2 l2)
    w = model[1].weight.data[0].reshape(1, 4, 4)
    np.testing.assert_allclose(strong, w / 2.0, atol=0.2)


def test_jitter_blur_and_clip_still_raise_the_score_and_keep_the_range():
    model = _convnet(seed=5)
    r = class_visualization(model, target=0, steps=60, lr=0.3, seed=1)
    assert r.image.min() >= 0.0 and r.image.max() <= 1.0
    assert r.history[-1]["score"] > r.history[0]["score"] + 1.0


def test_activation_maximization_raises_the_neuron():
    model = mlp([16, 10, 6, 3], nn.ReLU, seed=2)
    r = activation_maximization(model, "3", 4, shape=(1, 4, 4), steps=20, lr=0.05, l2=0.0,
                                blur_every=0, jitter=0, clip=None,
                                init=np.full((1, 4, 4), 0.5))
    score = np.array([h["score"] for h in r.history])
    assert np.all(np.diff(score) > 0)
    with pytest.raises(ValueError, match="no layer named"):
        activation_maximization(model, "9", 0, shape=(1, 4, 4), steps=1)


def test_fooling_image_is_classified_as_the_target_with_a_small_change():
    model = _convnet(seed=7)
    image = np.random.default_rng(0).random((1, 8, 8))
    pred = scores_of(model, image[None])[0].argmax()
    target = (pred + 1) % 4
    r = fooling_image(model, image, target, lr=0.05, max_steps=500)
    assert r.success and r.predicted == target and r.steps >= 1
    assert scores_of(model, r.image[None])[0].argmax() == target
    assert np.linalg.norm(r.image - image) <= r.steps * 0.05 + 1e-9
    # one step fewer is not enough: the steps are the fewest of this size
    short = fooling_image(model, image, target, lr=0.05, max_steps=r.steps - 1)
    assert not short.success
    assert scores_of(model, short.image[None])[0].argmax() != target
    # already the target: no step
    same = fooling_image(model, image, int(pred))
    assert same.steps == 0 and np.array_equal(same.image, image)
    with pytest.raises(ValueError, match="target class"):
        fooling_image(model, image, 4)


def test_gaussian_blur_matches_a_direct_convolution():
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 9, 7))
    sigma = 1.0
    k = gaussian_kernel(sigma)
    assert k.sum() == pytest.approx(1.0) and len(k) == 7
    # reference: 2-D kernel, reflect padding, explicit sum
    k2 = np.outer(k, k)
    p = np.pad(x, [(0, 0), (0, 0), (3, 3), (3, 3)], mode="reflect")
    ref = np.zeros_like(x)
    for i in range(7):
        for j in range(7):
            ref += k2[i, j] * p[..., i:i + 9, j:j + 7]
    np.testing.assert_allclose(gaussian_blur(x, sigma), ref)
    np.testing.assert_allclose(gaussian_blur(np.full((4, 4), 0.3), 2.0), 0.3)
    np.testing.assert_array_equal(gaussian_blur(x, 0), x)
