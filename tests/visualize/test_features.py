"""deepbasic.visualize.features: activations by hooks, feature vs pixel neighbours."""
from __future__ import annotations

import numpy as np
import pytest

from deepbasic import nn
from deepbasic.models import build_model
from deepbasic.visualize import (activation_grid, activations, hidden_features,
                                 nearest_neighbors, neighbors)
from vis_models import REGION_DEFAULT, RegionClassifier, mlp, seeded


def test_activations_are_the_layer_outputs_and_hooks_are_removed():
    model = mlp([16, 6, 5, 3], nn.ReLU, seed=0)
    x = np.random.default_rng(0).standard_normal((7, 1, 4, 4))
    acts = activations(model, x, batch_size=3)          # default: every ReLU
    assert list(acts) == ["2", "4"]
    w1, b1 = model[1].weight.data, model[1].bias.data
    h1 = np.maximum(x.reshape(7, 16) @ w1.T + b1, 0)
    np.testing.assert_allclose(acts["2"], h1)
    h2 = np.maximum(h1 @ model[3].weight.data.T + model[3].bias.data, 0)
    np.testing.assert_allclose(acts["4"], h2)
    assert all(not m._forward_hooks for m in model.modules())
    only = activations(model, x, model[3])
    np.testing.assert_allclose(only["3"], h1 @ model[3].weight.data.T + model[3].bias.data)


def test_activation_grid_tiles_a_conv_layers_channels():
    model = seeded(build_model("convnet", input_shape=(1, 8, 8), num_classes=3, channels=(5,)))
    x = np.random.default_rng(1).random((2, 1, 8, 8))
    a = activations(model, x, "features.2")["features.2"]
    assert a.shape == (2, 5, 8, 8) and a.min() >= 0
    grid = activation_grid(a[0])
    assert grid.shape == (2 * 9 + 1, 3 * 9 + 1)
    assert grid.min() >= 0 and grid.max() <= 1
    assert activation_grid(a[0], max_channels=2).shape == (10, 19)
    assert activation_grid(np.arange(4.0)).shape == (3, 6)


def test_hidden_features_are_the_input_of_the_last_linear():
    model = mlp([16, 6, 3], nn.ReLU, seed=2)
    x = np.random.default_rng(2).standard_normal((4, 1, 4, 4))
    f = hidden_features(model, x)
    np.testing.assert_allclose(f, np.maximum(x.reshape(4, 16) @ model[1].weight.data.T
                                             + model[1].bias.data, 0))
    assert hidden_features(model, x, layer="1").shape == (4, 6)


def test_nearest_neighbors_agree_with_brute_force():
    rng = np.random.default_rng(3)
    q, d = rng.standard_normal((5, 7)), rng.standard_normal((20, 7))
    idx, dist = nearest_neighbors(q, d, k=4)
    full = np.linalg.norm(q[:, None] - d[None], axis=2)
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1)[:, :4])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :4], atol=1e-7)
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbors(q, d, k=21)


def test_feature_space_and_pixel_space_disagree_as_built():
    # the classifier reads only REGION: an image with the same region but noise elsewhere is its
    # nearest neighbour in feature space, a slightly perturbed copy its nearest in pixel space
    model = seeded(RegionClassifier(REGION_DEFAULT))
    rng = np.random.default_rng(4)
    query = rng.random((1, 1, 8, 8))
    r0, r1, c0, c1 = REGION_DEFAULT
    same_region = rng.random((1, 8, 8)) * 3
    same_region[:, r0:r1, c0:c1] = query[0, :, r0:r1, c0:c1]
    near_pixels = query[0] + 0.05 * rng.standard_normal((1, 8, 8))
    others = rng.random((6, 1, 8, 8))
    database = np.concatenate([others[:3], same_region[None], others[3:], near_pixels[None]])
    r = neighbors(model, query, database, k=3)
    assert r["feature"][0, 0] == 3 and r["feature_distance"][0, 0] == pytest.approx(0, abs=1e-6)
    assert r["pixel"][0, 0] == 7
    assert r["pixel"][0, 0] != r["feature"][0, 0]
