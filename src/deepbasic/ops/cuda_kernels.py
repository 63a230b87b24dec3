"""Fused CUDA kernels for the GPU path (CuPy ``ElementwiseKernel`` / ``ReductionKernel``).

On a GPU every array operation is a kernel launch that costs the host about 10 microseconds, however
little work it does, and a small network's training step is bound by those launches, not by the
GPU. The NumPy-shaped code launches many: im2col is one slice copy per filter tap plus the
zeros of the padding (up to 4 kH kW launches per call), col2im one addition per tap, batch norm
about 15 launches forward and 20 backward (and CuPy's einsum costs the host more than a launch),
an SGD step with momentum 6 per parameter, an Adam step 10. Here each of those is one to four launches:

* unfold: one thread per column entry ``cols[c, i, j, n, y, x]`` (the layout of
  :func:`~deepbasic.ops.im2col.unfold`) reads ``x[n, c, y*sH + i*dH - top, x*sW + j*dW - left]``,
  or writes 0 where that falls in the padding;
* fold_add: one thread per pixel of the padded input sums the column entries that were copied
  from it (a gather, so no atomics and the same sum on every run), looping over the kH kW taps
  in the order the CPU version adds them;
* batch norm in training: forward = a channel sum, a channel sum of squared deviations (both
  two-pass, as on the CPU), the per-channel statistics, and one pass y = (x - mean) scale + beta;
  backward = two channel sums and one pass for dx (same formulas as ``ops/norm.py``); each
  channel sum reduces the contiguous axis first, then the batch;
* SGD with momentum: one pass per parameter updating the momentum buffer and the parameter;
* Adam (without amsgrad): one pass per parameter updating both decayed sums and the parameter
  (the update of ``optim/adam.py``, whose step size and eps already hold the bias correction).

Indices are computed in 64 bits. The kernels are compiled by CuPy on first use (cached on disk)
and only ever called with CuPy arrays.
"""
from __future__ import annotations

_kernels: dict = {}

_UNFOLD = r"""
long long t = i;
const int ox = t % Wo; t /= Wo;
const int oy = t % Ho; t /= Ho;
const int n = t % N; t /= N;
const int tj = t % kw; t /= kw;
const int ti = t % kh;
const int c = t / kh;
const int y = oy * sh + ti * dh - top;
const int x_ = ox * sw + tj * dw - left;
cols = (y >= 0 && y < H && x_ >= 0 && x_ < W)
    ? src[((long long)n * C + c) * H * W + (long long)y * W + x_] : (T)0;
"""

_FOLD = r"""
long long t = i;
const int px = t % Wp; t /= Wp;
const int py = t % Hp; t /= Hp;
const int c = t % C;
const int n = t / C;
T s = accumulate ? dx : (T)0;
for (int ti = 0; ti < kh; ++ti) {
    int y = py - ti * dh;
    if (y < 0 || y % sh != 0) continue;
    y /= sh;
    if (y >= Ho) continue;
    for (int tj = 0; tj < kw; ++tj) {
        int x_ = px - tj * dw;
        if (x_ < 0 || x_ % sw != 0) continue;
        x_ /= sw;
        if (x_ >= Wo) continue;
        s += cols[((((long long)c * kh + ti) * kw + tj) * N + n) * Ho * Wo
                  + (long long)y * Wo + x_];
    }
}
dx = s;
"""


_SGD_MOMENTUM = r"""
T d = maximize ? -g : g;
if (weight_decay != (T)0) d += weight_decay * p;
const T b = first ? d : buf * momentum + ((T)1 - dampening) * d;
buf = b;
d = nesterov ? d + momentum * b : b;
p -= lr * d;
"""

_ADAM = r"""
T d = maximize ? -g : g;
if (weight_decay != (T)0) d += weight_decay * p;
M = beta1 * M + d;
V = beta2 * V + d * d;
p -= step_size * (M / (sqrt(V) + eps_scaled));
"""


def _build(name: str):
    import cupy

    elementwise, reduction = cupy.ElementwiseKernel, cupy.ReductionKernel
    if name == "unfold":
        return elementwise(
            "raw T src, int32 N, int32 C, int32 H, int32 W, int32 kh, int32 kw, int32 sh, "
            "int32 sw, int32 dh, int32 dw, int32 top, int32 left, int32 Ho, int32 Wo",
            "T cols", _UNFOLD, "deepbasic_unfold")
    if name == "fold_add":
        return elementwise(
            "raw T cols, int32 N, int32 C, int32 Hp, int32 Wp, int32 kh, int32 kw, int32 sh, "
            "int32 sw, int32 dh, int32 dw, int32 Ho, int32 Wo, bool accumulate",
            "T dx", _FOLD, "deepbasic_fold_add")
    if name == "squared_deviation_sum":
        return reduction("T x, T mean", "T y", "(x - mean) * (x - mean)", "a + b", "y = a", "0",
                         "deepbasic_squared_deviation_sum")
    if name == "deviation_dot":
        return reduction("T g, T x, T mean", "T y", "g * (x - mean)", "a + b", "y = a", "0",
                         "deepbasic_deviation_dot")
    if name == "bn_statistics":
        return elementwise(
            "T sq, T gamma, T m, T eps", "T var, T inv_std, T scale",
            "var = sq / m; inv_std = (T)1 / sqrt(var + eps); scale = gamma * inv_std;",
            "deepbasic_bn_statistics")
    if name == "bn_apply":
        return elementwise("T x, T mean, T scale, T beta", "T y", "y = (x - mean) * scale + beta",
                           "deepbasic_bn_apply")
    if name == "bn_input_grad":
        return elementwise(
            "T g, T x, T mean, T scale, T inv_std, T sg, T sgc, T m", "T gx",
            "gx = scale * (g - sg / m - (x - mean) * (inv_std * inv_std * sgc / m))",
            "deepbasic_bn_input_grad")
    if name == "sgd_momentum":
        return elementwise(
            "T g, T lr, T momentum, T dampening, T weight_decay, bool nesterov, bool maximize, "
            "bool first", "T p, T buf", _SGD_MOMENTUM, "deepbasic_sgd_momentum")
    if name == "adam":
        return elementwise(
            "T g, T beta1, T beta2, T step_size, T eps_scaled, T weight_decay, bool maximize",
            "T p, T M, T V", _ADAM, "deepbasic_adam")
    raise KeyError(name)


