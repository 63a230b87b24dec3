"""Upsampling layers: resize (N, C, H, W) feature maps by nearest or bilinear interpolation."""
from __future__ import annotations

from deepbasic.nn.module import Module
from deepbasic.ops.upsample import interpolate


class Upsample(Module):
    """Resize to ``size`` (Ho, Wo) or by ``scale_factor`` (Ho = floor(H * s)), as
    ``torch.nn.Upsample``: mode 'nearest' (default) or 'bilinear' (``align_corners`` False
    by default). See :func:`deepbasic.ops.upsample.interpolate`."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Upsample: mode must be 'nearest' or 'bilinear', got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor, got "
                             f"size={size!r}, scale_factor={scale_factor!r}")
        if align_corners is not None and mode == "nearest":
            raise ValueError("Upsample: align_corners can only be set with mode='bilinear'")
        self.size = size
        if isinstance(scale_factor, (int, float)):
            scale_factor = float(scale_factor)  # as PyTorch stores it (and shows it in repr)
        self.scale_factor = scale_factor
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"scale_factor={self.scale_factor}" if self.size is None else f"size={self.size}"
        return f"{what}, mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)``, as PyTorch's."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
