"""im2col / col2im: turn a convolution into one matrix product, and scatter the product back.

A convolution slides a (C, kH, kW) filter over the (zero-padded) input. im2col copies every window
the filter sees into one column, so that all F filters applied at all N * Ho * Wo output positions
become a single GEMM::

    cols[(c, i, j), (n, y, x)] = x_pad[n, c, i*dH + y*sH, j*dW + x*sW]       cols: (C*kH*kW, N*Ho*Wo)
    out[f, (n, y, x)] = sum_(c, i, j) W[f, (c, i, j)] * cols[(c, i, j), (n, y, x)]  W: (F, C*kH*kW)

col2im is its adjoint: it adds every column entry back onto the input pixel it was copied from
(pixels covered by several windows receive the sum), which is how the input gradient of a
convolution, and the forward pass of a transposed convolution, are computed.

Both are written as a loop over the kH * kW kernel offsets (never over examples or pixels): for
offset (i, j) the values of all windows form one strided slice of the padded input, copied (im2col)
or added (col2im) in a single array operation. The padding is applied once, to the whole input, or
left implicit (:func:`unfold` with ``pads``: zeros written where a window leaves the input).

Layout (measured on the 2-core CPU, N=64 C=32 32x32 3x3, one thread): the columns are "channels
first", (C, kH, kW, N, Ho, Wo), so a row of ``cols`` is (c, i, j), matching ``weight.reshape(F, -1)``
of a PyTorch (F, C, kH, kW) weight, and each copy moves runs of Wo contiguous pixels. Building them
with kH*kW strided slice copies took about 10 ms; one ``ascontiguousarray`` of a
``sliding_window_view`` about 26 ms; a channels-last (N, Ho, Wo, kH, kW, C) layout about 25 ms
(its runs are C values long, and the input must be transposed first). col2im by slice additions
took about 23 ms for the same columns: a strided addition costs about 3x a strided copy per
element in NumPy (so a stride-1 input gradient is better computed by im2col of the output
gradient when F <= C, see ``ops/conv.py``); ``np.add.at`` is far slower. Padding the width so
that every copy is one long run (computing Wp - Wo wasted output columns) saved in the copies
what it cost in the GEMM. Both loops are split by channel over threads (:func:`parallel_for`).

Output size along one axis (input n, filter f, stride s, padding p on each side, dilation d):
``(n + 2p - d(f - 1) - 1) // s + 1``, the textbook ``(n - f + 2p) / s + 1`` when d = 1.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deepbasic.backend import get_array_module

# ----- the copies on several cores -----------------------------------------------------------------
# NumPy runs a copy or an addition on one core, but it releases the GIL while it does, so the
# column copies can be split over threads (by channel: the parts write disjoint memory), as the
# BLAS splits the GEMM. Below PARALLEL_MIN_ELEMENTS the threads cost more than they save.
PARALLEL_MIN_ELEMENTS = 1 << 18
_threads: int | None = None  # set by set_copy_threads
_default: int | None = None  # computed once
_pool: ThreadPoolExecutor | None = None
_pool_key = (0, 0)  # (process id, workers): a forked child makes its own pool


def _default_threads() -> int:
    for var in ("DEEPBASIC_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def get_copy_threads() -> int:
    """How many threads share the im2col / col2im copies (default: $DEEPBASIC_NUM_THREADS,
    else $OMP_NUM_THREADS / $OPENBLAS_NUM_THREADS, else the cores this process may use; at most 8)."""
    global _default
    if _threads is not None:
        return min(8, _threads)
    if _default is None:
        _default = _default_threads()
    return min(8, _default)


def set_copy_threads(n: int | None) -> None:
    """Set the number of threads for the im2col / col2im copies (1: no threads; None: default)."""
    global _threads
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"set_copy_threads: expected a positive integer or None, got {n!r}")
    _threads = n


_region = threading.local()  # .inside: this thread is running a part of a parallel_for


def in_parallel_region() -> bool:
    """True on a thread that is running a part of a :func:`parallel_for` (where a nested one
    runs inline)."""
    return getattr(_region, "inside", False)


def _as_part(fn):
    def part(lo, hi):
        before = getattr(_region, "inside", False)
        _region.inside = True
        try:
            fn(lo, hi)
        finally:
            _region.inside = before
    return part


def parallel_for(fn, n: int, work: int, xp=np, min_work: int | None = None) -> None:
    """Call ``fn(lo, hi)`` on consecutive parts of ``range(n)``, on the copy threads when ``work``
    (elements moved) is at least ``min_work`` (default :data:`PARALLEL_MIN_ELEMENTS`) and the
    arrays are NumPy's; the parts must not overlap in what they write. The calling thread does
    the first part. Inside a part, a nested call runs inline on that thread."""
    global _pool, _pool_key
    threshold = PARALLEL_MIN_ELEMENTS if min_work is None else min_work
    parts = min(n, get_copy_threads()) if (xp is np and work >= threshold) else 1
    if parts <= 1 or in_parallel_region():
        fn(0, n)
        return
    pid = os.getpid()
    if _pool is None or _pool_key[0] != pid or _pool_key[1] < parts - 1:
        _pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="deepbasic-copy")
        _pool_key = (pid, parts - 1)
    bounds = [n * k // parts for k in range(parts + 1)]
    part = _as_part(fn)
    futures = [_pool.submit(part, bounds[k], bounds[k + 1]) for k in range(1, parts)]
    try:
        part(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()


_blas = None  # threadpoolctl's controller of the BLAS libraries, False when unavailable


def _blas_libraries():
    """threadpoolctl's controllers of the loaded BLAS libraries ([] without threadpoolctl, an
    optional dependency)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController().select(user_api="blas").lib_controllers or False
        except Exception:  # pragma: no cover - threadpoolctl missing or failing
            _blas = False
    return _blas or []


