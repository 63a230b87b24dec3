"""Normalization layers: BatchNorm1d, BatchNorm2d, LayerNorm and LocalResponseNorm."""
from __future__ import annotations

from deepbasic.creation import ones, zeros
from deepbasic.nn import functional as F
from deepbasic.nn.module import Module, Parameter
from deepbasic.ops.norm2d import local_response_norm


class _BatchNorm(Module):
    """Shared state of batch norm layers: weight/bias (C,), running_mean/var (C,), counter.

    In training the running statistics move towards the batch's: r = (1 - momentum) r +
    momentum * batch_stat; ``momentum=None`` uses the cumulative average, momentum = 1 / t
    at the t-th batch (as PyTorch).
    """

    expected_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype))
            self.bias = Parameter(zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64"))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self.expected_dims:
            shapes = " or ".join({2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}[d] for d in self.expected_dims)
            raise ValueError(f"{name}: expected input {shapes}, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: input has {x.shape[1]} channels (shape {tuple(x.shape)}), "
                f"expected {self.num_features}"
            )
        use_batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if momentum is None:  # cumulative moving average: r_t = mean of the t batch stats
                momentum = 1.0 / float(self.num_batches_tracked.item())
        return F.batch_norm(
            x,
            self.running_mean if self.track_running_stats else None,
            self.running_var if self.track_running_stats else None,
            self.weight, self.bias, use_batch_stats, momentum, self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L): each channel standardized with the batch's
    mean and variance in training, with running estimates (momentum 0.1) in evaluation, then
    scaled by weight (init 1) and shifted by bias (init 0).
    """

    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Spatial batch normalization of (N, C, H, W): each channel standardized with the mean and
    (biased) variance over its N*H*W values in training, with running estimates (momentum 0.1,
    unbiased variance) in evaluation, then scaled by weight (init 1) and shifted by bias (init 0).
    State dict: weight, bias, running_mean, running_var, num_batches_tracked, as PyTorch.
    """

    expected_dims = (4,)


class LayerNorm(Module):
    """Standardize each example over its last dims ``normalized_shape``; weight 1, bias 0 init."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(zeros(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Divide each activation by the energy of its ``size`` neighbouring channels (AlexNet):
    y_c = x_c / (k + alpha/size * sum_{c' near c} x_{c'}^2)^beta. x: (N, C, ...), same shape out.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
