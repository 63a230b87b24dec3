"""RoI pooling for two-stage detectors: the functions and modules around :mod:`deepbasic.ops.roi`.

:func:`roi_pool` (Fast R-CNN) and :func:`roi_align` (Mask R-CNN) turn each region of interest of
a feature map into a fixed (ph, pw) grid of features, so one head can classify boxes of any size:

    features (N, C, H, W) Tensor, rois (K, 5) -> (K, C, ph, pw) Tensor

``rois`` rows are (batch index, x1, y1, x2, y2) in INPUT-IMAGE coordinates; ``spatial_scale`` maps
them onto the feature map (1/16 for VGG16's conv5). A list of per-image (K_i, 4) box arrays is
also accepted (image i's boxes get batch index i, see :func:`boxes_to_rois`); a nested list of
numbers is read as (K, 5) rows. The boxes are data, not parameters: no gradient flows to them
(as in torchvision). Semantics, rounding and the vectorized algorithms are described in
:mod:`deepbasic.ops.roi`.

Defaults differ from torchvision's on purpose: ``roi_align`` uses ``sampling_ratio=2`` and
``aligned=True`` (Detectron2's Mask R-CNN settings); torchvision's function defaults are
``sampling_ratio=-1`` (adaptive) and ``aligned=False``.
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend
from deepbasic.nn.module import Module
from deepbasic.ops import roi as _roi
from deepbasic.tensor import Tensor


def _output_size(fn: str, output_size) -> tuple:
    if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
        size = (int(output_size), int(output_size))
    else:
        try:
            size = tuple(int(v) for v in output_size)
        except (TypeError, ValueError):
            size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{fn}: output_size must be a positive int or a pair of positive ints, "
                         f"got {output_size!r}")
    return size


def boxes_to_rois(boxes) -> np.ndarray:
    """Per-image boxes -> RoIs: a list of N arrays (K_i, 4) xyxy -> (sum K_i, 5) float64 rows
    (i, x1, y1, x2, y2), image 0's boxes first."""
    parts = []
    for i, b in enumerate(boxes):
        arr = backend.to_numpy(b.data if isinstance(b, Tensor) else b).astype(np.float64)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"boxes_to_rois: boxes of image {i} must have shape (K, 4), "
                             f"got shape {tuple(arr.shape)}")
        parts.append(np.concatenate([np.full((len(arr), 1), float(i)), arr], axis=1))
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 5))


def _prepare(fn: str, features, rois, output_size, spatial_scale):
    """Check the arguments: (features Tensor, rois (K, 5) float64 host array, batch (K,) int64,
    (ph, pw), float spatial_scale)."""
    x = features if isinstance(features, Tensor) else Tensor(features)
    if x.ndim != 4:
        raise ValueError(f"{fn}: expected features of shape (N, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise ValueError(f"{fn}: features must be floating point, got dtype {x.dtype}")
    if isinstance(rois, (list, tuple)) and all(hasattr(b, "shape") for b in rois):
        r = boxes_to_rois(rois)  # per-image box arrays (an empty list: no boxes)
    else:
        r = backend.to_numpy(rois.data if isinstance(rois, Tensor) else rois).astype(np.float64)
    if r.ndim != 2 or r.shape[1] != 5:
        raise ValueError(f"{fn}: rois must have shape (K, 5) rows (batch_index, x1, y1, x2, y2), "
                         f"got shape {tuple(r.shape)}")
    if not np.isfinite(r).all():
        bad_rows = int((~np.isfinite(r)).any(axis=1).sum())
        raise ValueError(f"{fn}: rois must be finite, got {bad_rows} rows with NaN or inf")
    idx = r[:, 0]
    n = x.shape[0]
    bad = (idx != np.round(idx)) | (idx < 0) | (idx >= n)
    if bad.any():
        raise ValueError(f"{fn}: rois[:, 0] must be integer batch indices in [0, {n}) for "
                         f"features with N={n}, got {float(idx[bad][0])}")
    size = _output_size(fn, output_size)
    scale = float(spatial_scale)
    if not scale > 0:
        raise ValueError(f"{fn}: spatial_scale must be positive, got {spatial_scale!r}")
    return x, r, idx.astype(np.int64), size, scale


def roi_pool(features, rois, output_size, spatial_scale: float = 1.0) -> Tensor:
    """RoI max pooling (Fast R-CNN), torchvision's ``roi_pool``.

    features: (N, C, H, W) Tensor; rois: (K, 5) (batch index, x1, y1, x2, y2) in image
    coordinates (an array, Tensor or nested list), or a list of per-image (K_i, 4) box arrays;
    output_size: ph or (ph, pw); spatial_scale: feature cells per image pixel. Returns
    (K, C, ph, pw). The box is rounded to
    feature cells and cut into ph x pw bins (floor / ceil edges, so neighbours may share a
    cell); each output is its bin's max (0 for an empty bin); the gradient goes to that maximum
    (the first in row-major order on ties).
    """
    x, r, batch, size, scale = _prepare("roi_pool", features, rois, output_size, spatial_scale)
    rows, cols = _roi.roi_pool_bins(r, size, scale, x.shape[2:])
    return _roi.RoIPool.apply(x, batch=batch, rows=rows, cols=cols)


def roi_align(features, rois, output_size, spatial_scale: float = 1.0, sampling_ratio: int = 2,
              aligned: bool = True) -> Tensor:
    """RoIAlign (Mask R-CNN), torchvision's ``roi_align``.

    features: (N, C, H, W) Tensor; rois: (K, 5) (batch index, x1, y1, x2, y2) in image
    coordinates (an array, Tensor or nested list), or a list of per-image (K_i, 4) box arrays;
    output_size: ph or (ph, pw); spatial_scale: feature cells per image pixel. Returns
    (K, C, ph, pw): each bin is the mean of
    the bilinearly interpolated features at sampling_ratio x sampling_ratio points (adaptive,
    ceil(box size / output size) per axis, when sampling_ratio <= 0). ``aligned=True`` shifts the
    box by -0.5 cell so that sampling is pixel-centred (and does not enlarge boxes smaller than
    a cell). Gradient: each sample's bilinear weights scatter-add the bin's gradient.
    """
    x, r, batch, size, scale = _prepare("roi_align", features, rois, output_size, spatial_scale)
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, (int, np.integer)):
        raise ValueError(f"roi_align: sampling_ratio must be an int (<= 0 for adaptive), "
                         f"got {sampling_ratio!r}")
    wy, wx = _roi.roi_align_weights(r, size, scale, x.shape[2:], int(sampling_ratio),
                                    bool(aligned))
    return _roi.RoIAlign.apply(x, batch=batch, wy=wy, wx=wx)


class RoIPool(Module):
    """RoI max pooling as a module: ``RoIPool(output_size, spatial_scale)(features, rois)`` ->
    (K, C, ph, pw). See :func:`roi_pool`."""

    def __init__(self, output_size, spatial_scale: float = 1.0):
        super().__init__()
        self.output_size = _output_size("RoIPool", output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, features, rois):
        return roi_pool(features, rois, self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


class RoIAlign(Module):
    """RoIAlign as a module: ``RoIAlign(output_size, spatial_scale, sampling_ratio=2,
    aligned=True)(features, rois)`` -> (K, C, ph, pw). See :func:`roi_align`."""

    def __init__(self, output_size, spatial_scale: float = 1.0, sampling_ratio: int = 2,
                 aligned: bool = True):
        super().__init__()
        self.output_size = _output_size("RoIAlign", output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio, self.aligned = int(sampling_ratio), bool(aligned)

    def forward(self, features, rois):
        return roi_align(features, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")
