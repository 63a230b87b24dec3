"""Pooling layers over (N, C, H, W): max, average, adaptive average, and max unpooling.

Each is a thin Module around a function of :mod:`deepbasic.ops.pool`, with PyTorch's names,
arguments and defaults (``stride`` defaults to ``kernel_size``).
"""
from __future__ import annotations

from deepbasic.nn.module import Module
from deepbasic.ops import pool as _pool


class MaxPool2d(Module):
    """Max over each kh x kw window: (N, C, H, W) -> (N, C, Ho, Wo), with
    Ho = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1 (ceil with ``ceil_mode``).

    ``return_indices=True`` makes the call return (output, indices) for :class:`MaxUnpool2d`.
    The gradient of each window goes to its first maximum (row-major), as in PyTorch.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return _pool.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                return_indices=self.return_indices, ceil_mode=self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over each kh x kw window: (N, C, H, W) -> (N, C, Ho, Wo). Zero padding is counted
    in the mean unless ``count_include_pad=False``; ``divisor_override`` replaces the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return _pool.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size: (N, C, H, W) -> (N, C, Ho, Wo) for any H, W
    (``output_size`` an int or a pair; None in the pair keeps that input size)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return _pool.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxUnpool2d(Module):
    """Inverse of :class:`MaxPool2d` where it is invertible: ``unpool(y, indices)`` puts each
    value back at the position its max came from, zeros elsewhere. (N, C, H, W) ->
    (N, C, (H-1) stride - 2 padding + kh, ...) or ``output_size`` given to the call."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pool._pair(kernel_size, "kernel_size", "MaxUnpool2d")
        self.stride = (self.kernel_size if stride is None
                       else _pool._pair(stride, "stride", "MaxUnpool2d"))
        self.padding = _pool._pair(padding, "padding", "MaxUnpool2d")

    def forward(self, x, indices, output_size=None):
        return _pool.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                                  output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