def can_limit_blas() -> bool:
    """Whether :func:`single_threaded_blas` can limit the BLAS threads (threadpoolctl present)."""
    return bool(_blas_libraries())


@contextlib.contextmanager
def single_threaded_blas():
    """Run the BLAS on one thread inside the block (each thread of a :func:`parallel_for` then
    runs its own GEMMs), restoring its thread count after; a no-op without threadpoolctl."""
    libs = _blas_libraries()
    saved = [lib.num_threads for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, saved):
            lib.set_num_threads(n)


# ----- the BLAS left on one thread between convolutions ------------------------------------------
# Raising the BLAS's thread count again wakes its worker threads, and OpenBLAS's idle workers
# then spin (about 0.1 s by default, OPENBLAS_THREAD_TIMEOUT) on the cores that the next
# convolution's copy threads need: restoring the count after every convolution made a 2-thread
# ResNet-20 training step 371 ms instead of 270 ms (2-core machine, nothing else running). So the
# convolutions put the BLAS on one thread and LEAVE it there (:func:`keep_blas_on_one_thread`);
# it gets its threads back when a large matrix product of deepbasic's needs them
# (:func:`blas_threads_for`, from Linear and matmul), when :meth:`Trainer.fit
# <deepbasic.train.trainer.Trainer.fit>` returns, or when you call :func:`restore_blas_threads`.
_blas_saved: list | None = None  # the thread counts to restore while the BLAS is kept on one

#: A matrix product of at least this many multiply-adds gives the BLAS its threads back.
BLAS_THREADS_MIN_WORK = 1 << 22


def keep_blas_on_one_thread() -> None:
    """Put the BLAS on one thread and leave it there until :func:`restore_blas_threads` (a
    no-op without threadpoolctl, or when it is kept on one thread already)."""
    global _blas_saved
    if _blas_saved is None:
        libs = _blas_libraries()
        _blas_saved = [lib.num_threads for lib in libs]
        for lib in libs:
            lib.set_num_threads(1)


def restore_blas_threads() -> None:
    """Give the BLAS back the thread count it had before :func:`keep_blas_on_one_thread`."""
    global _blas_saved
    if _blas_saved is not None:
        for lib, n in zip(_blas_libraries(), _blas_saved):
            lib.set_num_threads(n)
        _blas_saved = None