def _kernel(name: str):
    """The named kernel, built on first use."""
    if name not in _kernels:
        _kernels[name] = _build(name)
    return _kernels[name]


def unfold(x, kernel, stride, dilation, pads_before, out):
    """im2col on the GPU into ``out`` (C, kH, kW, N, Ho, Wo), from x (N, C, H, W) whose zero
    padding (top, left) = ``pads_before`` is implicit (0, 0 for an already padded input)."""
    import cupy

    x = cupy.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (dh, dw), (top, left) = kernel, stride, dilation, pads_before
    Ho, Wo = out.shape[4], out.shape[5]
    _kernel("unfold")(x, N, C, H, W, kh, kw, sh, sw, dh, dw, top, left, Ho, Wo, out)
    return out


def fold_add(cols, dx_pad, stride, dilation, accumulate: bool):
    """col2im on the GPU: ``dx_pad`` (N, C, Hp, Wp) (+)= every column entry of cols (C, kH, kW,
    N, Ho, Wo) at its pixel; returns dx_pad."""
    import cupy

    cols = cupy.ascontiguousarray(cols)
    C, kh, kw, N, Ho, Wo = cols.shape
    Hp, Wp = dx_pad.shape[2], dx_pad.shape[3]
    (sh, sw), (dh, dw) = stride, dilation
    _kernel("fold_add")(cols, N, C, Hp, Wp, kh, kw, sh, sw, dh, dw, Ho, Wo, bool(accumulate),
                        dx_pad)
    return dx_pad


def _channel_sum(reduce, *arrays):
    """A sum over axes 0 and 2 of (N, C, L) arrays by ``reduce`` (``cupy.sum`` or a reduction
    kernel), as two reductions: over the contiguous axis 2 first, then over N. (One reduction
    over axes (0, 2) at once strides across C and made batch norm's forward + backward on
    (64, 64, 32, 32) take 4.3 ms on an H200 instead of 1.2.)"""
    return reduce(*arrays, axis=2).sum(axis=0)


def batch_norm_train(x3, gamma, beta, eps: float, y3):
    """Batch norm's training forward on the GPU: x3 (N, C, L) -> y3 (written), returns the (C,)
    arrays (mean, biased var, inv_std, scale = gamma * inv_std)."""
    import cupy

    n, c, l = x3.shape
    m = n * l
    dt = x3.dtype.type
    mean = _channel_sum(cupy.sum, x3)
    mean /= dt(m)
    col = (1, c, 1)
    sq = _channel_sum(_kernel("squared_deviation_sum"), x3, mean.reshape(col))
    var, inv_std, scale = _kernel("bn_statistics")(sq, gamma, dt(m), dt(eps))
    _kernel("bn_apply")(x3, mean.reshape(col), scale.reshape(col), beta.reshape(col), y3)
    return mean, var, inv_std, scale


def batch_norm_train_backward(g3, x3, mean, inv_std, scale, gx3=None):
    """Batch norm's training backward on the GPU: returns (sg, sgc) = the channel sums of g and of
    g (x - mean), (C,) each, and writes dx into ``gx3`` (N, C, L) when given."""
    import cupy

    n, c, l = g3.shape
    col = (1, c, 1)
    sg = _channel_sum(cupy.sum, g3)
    sgc = _channel_sum(_kernel("deviation_dot"), g3, x3, mean.reshape(col))
    if gx3 is not None:
        _kernel("bn_input_grad")(g3, x3, mean.reshape(col), scale.reshape(col),
                                 inv_std.reshape(col), sg.reshape(col), sgc.reshape(col),
                                 g3.dtype.type(n * l), gx3)
    return sg, sgc


def sgd_momentum_step(p, grad, buf, lr: float, momentum: float, dampening: float,
                      weight_decay: float, nesterov: bool, maximize: bool, first: bool) -> None:
    """One SGD step with momentum on the GPU, in place on ``p`` and ``buf`` (same shape and dtype
    as ``p``; uninitialized when ``first``, then set to the first gradient, as on the CPU)."""
    dt = p.dtype.type
    _kernel("sgd_momentum")(grad, dt(lr), dt(momentum), dt(dampening), dt(weight_decay),
                            bool(nesterov), bool(maximize), bool(first), p, buf)


def adam_step(p, grad, grad_sum, sq_sum, beta1: float, beta2: float, step_size: float,
              eps_scaled: float, weight_decay: float, maximize: bool) -> None:
    """One Adam step on the GPU, in place on ``p`` and the decayed sums M = ``grad_sum``, V =
    ``sq_sum``: M = beta1 M + g, V = beta2 V + g^2, p -= step_size M / (sqrt(V) + eps_scaled),
    with g the gradient (negated when maximizing) plus weight_decay * p."""
    dt = p.dtype.type
    _kernel("adam")(grad, dt(beta1), dt(beta2), dt(step_size), dt(eps_scaled), dt(weight_decay),
                    bool(maximize), p, grad_sum, sq_sum)
