"""deepbasic.visualize.filters: the filter grid, its PNG, and a model's first convolution."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from deepbasic import nn
from deepbasic.models import build_model
from deepbasic.visualize import filter_grid, first_conv, grid_shape, plot_filters


def _png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    data = open(path, "rb").read(32)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("n,shape", [(1, (1, 1)), (2, (1, 2)), (3, (2, 2)), (6, (2, 3)),
                                     (16, (4, 4)), (32, (6, 6)), (64, (8, 8)), (96, (10, 10))])
def test_grid_is_as_square_as_possible(n, shape):
    assert grid_shape(n) == shape
    rows, cols = shape
    assert rows * cols >= n > (rows - 1) * cols


def test_grey_grid_layout_and_per_filter_normalization():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 1, 3, 4))
    w[1] *= 100.0                                   # scales do not leak between filters
    w[4] = 7.0                                      # a constant filter
    grid = filter_grid(w, pad=1)
    assert grid.shape == (2 * 4 + 1, 3 * 5 + 1)     # 2 x 3 grid of 3x4 tiles, 1-pixel borders
    for i in range(4):
        top, left = 1 + (i // 3) * 4, 1 + (i % 3) * 5
        tile = grid[top:top + 3, left:left + 4]
        expected = (w[i, 0] - w[i].min()) / (w[i].max() - w[i].min())
        np.testing.assert_allclose(tile, expected)
        assert tile.min() == 0.0 and tile.max() == 1.0
    np.testing.assert_array_equal(grid[5:8, 6:10], 0.5)     # filter 4, constant
    np.testing.assert_array_equal(grid[5:8, 11:15], 1.0)    # the empty sixth cell
    assert (grid[0] == 1.0).all() and (grid[:, 0] == 1.0).all()


def test_rgb_grid_normalizes_over_the_three_channels_together():
    w = np.zeros((2, 3, 2, 2))
    w[0, 0] = 1.0                                   # a pure red filter stays red
    w[1] = np.arange(12).reshape(3, 2, 2)
    grid = filter_grid(w, pad=0)
    assert grid.shape == (2, 4, 3)
    np.testing.assert_array_equal(grid[:, :2], np.broadcast_to([1.0, 0.0, 0.0], (2, 2, 3)))
    np.testing.assert_allclose(grid[:, 2:], w[1].transpose(1, 2, 0) / 11.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_png_is_written_with_the_grid_aspect(tmp_path, channels):
    rng = np.random.default_rng(1)
    wide = plot_filters(rng.standard_normal((8, channels, 5, 5)), str(tmp_path / "a" / "f.png"),
                        title="eight filters")          # 3 x 3 grid
    assert wide == str(tmp_path / "a" / "f.png")
    w3, h3 = _png_size(wide)
    many = plot_filters(rng.standard_normal((64, channels, 3, 3)).astype(np.float32),
                        str(tmp_path / "many.png"))    # 8 x 8 grid: a larger figure
    w8, h8 = _png_size(many)
    assert w8 > w3 and h8 > h3
    for w, h in ((w3, h3), (w8, h8)):
        assert 0.8 < w / h < 1.25                      # square grids, plus the title line
    strip = plot_filters(rng.standard_normal((2, channels, 3, 3)), str(tmp_path / "two.png"))
    w2, h2 = _png_size(strip)                            # 1 x 2 grid: wider than tall
    assert w2 > 1.3 * h2


def test_accepts_a_parameter_and_checks_the_shape(tmp_path):
    conv = nn.Conv2d(3, 4, 3)
    assert filter_grid(conv.weight).shape == (2 * 4 + 1, 2 * 4 + 1, 3)
    with pytest.raises(ValueError, match=r"C = 1 \(grey\) or 3 \(RGB\), got shape \(4, 2, 3, 3\)"):
        plot_filters(np.zeros((4, 2, 3, 3)), str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match=r"\(F, C, kh, kw\).*got shape \(4, 9\)"):
        filter_grid(np.zeros((4, 9)))
    with pytest.raises(ValueError, match="got shape \\(0, 1, 3, 3\\)"):
        filter_grid(np.zeros((0, 1, 3, 3)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        filter_grid(np.full((1, 1, 2, 2), np.nan))
    assert not (tmp_path / "x.png").exists()


def test_first_conv_finds_the_layer_applied_to_the_input():
    convnet = build_model("convnet", (1, 28, 28), 10)
    assert first_conv(convnet) is convnet.features[0] is convnet.first_conv
    assert first_conv(convnet).weight.shape == (32, 1, 3, 3)
    resnet = build_model("resnet20", (3, 32, 32), 10)
    assert first_conv(resnet) is resnet.conv1
    googlenet = build_model("googlenet", (3, 64, 64), 10)
    assert first_conv(googlenet) is googlenet.conv1.conv
    mixed = nn.Sequential(nn.ConvTranspose2d(3, 3, 2), nn.ReLU(), nn.Conv2d(3, 8, 3))
    assert first_conv(mixed) is mixed[2]                # a transposed convolution is not one


def test_first_conv_of_a_model_without_convolutions_is_a_clear_error():
    with pytest.raises(ValueError, match="first_conv: MLP has no Conv2d layer"):
        first_conv(build_model("mlp", (1, 28, 28), 10))