def blas_threads_for(work: int) -> None:
    """Before a matrix product of ``work`` multiply-adds: give the BLAS its threads back if it
    is kept on one and the product is large enough to use them (:data:`BLAS_THREADS_MIN_WORK`)."""
    if _blas_saved is not None and work >= BLAS_THREADS_MIN_WORK and not in_parallel_region():
        restore_blas_threads()


def pair(value, name: str = "value", fn: str = "conv2d") -> tuple[int, int]:
    """An int or a pair of ints as a pair: ``3 -> (3, 3)``, ``(3, 1) -> (3, 1)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        a, b = value
    else:
        a = b = value
    try:
        if int(a) != a or int(b) != b:
            raise TypeError
        return int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}") from None


def padding_pairs(padding, fn: str = "conv2d") -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding as ``((top, bottom), (left, right))`` from an int, ``(ph, pw)`` or that form itself."""
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding)):
        (t, b), (le, r) = (pair(p, "padding", fn) for p in padding)
    else:
        ph, pw = pair(padding, "padding", fn)
        t, b, le, r = ph, ph, pw, pw
    if min(t, b, le, r) < 0:
        raise ValueError(f"{fn}: padding must be non-negative, got {padding!r}")
    return (t, b), (le, r)


def conv_output_size(n: int, f: int, stride: int = 1, padding=0, dilation: int = 1,
                     exact: bool = False) -> int:
    """Output length of a convolution along one axis: ``(n + 2p - d(f - 1) - 1) // s + 1``.

    n: input length, f: filter length, s: stride, p: zero padding on each side (or a pair
    ``(before, after)``), d: dilation (a dilated filter spans ``d(f - 1) + 1`` inputs).
    With d = 1 this is the textbook ``(n - f + 2p) / s + 1``. Raises ValueError when the filter
    does not fit (the size would be < 1). With ``exact=True`` it also raises when the windows do not
    tile the padded input exactly, i.e. ``(n + 2p - d(f - 1) - 1) / s`` is not an integer and the
    last rows or columns would be ignored (CS231n's rule for a valid configuration).

    >>> conv_output_size(7, 3, stride=1, padding=1)      # 7x7 input, 3x3 filter, "same" padding
    7
    >>> conv_output_size(32, 5, stride=1, padding=2)     # 32x32 input, 5x5 filter, padding 2
    32
    >>> conv_output_size(7, 3, stride=2)                 # CS231n: 7x7, 3x3, stride 2 -> 3x3
    3
    >>> conv_output_size(7, 3, stride=3)                 # stride 3: the last column is ignored
    2
    >>> conv_output_size(7, 3, stride=3, exact=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: conv_output_size: a filter of 3 with stride 3 does not tile an input of 7 ...
    >>> conv_output_size(2, 5, padding=1)
    Traceback (most recent call last):
        ...
    ValueError: conv_output_size: a filter of 5 does not fit in an input of 2 padded to 4
    """
    if isinstance(padding, (tuple, list)):
        before, after = pair(padding, "padding", "conv_output_size")
    else:
        before = after = int(padding)
    if n < 0 or f < 1 or stride < 1 or dilation < 1 or before < 0 or after < 0:
        raise ValueError(
            f"conv_output_size: expected n >= 0, f, stride, dilation >= 1 and padding >= 0, got "
            f"n={n}, f={f}, stride={stride}, padding={padding}, dilation={dilation}"
        )
    span = dilation * (f - 1) + 1  # inputs one (dilated) filter covers
    padded = n + before + after
    if span > padded:
        dil = f" (dilated to {span})" if dilation > 1 else ""
        raise ValueError(
            f"conv_output_size: a filter of {f}{dil} does not fit in an input of {n} "
            f"padded to {padded}"
        )
    size = (padded - span) // stride + 1
    rest = (padded - span) % stride
    if exact and rest:
        raise ValueError(
            f"conv_output_size: a filter of {span} with stride {stride} does not tile an input "
            f"of {n} (padded {padded}) exactly: ({padded} - {span}) / {stride} is not an integer, "
            f"{rest} input(s) would be ignored"
        )
    return size


