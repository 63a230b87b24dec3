"""Convolution layers: Conv2d and ConvTranspose2d (PyTorch's names, arguments and parameters)."""
from __future__ import annotations

import math

from deepbasic import init
from deepbasic.creation import zeros
from deepbasic.nn.module import Module, Parameter
from deepbasic.ops.conv import conv2d, conv_transpose2d, conv_transpose_output_size
from deepbasic.ops.im2col import pair, padding_pairs


def _init_conv_params(module: Module, weight_shape: tuple, bias_size: int | None, dtype) -> None:
    """PyTorch's default: weight kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), +..), and
    bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * kH * kW."""
    module.weight = Parameter(zeros(*weight_shape, dtype=dtype))
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if bias_size is None:
        module.register_parameter("bias", None)
        return
    module.bias = Parameter(zeros(bias_size, dtype=dtype))
    fan_in, _ = init.fan_in_and_fan_out(module.weight)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(module.bias, -bound, bound)


def _check_sizes(name: str, in_channels, out_channels, groups, padding_mode) -> None:
    for what, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: {what} must be a positive integer, got {v!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
            f"divisible by groups ({groups})"
        )
    if padding_mode != "zeros":
        raise ValueError(
            f"{name}: padding_mode {padding_mode!r} is not supported, only 'zeros' "
            f"(pad the input with deepbasic.ops.pad first for other borders)"
        )


def _positive(name: str, what: str, value) -> tuple[int, int]:
    p = pair(value, what, name)
    if min(p) < 1:
        raise ValueError(f"{name}: {what} must be positive, got {value!r}")
    return p


def _repr_padding(padding):
    """A padding as the module stores it: "same"/"valid", (ph, pw), or the nested pairs."""
    if isinstance(padding, str):
        return padding
    (t, b), (le, r) = padding_pairs(padding)
    return (t, le) if (t, le) == (b, r) else ((t, b), (le, r))


class _ConvBase(Module):
    def _set_geometry(self, name: str, in_channels: int, out_channels: int, kernel_size, stride,
                      dilation, groups: int, padding_mode: str) -> None:
        """Check and store what Conv2d and ConvTranspose2d share: channels, groups, padding
        mode, and kernel size, stride and dilation as (h, w) pairs of positive ints."""
        _check_sizes(name, in_channels, out_channels, groups, padding_mode)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode = padding_mode
        self.kernel_size = _positive(name, "kernel_size", kernel_size)
        self.stride = _positive(name, "stride", stride)
        self.dilation = _positive(name, "dilation", dilation)

    def extra_repr(self) -> str:  # PyTorch's format
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvBase):
    """2-D convolution layer (cross-correlation, as in PyTorch): im2col + one GEMM per block.

    x: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo), Ho = (H + 2 pH - dH (kH - 1) - 1)
    // sH + 1 (see :func:`deepbasic.ops.conv_output_size`).
    weight: (out_channels, in_channels / groups, kH, kW), bias: (out_channels,).
    padding: int, (pH, pW), "valid" or "same" (stride 1). groups splits the channels into
    independent convolutions. Default init (PyTorch's): weight kaiming_uniform_ with a = sqrt(5),
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias the same, fan_in = in_channels / groups * kH * kW;
    for ReLU networks ``init.kaiming_normal_(m.weight, nonlinearity="relu")`` is the usual choice.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype=None):
        super().__init__()
        name = "Conv2d"
        self._set_geometry(name, in_channels, out_channels, kernel_size, stride, dilation, groups,
                           padding_mode)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a pair, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{name}: padding='same' needs stride 1 (as in PyTorch), got "
                                 f"stride {self.stride}")
        self.padding = _repr_padding(padding)
        _init_conv_params(self, (out_channels, in_channels // groups) + self.kernel_size,
                          out_channels if bias else None, dtype)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class ConvTranspose2d(_ConvBase):
    """2-D transposed convolution layer ("deconvolution"): the adjoint of Conv2d, which upsamples.

    x: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo),
    Ho = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding_h + 1.
    weight: (in_channels, out_channels / groups, kH, kW) (PyTorch's layout), bias: (out_channels,).
    ``forward(x, output_size=(Ho, Wo))`` picks the output_padding that gives that size.
    Default init as PyTorch's (fan_in computed from weight.shape[1] = out_channels / groups).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", dtype=None):
        super().__init__()
        name = "ConvTranspose2d"
        self._set_geometry(name, in_channels, out_channels, kernel_size, stride, dilation, groups,
                           padding_mode)
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a pair, got {padding!r}")
        self.padding = _repr_padding(padding)
        self.output_padding = pair(output_padding, "output_padding", name)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op < 0 or op >= max(s, d):
                raise ValueError(
                    f"{name}: output_padding must be non-negative and smaller than stride or "
                    f"dilation, got output_padding {self.output_padding}, stride {self.stride}, "
                    f"dilation {self.dilation}"
                )
        _init_conv_params(self, (in_channels, out_channels // groups) + self.kernel_size,
                          out_channels if bias else None, dtype)

    def _output_padding(self, x, output_size):
        """The output_padding that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:]
        if len(size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must give (H, W), got {output_size!r}")
        pads = padding_pairs(self.padding)
        out = []
        for axis, n, want, k, s, p, d in zip(("height", "width"), x.shape[-2:], size,
                                              self.kernel_size, self.stride, pads, self.dilation):
            smallest = conv_transpose_output_size(n, k, s, p, 0, d)
            if not smallest <= want < smallest + max(s, d):
                raise ValueError(
                    f"ConvTranspose2d: output_size {tuple(size)} is not reachable from input "
                    f"{tuple(x.shape[-2:])}: the {axis} must be in [{smallest}, "
                    f"{smallest + max(s, d) - 1}]"
                )
            out.append(want - smallest)
        return tuple(out)

    def forward(self, x, output_size=None):
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(x, output_size), self.groups, self.dilation)
