"""deepbasic.visualize.figures: each figure is written as a PNG; shapes are checked."""
from __future__ import annotations

import numpy as np
import pytest

from deepbasic import nn
from deepbasic.visualize import (activations, class_visualization, fooling_image, guided_backprop,
                                 neighbors, occlusion_map, saliency)
from deepbasic.visualize.figures import (display_image, plot_activations, plot_fooling,
                                         plot_gradients, plot_images, plot_neighbors,
                                         plot_occlusion, plot_saliency)
from vis_models import mlp


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_every_figure_is_a_png(tmp_path):
    model = mlp([48, 10, 3], nn.ReLU, seed=0)
    x = np.random.default_rng(0).random((3, 3, 4, 4))
    paths = [
        plot_saliency(x, saliency(model, x), str(tmp_path / "s.png"), titles=["a", "b", "c"]),
        plot_gradients(x, guided_backprop(model, x), str(tmp_path / "g.png")),
        plot_occlusion(x[0], occlusion_map(model, x[0], patch=2, per_pixel=True),
                       str(tmp_path / "o.png")),
        plot_occlusion(x[0], occlusion_map(model, x[0], patch=2, stride=2),
                       str(tmp_path / "o2.png")),
        plot_images(class_visualization(model, 1, shape=(3, 4, 4), steps=3).image,
                    str(tmp_path / "c.png"), titles=["class 1"]),
        plot_fooling(x[0], fooling_image(model, x[0], 2).image, str(tmp_path / "f.png")),
        plot_activations(activations(model, x), str(tmp_path / "a.png")),
        plot_neighbors(x[:2], x, neighbors(model, x[:2], x, k=2), str(tmp_path / "n.png"),
                       labels=["p", "q", "r"]),
    ]
    assert all(_is_png(p) for p in paths)


def test_display_image_and_shape_checks(tmp_path):
    grey = display_image(np.array([[[0.0, 2.0], [-1.0, 0.5]]]))
    np.testing.assert_array_equal(grey, [[0.0, 1.0], [0.0, 0.5]])
    np.testing.assert_allclose(display_image(np.array([[[0.0, 2.0]]]), normalize=True), [[0, 1]])
    assert display_image(np.zeros((3, 2, 5))).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        display_image(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="do not match"):
        plot_saliency(np.zeros((2, 1, 4, 4)), np.zeros((2, 3, 3)), str(tmp_path / "x.png"))