def pad2d(x, padding, value: float = 0.0):
    """``x: (N, C, H, W)`` padded by ``((top, bottom), (left, right))`` with ``value``, in one copy.

    Returns ``x`` itself when there is nothing to pad.
    """
    (t, b), (le, r) = padding
    if not (t or b or le or r):
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.empty((N, C, H + t + b, W + le + r), dtype=x.dtype)
    # fill the border only (not the whole buffer) and copy the interior once
    out[:, :, :t] = value
    out[:, :, t + H:] = value
    out[:, :, t:t + H, :le] = value
    out[:, :, t:t + H, le + W:] = value
    out[:, :, t:t + H, le:le + W] = x
    return out


def _window(k: int, size: int, stride: int, dilation: int) -> slice:
    """The strided slice of a padded axis that kernel offset ``k`` reads for ``size`` outputs."""
    start = k * dilation
    return slice(start, start + stride * (size - 1) + 1, stride)


def _valid_range(k: int, size: int, out: int, stride: int, dilation: int, before: int):
    """The outputs ``[lo, hi)`` whose tap k reads inside an input axis of ``size`` padded by
    ``before``: ``0 <= o*stride + k*dilation - before < size``."""
    first = k * dilation - before
    lo = max(0, -(first // stride)) if first < 0 else 0
    hi = min(out, (size - 1 - first) // stride + 1) if size - 1 >= first else 0
    return lo, max(lo, hi)


def _flat_ok(x, out) -> bool:
    """Whether each (n, c) plane of x and each (c, i, j, n) plane of out is one contiguous run."""
    item = x.dtype.itemsize
    return (x.strides[3] == item and x.strides[2] == x.shape[3] * item
            and out.strides[5] == item and out.strides[4] == out.shape[5] * item
            and out.strides[3] == out.shape[4] * out.shape[5] * item)


def _unfold_shifted_runs(x, out, kh, kw, dh, dw, top, left, xp) -> None:
    """im2col for stride 1 with implicit padding when the output is as wide as the input (the
    usual "same" padding): tap (i, j) reads x at a constant offset s = (i dH - top) W +
    (j dW - left) from the output position in each flattened (H*W) plane, so its columns are ONE
    contiguous run of each plane (a copy of H*W values, not Ho runs of Wo). Positions whose
    window leaves the input at the top or bottom lie outside the run and are zeroed; those that
    leave it at the left or right edge got values wrapped around from the neighbouring row and
    are zeroed afterwards (one column per tap)."""
    n, c, h, w = x.shape
    ho = out.shape[4]
    plane = ho * w
    src = x.reshape(n, c, h * w).transpose(1, 0, 2)  # (C, N, H*W) view
    dst = out.reshape(c, kh, kw, n, plane)
    taps = []
    for i in range(kh):
        for j in range(kw):
            dy, dx = i * dh - top, j * dw - left
            shift = dy * w + dx
            lo, hi = max(0, -shift), min(plane, h * w - shift)
            taps.append((i, j, dx, shift, lo, max(lo, hi)))

    def channels(c0, c1):
        for i, j, dx, shift, lo, hi in taps:
            d = dst[c0:c1, i, j]
            if hi > lo:
                d[:, :, lo:hi] = src[c0:c1, :, lo + shift:hi + shift]
            d[:, :, :lo] = 0
            d[:, :, hi:] = 0
            if dx:
                rows = d.reshape(c1 - c0, n, ho, w)
                if dx < 0:
                    rows[..., :min(w, -dx)] = 0
                else:
                    rows[..., max(0, w - dx):] = 0

    parallel_for(channels, c, out.size, xp)


def unfold(x_pad, kernel_size, stride=(1, 1), dilation=(1, 1), out_size=None, out=None,
           pads=None, zero_padding: bool = True):
    """im2col of an already padded input, as a 6-d array (no copy of the padding).

    x_pad: (N, C, Hp, Wp) -> cols: (C, kH, kW, N, Ho, Wo), with
    ``cols[c, i, j, n, y, x] = x_pad[n, c, i*dH + y*sH, j*dW + x*sW]``.
    ``cols.reshape(C*kH*kW, N*Ho*Wo)`` is the column matrix. ``out_size`` (Ho, Wo) defaults to
    every complete window; ``out`` is an optional preallocated (C, kH, kW, N, Ho, Wo) buffer.

    ``pads`` ((top, bottom), (left, right)): x_pad is then the UNPADDED input and the zero
    padding is implicit: each tap copies only the window positions that fall inside the input
    and writes zeros into the others (skipped with ``zero_padding=False``, for an ``out`` buffer
    whose padding positions already hold zeros from an earlier call with the same shape). This
    saves the padded copy of the input (a fresh array: about 1 ms per convolution layer of a
    ResNet-20 step, mostly page faults).
    """
    xp = get_array_module(x_pad)
    N, C, Hp, Wp = x_pad.shape
    kh, kw = kernel_size
    (sh, sw), (dh, dw) = stride, dilation
    (t, b), (le, r) = pads if pads is not None else ((0, 0), (0, 0))
    if out_size is None:
        out_size = ((Hp + t + b - dh * (kh - 1) - 1) // sh + 1,
                    (Wp + le + r - dw * (kw - 1) - 1) // sw + 1)
    Ho, Wo = out_size
    if out is None:
        out = xp.empty((C, kh, kw, N, Ho, Wo), dtype=x_pad.dtype)
    if xp is not np:  # a GPU: one kernel launch instead of up to 4 kH kW
        from deepbasic.ops import cuda_kernels

        return cuda_kernels.unfold(x_pad, (kh, kw), (sh, sw), (dh, dw), (t, le), out)
    src = x_pad.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp) view: the copies run in the columns' order
    if not (t or b or le or r):
        def channels(c0, c1):
            for i in range(kh):
                rows = _window(i, Ho, sh, dh)
                for j in range(kw):
                    out[c0:c1, i, j] = src[c0:c1, :, rows, _window(j, Wo, sw, dw)]

        parallel_for(channels, C, out.size, xp)
        return out

    if (sh, sw) == (1, 1) and Wo == Wp and _flat_ok(x_pad, out):
        _unfold_shifted_runs(x_pad, out, kh, kw, dh, dw, t, le, xp)
        return out
    row_ranges = [_valid_range(i, Hp, Ho, sh, dh, t) for i in range(kh)]
    col_ranges = [_valid_range(j, Wp, Wo, sw, dw, le) for j in range(kw)]

    def padded_channels(c0, c1):
        for i, (y0, y1) in enumerate(row_ranges):
            for j, (x0, x1) in enumerate(col_ranges):
                dst = out[c0:c1, i, j]  # (c, N, Ho, Wo)
                if y1 > y0 and x1 > x0:
                    r0, q0 = y0 * sh + i * dh - t, x0 * sw + j * dw - le
                    dst[:, :, y0:y1, x0:x1] = src[c0:c1, :, r0:r0 + sh * (y1 - y0 - 1) + 1:sh,
                                                  q0:q0 + sw * (x1 - x0 - 1) + 1:sw]
                elif zero_padding:
                    dst[...] = 0
                    continue
                if zero_padding:
                    if y0 > 0:
                        dst[:, :, :y0] = 0
                    if y1 < Ho:
                        dst[:, :, y1:] = 0
                    if x0 > 0:
                        dst[:, :, y0:y1, :x0] = 0
                    if x1 < Wo:
                        dst[:, :, y0:y1, x1:] = 0

    parallel_for(padded_channels, C, out.size, xp)
    return out


def fold_add(cols, dx_pad, stride=(1, 1), dilation=(1, 1), accumulate: bool = True):
    """col2im into an already padded buffer: ``dx_pad`` += every column entry at its pixel.

    cols: (C, kH, kW, N, Ho, Wo) (as :func:`unfold` returns), dx_pad: (N, C, Hp, Wp), changed in
    place and returned. ``dx_pad[n, c, i*dH + y*sH, j*dW + x*sW] += cols[c, i, j, n, y, x]``.
    ``accumulate=False`` assigns instead of adding: only right when the windows tile ``dx_pad``
    exactly, without overlap (stride = kernel size, dilation 1, e.g. a 1x1 kernel with stride 1),
    and then ``dx_pad`` may start uninitialized.
    """
    C, kh, kw, N, Ho, Wo = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    xp = get_array_module(cols)
    if xp is not np:  # a GPU: one kernel launch instead of kH kW
        from deepbasic.ops import cuda_kernels

        return cuda_kernels.fold_add(cols, dx_pad, stride, dilation, accumulate)
    dst = dx_pad.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp) view

    def channels(c0, c1):
        for i in range(kh):
            rows = _window(i, Ho, sh, dh)
            for j in range(kw):
                if accumulate:
                    dst[c0:c1, :, rows, _window(j, Wo, sw, dw)] += cols[c0:c1, i, j]
                else:
                    dst[c0:c1, :, rows, _window(j, Wo, sw, dw)] = cols[c0:c1, i, j]

    parallel_for(channels, C, cols.size, xp)
    return dx_pad


def _geometry(x_shape, kernel_size, stride, padding, dilation, fn):
    kh, kw = pair(kernel_size, "kernel_size", fn)
    sh, sw = pair(stride, "stride", fn)
    dh, dw = pair(dilation, "dilation", fn)
    if min(kh, kw, sh, sw, dh, dw) < 1:
        raise ValueError(
            f"{fn}: kernel_size, stride and dilation must be positive, got kernel_size="
            f"{kernel_size}, stride={stride}, dilation={dilation}"
        )
    pads = padding_pairs(padding, fn)
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: expected an input (N, C, H, W), got shape {tuple(x_shape)}")
    H, W = x_shape[2:]
    Ho = conv_output_size(H, kh, sh, pads[0], dh)
    Wo = conv_output_size(W, kw, sw, pads[1], dw)
    return (kh, kw), (sh, sw), pads, (dh, dw), (Ho, Wo)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, pad_value: float = 0.0):
    """The column matrix of ``x: (N, C, H, W)``: (C*kH*kW, N*Ho*Wo).

    Row ``(c, i, j)`` (C-major) holds what kernel tap (i, j) of channel c sees at each output
    position ``(n, y, x)`` (n-major). ``W.reshape(F, -1) @ im2col(x, ...)`` is the convolution as
    (F, N*Ho*Wo). padding: int, (ph, pw) or ((top, bottom), (left, right)), filled with
    ``pad_value`` (0 for convolution, -inf for max pooling).
    """
    k, s, pads, d, out_size = _geometry(x.shape, kernel_size, stride, padding, dilation, "im2col")
    cols = unfold(pad2d(x, pads, pad_value), k, s, d, out_size)
    return cols.reshape(cols.shape[0] * k[0] * k[1], -1)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    """The adjoint of :func:`im2col`: add each entry of ``cols`` (C*kH*kW, N*Ho*Wo) back onto the
    pixel of an (N, C, H, W) input it came from; entries that fell in the padding are dropped."""
    k, s, pads, d, (Ho, Wo) = _geometry(x_shape, kernel_size, stride, padding, dilation, "col2im")
    N, C, H, W = x_shape
    expected = (C * k[0] * k[1], N * Ho * Wo)
    if tuple(cols.shape) != expected:
        raise ValueError(f"col2im: expected cols of shape {expected} for input {tuple(x_shape)}, "
                         f"got {tuple(cols.shape)}")
    xp = get_array_module(cols)
    (t, b), (le, r) = pads
    dx_pad = xp.zeros((N, C, H + t + b, W + le + r), dtype=cols.dtype)
    fold_add(cols.reshape(C, k[0], k[1], N, Ho, Wo), dx_pad, s, d)
    return dx_pad[:, :, t:t + H, le:le + W]
