"""deepbasic.visualize.saliency: saliency maps, guided backprop and occlusion on models whose
answer is known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from deepbasic import nn, ops
from deepbasic.visualize import guided_backprop, input_gradient, occlusion_map, saliency
from deepbasic.visualize.saliency import occlusion_positions
from vis_models import RegionClassifier, mlp, seeded

REGION = (2, 5, 3, 6)  # rows 2..4, cols 3..5 of an 8x8 image


def _inside(region=REGION, size=8):
    r0, r1, c0, c1 = region
    mask = np.zeros((size, size), bool)
    mask[r0:r1, c0:c1] = True
    return mask


def test_saliency_is_zero_outside_the_region_the_classifier_looks_at():
    model = seeded(RegionClassifier(REGION, channels=3))
    x = np.random.default_rng(1).random((5, 3, 8, 8))
    maps = saliency(model, x)
    assert maps.shape == (5, 8, 8)
    inside = _inside()
    assert np.all(maps[:, ~inside] == 0)
    assert np.all(maps[:, inside].sum(axis=1) > 0)
    # it is |gradient| max over channels of the predicted class score
    g = input_gradient(model, x)
    np.testing.assert_allclose(maps, np.abs(g).max(axis=1))


def test_saliency_matches_finite_differences_of_the_target_score():
    model = mlp([12, 7, 3], nn.Tanh, seed=2)
    x = np.random.default_rng(3).random((1, 3, 2, 2))
    target = 1
    g = input_gradient(model, x, target=target)
    eps = 1e-6
    num = np.zeros_like(x)
    from deepbasic.visualize.saliency import scores_of
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (scores_of(model, xp)[0, target] - scores_of(model, xm)[0, target]) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(saliency(model, x, target=target), np.abs(num).max(axis=1),
                               rtol=1e-5, atol=1e-8)


def test_saliency_leaves_the_model_as_it_was():
    model = seeded(RegionClassifier(REGION))
    model.train()
    model.fc1.weight.requires_grad = True
    saliency(model, np.random.default_rng(0).random((2, 1, 8, 8)))
    assert model.training and model.fc2.training
    assert all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_guided_backprop_is_the_plain_gradient_without_relus():
    model = mlp([16, 9, 6, 4], nn.Tanh, seed=4)
    x = np.random.default_rng(5).standard_normal((3, 1, 4, 4))
    np.testing.assert_array_equal(guided_backprop(model, x, target=2),
                                  input_gradient(model, x, target=2))


def test_guided_backprop_gates_relus_by_the_sign_of_the_gradient():
    model = mlp([16, 12, 3], nn.ReLU, seed=6)
    x = np.random.default_rng(7).standard_normal((4, 1, 4, 4))
    w1, b1 = model[1].weight.data, model[1].bias.data
    w2 = model[3].weight.data
    a = x.reshape(4, 16) @ w1.T + b1                       # the ReLU's input
    target = 0
    up = w2[target]                                        # d score / d relu output
    plain = ((a > 0) * up) @ w1
    guided = ((a > 0) * (up > 0) * up) @ w1
    np.testing.assert_allclose(input_gradient(model, x, target=target).reshape(4, 16), plain)
    got = guided_backprop(model, x, target=target)
    np.testing.assert_allclose(got.reshape(4, 16), guided)
    assert np.abs(got.reshape(4, 16) - plain).max() > 1e-3     # the gate changed something
    assert ops.ReLU.backward is not None and "backward" in ops.ReLU.__dict__
    # ReLU's own backward is back after the call
    np.testing.assert_allclose(input_gradient(model, x, target=target).reshape(4, 16), plain)


def test_guided_backprop_of_an_intermediate_neuron():
    model = mlp([16, 12, 8, 3], nn.ReLU, seed=8)
    x = np.random.default_rng(9).standard_normal((2, 1, 4, 4))
    # neuron j of the second Linear: its input-gradient is W2[j] gated by the first ReLU only
    w1, b1, w2 = model[1].weight.data, model[1].bias.data, model[3].weight.data
    a = x.reshape(2, 16) @ w1.T + b1
    for j in (0, 5):
        up = w2[j]
        np.testing.assert_allclose(input_gradient(model, x, layer="3", unit=j).reshape(2, 16),
                                   ((a > 0) * up) @ w1)
        np.testing.assert_allclose(guided_backprop(model, x, layer=model[3], unit=(j,))
                                   .reshape(2, 16), ((a > 0) * (up > 0) * up) @ w1)
    with pytest.raises(ValueError, match="no layer named"):
        guided_backprop(model, x, layer="nope", unit=0)
    with pytest.raises(ValueError, match="outside"):
        guided_backprop(model, x, layer="3", unit=8)


def test_guided_backprop_on_a_convnet_runs_and_is_sparser():
    from deepbasic.models import build_model
    model = seeded(build_model("convnet", input_shape=(1, 8, 8), num_classes=3, channels=(4,)))
    x = np.random.default_rng(0).random((2, 1, 8, 8))
    g, p = guided_backprop(model, x), input_gradient(model, x)
    assert g.shape == p.shape == (2, 1, 8, 8)
    assert np.isfinite(g).all() and not np.allclose(g, p)


def test_occlusion_map_is_zero_where_the_patch_misses_the_region():
    model = seeded(RegionClassifier(REGION))
    image = np.random.default_rng(2).random((1, 8, 8))
    patch = 2
    drop = occlusion_map(model, image, patch=patch, stride=1)
    assert drop.shape == (7, 7)
    r0, r1, c0, c1 = REGION
    hits = np.zeros((7, 7), bool)
    for i in range(7):
        for j in range(7):
            hits[i, j] = i < r1 and i + patch > r0 and j < c1 and j + patch > c0
    np.testing.assert_allclose(drop[~hits], 0, atol=1e-12)
    assert np.abs(drop[hits]).max() > 1e-3
    pix = occlusion_map(model, image, patch=patch, stride=1, per_pixel=True)
    assert pix.shape == (8, 8)
    # a pixel is only covered by patches that miss the region if it is 2 away from it
    far = np.ones((8, 8), bool)
    far[max(r0 - 1, 0):r1 + 1, max(c0 - 1, 0):c1 + 1] = False
    np.testing.assert_allclose(pix[far], 0, atol=1e-12)


def test_occlusion_drop_is_the_probability_change_of_the_occluded_image():
    model = seeded(RegionClassifier(REGION, channels=3))
    image = np.random.default_rng(4).random((3, 8, 8))
    from deepbasic.visualize.saliency import scores_of, softmax
    target = 2
    drop = occlusion_map(model, image, target=target, patch=3, stride=2, fill=0.25,
                         batch_size=5)
    tops = occlusion_positions(8, 3, 2)
    assert list(tops) == [0, 2, 4, 5]
    p0 = softmax(scores_of(model, image[None]))[0, target]
    for a, top in enumerate(tops):
        for b, left in enumerate(tops):
            occluded = image.copy()
            occluded[:, top:top + 3, left:left + 3] = 0.25
            expected = p0 - softmax(scores_of(model, occluded[None]))[0, target]
            assert drop[a, b] == pytest.approx(expected, abs=1e-12)


def test_per_pixel_occlusion_is_the_mean_drop_of_the_covering_patches():
    model = seeded(RegionClassifier(REGION, channels=3))
    image = np.random.default_rng(6).random((3, 8, 8))
    fill = [0.0, 0.5, 1.0]
    drop = occlusion_map(model, image, patch=3, stride=2, fill=fill, batch_size=3)
    pix = occlusion_map(model, image, patch=3, stride=2, fill=fill, per_pixel=True)
    tops = occlusion_positions(8, 3, 2)
    total, count = np.zeros((8, 8)), np.zeros((8, 8))
    for a, top in enumerate(tops):
        for b, left in enumerate(tops):
            total[top:top + 3, left:left + 3] += drop[a, b]
            count[top:top + 3, left:left + 3] += 1
    np.testing.assert_allclose(pix, total / count, atol=1e-12)
    # the fill is per channel: a patch equal to the image changes nothing
    flat = np.broadcast_to(np.array(fill)[:, None, None], (3, 8, 8)).copy()
    np.testing.assert_allclose(occlusion_map(model, flat, patch=2, fill=fill), 0, atol=1e-12)


def test_occlusion_rejects_bad_arguments():
    model = seeded(RegionClassifier(REGION))
    image = np.zeros((1, 8, 8))
    with pytest.raises(ValueError, match="patch"):
        occlusion_map(model, image, patch=9)
    with pytest.raises(ValueError, match="fill must be"):
        occlusion_map(model, image, fill=[0.1, 0.2])
    with pytest.raises(ValueError, match="stride"):
        occlusion_map(model, image, stride=0)
    with pytest.raises(ValueError, match="takes images"):
        occlusion_map(model, np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="target class"):
        saliency(model, np.zeros((2, 1, 8, 8)), target=7)
