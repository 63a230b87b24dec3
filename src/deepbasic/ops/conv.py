"""2-D convolution and transposed convolution as im2col + GEMM, with their backward passes.

Convolution (PyTorch's ``F.conv2d``, really a cross-correlation), for x: (N, C, H, W),
W: (F, C/G, kH, kW), b: (F,), G groups (group g maps input channels g*C/G.. to filters g*F/G..):

    out[n, f, y, x] = b[f] + sum_(c, i, j) W[f, c, i, j] * x_pad[n, c, i*dH + y*sH, j*dW + x*sW]

With ``cols = im2col(x)`` (C*kH*kW, N*Ho*Wo) and ``Wm = W.reshape(F, C*kH*kW)`` that is one GEMM,
``out = Wm @ cols``, and the backward pass is two more, with dY: (F, N*Ho*Wo):

    dW = dY @ cols^T              dcols = Wm^T @ dY,  dx = col2im(dcols)         db = sum of dY

For stride 1, dx is also the "full" convolution of dY (padded by d(k - 1) - p) with the kernel
rotated by 180 degrees and its channel axes swapped: im2col copies instead of col2im additions
(see :func:`_input_grad_by_convolution`). The columns of the padded dY then give dW as well,
dW_flip = cols(dY) @ x^T with x itself as the other operand (:func:`_gather_backward`), so the
backward pass is one im2col and two GEMMs; used when F <= 3 C (F <= C for dx alone). With G
groups every product is G independent GEMMs on the (G, ...) reshaped operands (one batched
``matmul``).

A transposed convolution (``F.conv_transpose2d``, weight (C_in, C_out/G, kH, kW)) is the adjoint of
a convolution: its forward pass is that input gradient (GEMM + col2im), its backward pass a
convolution (im2col + GEMM).

Speed (benchmarks/bench_conv.py; the machine: 2 cores, OpenBLAS SGEMM ~140 GFLOP/s).

* The batch is folded into the GEMM's columns in blocks of examples whose columns take about
  :data:`COLUMN_BLOCK_BYTES` (one big GEMM per block: F x C*kH*kW times C*kH*kW x nb*Ho*Wo). The
  two block buffers are reused for every block, so they stay in cache instead of being
  page-faulted in afresh (a fresh 75 MB array cost ~20 ms of page faults, as much as filling it),
  and the backward pass recomputes the columns rather than keeping kH*kW copies of the input alive
  from forward to backward. On a GPU the whole batch is one block.
* The padding is implicit: :func:`~deepbasic.ops.im2col.unfold` copies the part of each window
  inside the input and writes zeros for the rest (once per block size), so no padded copy of
  the input (or of dY) is made, and the op saves x itself for backward (which the graph keeps
  alive anyway) rather than a padded copy.
* The block buffers come from per-thread scratch arrays kept between calls (:func:`_scratch`):
  freed buffers of a few MB go back to the OS and were page-faulted in again by every
  convolution (this and the implicit padding: ~15% of a ResNet-20 training step on one core).
* With several threads the batch is split between them, each running its own blocks end to end
  (im2col, a single-threaded GEMM, the transposes; :func:`_block_plan`), when threadpoolctl is
  there to hold the BLAS at one thread: one synchronization per call rather than one per copy
  and per multi-threaded GEMM, whose idle BLAS threads spin and took the cores from the copies
  (on a 2-core machine shared with other jobs, ResNet-20's step ran 3-4x slower with 2 BLAS
  threads than with one). Otherwise the memory-bound passes (im2col, col2im, the
  (N, F) <-> (F, N) transposes) are split by channel over threads
  (:func:`deepbasic.ops.im2col.parallel_for`), as the BLAS splits the GEMM.
* What is left against PyTorch (oneDNN's direct convolution, ~90% of the core's peak): OpenBLAS
  runs these skinny GEMMs at 65-85% of its square-matrix rate, and im2col / col2im still move
  kH*kW copies of the input through memory.
"""
from __future__ import annotations

import importlib
import threading
from typing import NamedTuple

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.ops.im2col import (can_limit_blas, fold_add, get_copy_threads,
                                  in_parallel_region, keep_blas_on_one_thread, padding_pairs,
                                  pair, parallel_for, unfold)
from deepbasic.tensor import Function, Tensor

#: Target size in bytes of one block of columns on the CPU (several examples per GEMM); None:
#: 4 MiB when the copies run on one thread, 16 MiB with more. Small blocks stay in cache (4 MiB
#: was ~15% faster than 32 MiB on one core); but every multi-threaded GEMM call synchronizes the
#: BLAS threads, and on a busy machine each synchronization can cost a scheduler time slice:
#: there 4 MiB blocks ran up to 3x slower than 16-32 MiB ones (2 cores shared with other jobs).
#: Buffers under 32 MiB are also recycled by glibc's malloc instead of being page-faulted in anew.
COLUMN_BLOCK_BYTES: int | None = None
#: The same on a GPU (CuPy): large, so that a batch is usually one GEMM.
GPU_COLUMN_BLOCK_BYTES = 1 << 30


class ConvGeometry(NamedTuple):
    """Everything but the arrays: kernel (kH, kW), stride, dilation, output (Ho, Wo), groups."""

    kernel: tuple
    stride: tuple
    dilation: tuple
    out: tuple
    groups: int


#: Scratch buffers up to this size (bytes) are kept between calls (see :func:`_scratch`).
SCRATCH_MAX_BYTES = 64 << 20
_scratch_local = threading.local()
_merge_lock = threading.Lock()
# the module (for its PARALLEL_MIN_ELEMENTS at call time): ops.im2col is also a function's name
_im2col = importlib.import_module("deepbasic.ops.im2col")


def _scratch(xp, size: int, dtype, slot: str):
    """A 1-D array of ``size`` elements for a call's temporary blocks (the columns, the GEMM's
    output), reused by the next call on the same thread instead of allocated anew: a fresh buffer
    of a few MB is returned to the OS when freed and page-faulted in again by the next
    convolution, which costs about as much as filling it.
    One buffer per (slot, dtype) and thread, grown as needed, at most :data:`SCRATCH_MAX_BYTES`
    (larger ones are not kept); NumPy only. Callers must not return these arrays or views of
    them, nor call another user of the same slot while they use theirs."""
    dtype = np.dtype(dtype)
    if xp is not np or size * dtype.itemsize > SCRATCH_MAX_BYTES:
        return xp.empty(size, dtype=dtype)
    bufs = getattr(_scratch_local, "bufs", None)
    if bufs is None:
        bufs = _scratch_local.bufs = {}
    buf = bufs.get((slot, dtype))
    if buf is None or buf.size < size:
        buf = bufs[(slot, dtype)] = np.empty(size, dtype=dtype)
    return buf[:size]


def _blocks(xp, n: int, bytes_per_example: int, budget: int | None = None):
    """Split ``n`` examples into consecutive blocks whose columns take about the block budget."""
    if budget is None:
        if xp is not np:
            budget = GPU_COLUMN_BLOCK_BYTES
        elif COLUMN_BLOCK_BYTES is None:
            budget = (4 << 20) if get_copy_threads() == 1 else (16 << 20)
        else:
            budget = COLUMN_BLOCK_BYTES
    nb = max(1, min(n, budget // max(1, bytes_per_example)))
    return [(n0, min(n, n0 + nb)) for n0 in range(0, n, nb)], nb


#: Split the batch over the copy threads, each running its own blocks end to end with a
#: single-threaded BLAS (see :func:`_block_plan`); False: the BLAS and the copies are threaded
#: within each block instead.
PARALLEL_BLOCKS = True


def _block_plan(xp, n: int, bytes_per_example: int):
    """How to walk the batch: ``(plan, nb, parallel)``, ``plan`` a list of block lists, one per
    thread when ``parallel``, ``nb`` the largest block.

    With several copy threads (and threadpoolctl to hold the BLAS at one thread) the batch is cut
    into one contiguous range of examples per thread, each cut into blocks of the one-thread
    budget (4 MiB, cache-sized), and each thread runs its blocks -- im2col, GEMM, transposes --
    on its own: one synchronization per call instead of one per copy and per GEMM, and no BLAS
    threads spinning between calls while the copies wait for a core. Otherwise (one thread, a
    GPU, no threadpoolctl) one list of blocks, whose GEMMs and copies are threaded inside.
    """
    threads = min(n, get_copy_threads())
    if (xp is np and PARALLEL_BLOCKS and threads > 1 and not in_parallel_region()
            and n * bytes_per_example >= _im2col.PARALLEL_MIN_ELEMENTS * 4
            and can_limit_blas()):
        budget = COLUMN_BLOCK_BYTES if COLUMN_BLOCK_BYTES is not None else (4 << 20)
        plan, nb = [], 1
        for t in range(threads):
            lo, hi = n * t // threads, n * (t + 1) // threads
            blocks, b = _blocks(xp, hi - lo, bytes_per_example, budget)
            plan.append([(lo + a, lo + z) for a, z in blocks])
            nb = max(nb, b)
        return plan, nb, True
    blocks, nb = _blocks(xp, n, bytes_per_example)
    return [blocks], nb, False


def _run_plan(xp, plan, parallel: bool, run) -> None:
    """Call ``run(blocks)`` for each block list of the plan: on the copy threads with the BLAS
    on one thread when ``parallel``, else on this thread."""
    if not parallel:
        run(plan[0])
        return

    def parts(k0, k1):
        for blocks in plan[k0:k1]:
            run(blocks)

    keep_blas_on_one_thread()  # left there: restoring it after each call costs (see im2col)
    parallel_for(parts, len(plan), 0, xp, min_work=0)


def _to_channels_first(gy_block, gf, xp) -> None:
    """gf (F, nb, Ho*Wo) = gy_block (nb, F, Ho, Wo) with the first two axes swapped."""
    b, F = gy_block.shape[:2]
    src = gy_block.reshape(b, F, -1)

    def rows(f0, f1):
        gf[f0:f1] = src[:, f0:f1].transpose(1, 0, 2)

    parallel_for(rows, F, gf.size, xp)


def _to_batch_first(res, dst, bias, xp) -> None:
    """dst (nb, F, Ho*Wo) = res (F, nb, Ho*Wo) with the first two axes swapped, + bias (F,)."""
    F = res.shape[0]

    def rows(f0, f1):
        part = res[f0:f1].transpose(1, 0, 2)
        if bias is None:
            dst[:, f0:f1] = part
        else:
            xp.add(part, bias[f0:f1, None], out=dst[:, f0:f1])

    parallel_for(rows, F, res.size, xp)


class _WeightGradSum:
    """dW = sum over blocks of dY_block @ cols_block^T, as (G, F/G, C/G*kH*kW).

    OpenBLAS ran 15-25% faster here with the longer output side first, so when
    C/G*kH*kW >= F/G the transpose dW^T = cols @ dY^T is accumulated instead (and transposed
    once at the end, a small copy).
    """

    def __init__(self, xp, f_per_group: int, ckk_per_group: int):
        self.xp, self.transposed = xp, ckk_per_group >= f_per_group
        self.sum = self.tmp = None

    def add(self, gf3, cols3) -> None:
        if self.transposed:
            a, b = cols3, gf3.transpose(0, 2, 1)
        else:
            a, b = gf3, cols3.transpose(0, 2, 1)
        if self.sum is None:
            self.sum = self.xp.matmul(a, b)
        else:
            self.tmp = self.xp.matmul(a, b, out=self.tmp)
            self.sum += self.tmp

    def merge(self, other: "_WeightGradSum") -> None:
        """Add another thread's partial sum into this one."""
        if other.sum is not None:
            if self.sum is None:
                self.sum = other.sum
            else:
                self.sum += other.sum

    def result(self, shape):
        if self.sum is None:
            return None
        total = self.sum.transpose(0, 2, 1) if self.transposed else self.sum
        return self.xp.ascontiguousarray(total).reshape(shape)


def conv_gemm(x_pad, w, geom: ConvGeometry, bias=None, gy=None, want_out: bool = True,
              pads=None):
    """A convolution of a padded input and/or its weight gradient, by im2col + GEMM per block.

    x_pad: (N, C, Hp, Wp), w: (F, C/G, kH, kW), bias: (F,) or None. With ``pads``
    (((top, bottom), (left, right))) x_pad is the unpadded input and the zero padding is
    implicit (:func:`unfold` writes the zeros into the columns instead of copying the input).
    Returns ``(out, dw)``: out (N, F, Ho, Wo) when ``want_out`` (else None); when ``gy``
    (N, F, Ho, Wo) is given, dw = dY @ cols^T summed over the batch, shaped like w (else None).
    Per block of nb examples: cols (C*kH*kW, nb*Ho*Wo) from :func:`unfold`, out = Wm @ cols
    (G GEMMs of (F/G, C/G*kH*kW) for G groups), dw += dY_block @ cols^T.
    """
    xp = get_array_module(x_pad, w)
    N, C = x_pad.shape[:2]
    F, G = w.shape[0], geom.groups
    (kh, kw), (Ho, Wo) = geom.kernel, geom.out
    ckk, hw, dtype = C * kh * kw, Ho * Wo, x_pad.dtype
    w3 = w.reshape(G, F // G, ckk // G)
    plan, nb, parallel = _block_plan(xp, N, ckk * hw * dtype.itemsize)
    out = xp.empty((N, F, Ho, Wo), dtype=dtype) if want_out else None
    dw = _WeightGradSum(xp, F // G, ckk // G)

    def run(blocks):
        cols_buf = _scratch(xp, ckk * nb * hw, dtype, "cols")
        res_buf = _scratch(xp, F * nb * hw, dtype, "res")  # the GEMM's output, or dY (F, nb*HoWo)
        part = _WeightGradSum(xp, F // G, ckk // G) if parallel else dw
        prev = None
        for n0, n1 in blocks:
            b, m = n1 - n0, (n1 - n0) * hw
            # the padding's zeros stay in the buffer from block to block of the same size
            cols = unfold(x_pad[n0:n1], geom.kernel, geom.stride, geom.dilation, geom.out,
                          out=cols_buf[:ckk * m].reshape(C, kh, kw, b, Ho, Wo), pads=pads,
                          zero_padding=b != prev)
            prev = b
            cols3 = cols.reshape(G, ckk // G, m)
            if want_out:
                res = xp.matmul(w3, cols3, out=res_buf[:F * m].reshape(G, F // G, m))
                _to_batch_first(res.reshape(F, b, hw), out[n0:n1].reshape(b, F, hw), bias, xp)
            if gy is not None:
                gf = res_buf[:F * m].reshape(F, b, hw)
                _to_channels_first(gy[n0:n1], gf, xp)
                part.add(gf.reshape(G, F // G, m), cols3)
        if parallel:
            with _merge_lock:
                dw.merge(part)

    _run_plan(xp, plan, parallel, run)
    return out, dw.result(w.shape)


def gemm_col2im(gy, w, geom: ConvGeometry, x_pad=None, padded_shape=None, want_dx=True,
                want_db=False, pads=None):
    """A convolution's backward pass, per block: dx_pad = col2im(Wm^T @ dY), dw = dY @ cols^T.

    gy: (N, F, Ho, Wo), w: (F, C/G, kH, kW). Returns ``(dx_pad, dw, db)``, each None unless asked:
    dx_pad (N, C, Hp, Wp) = ``padded_shape`` when ``want_dx``; dw shaped like w when the padded
    input ``x_pad`` is given (its columns are recomputed block by block; with ``pads``, x_pad is
    the unpadded input, see :func:`conv_gemm`); db (F,) when ``want_db``.
    Each block's dY is transposed once to (F, nb*Ho*Wo) and serves all three; the block's
    dcols and then its cols share one buffer. With ``want_dx`` only, this is a transposed
    convolution's forward pass.
    """
    xp = get_array_module(gy, w)
    N, F = gy.shape[:2]
    G = geom.groups
    C = w.shape[1] * G
    (kh, kw), (Ho, Wo) = geom.kernel, geom.out
    ckk, hw, dtype = C * kh * kw, Ho * Wo, gy.dtype
    w3 = w.reshape(G, F // G, ckk // G)
    w3t = w3.transpose(0, 2, 1)  # (G, C/G*kH*kW, F/G) view: BLAS reads it transposed
    plan, nb, parallel = _block_plan(xp, N, ckk * hw * dtype.itemsize)
    # windows that tile the padded input without overlap (1x1 stride 1, 2x2 stride 2, ...) write
    # each pixel once: col2im can assign into an uninitialized buffer instead of adding to zeros
    tiles = want_dx and all(
        k == s and (k == 1 or d == 1) and size == o * s
        for k, s, d, size, o in zip(geom.kernel, geom.stride, geom.dilation, padded_shape[2:],
                                    geom.out))
    dx_pad = (xp.empty if tiles else xp.zeros)(padded_shape, dtype=dtype) if want_dx else None
    db = xp.zeros(F, dtype=dtype) if want_db else None
    dw = _WeightGradSum(xp, F // G, ckk // G)

    def run(blocks):
        g_buf = _scratch(xp, F * nb * hw, dtype, "res")
        c_buf = _scratch(xp, ckk * nb * hw, dtype, "cols")  # dcols, then cols
        part = _WeightGradSum(xp, F // G, ckk // G) if parallel else dw
        part_db = xp.zeros(F, dtype=dtype) if (want_db and parallel) else db
        prev = None
        for n0, n1 in blocks:
            b, m = n1 - n0, (n1 - n0) * hw
            gf = g_buf[:F * m].reshape(F, b, hw)
            _to_channels_first(gy[n0:n1], gf, xp)
            gf3 = gf.reshape(G, F // G, m)
            if want_db:
                part_db += gf.reshape(F, m).sum(axis=1)
            if want_dx:
                dcols = xp.matmul(w3t, gf3, out=c_buf[:ckk * m].reshape(G, ckk // G, m))
                fold_add(dcols.reshape(C, kh, kw, b, Ho, Wo), dx_pad[n0:n1], geom.stride,
                         geom.dilation, accumulate=not tiles)
            if x_pad is not None:
                cols = unfold(x_pad[n0:n1], geom.kernel, geom.stride, geom.dilation, geom.out,
                              out=c_buf[:ckk * m].reshape(C, kh, kw, b, Ho, Wo), pads=pads,
                              zero_padding=want_dx or b != prev)  # dcols overwrote the zeros
                prev = b
                part.add(gf3, cols.reshape(G, ckk // G, m))
        if parallel:
            with _merge_lock:
                dw.merge(part)
                if want_db:
                    xp.add(db, part_db, out=db)

    _run_plan(xp, plan, parallel, run)
    return dx_pad, dw.result(w.shape), db


def _crop(a, pads):
    (t, b), (le, r) = pads
    if not (t or b or le or r):
        return a
    return a[:, :, t:a.shape[2] - b, le:a.shape[3] - r]


#: Use the gather form of a stride-1 input gradient (see _input_grad_by_convolution) when
#: out_channels <= GATHER_MAX_CHANNEL_RATIO * in_channels for dx alone, and up to
#: GATHER_WEIGHT_FACTOR times that when the weight gradient is wanted too (then the same
#: columns serve both, see _gather_backward).
GATHER_MAX_CHANNEL_RATIO = 1.0
GATHER_WEIGHT_FACTOR = 3.0


def _gather_input_grad(geom: ConvGeometry, padding, w_shape, with_weight: bool = False) -> bool:
    """Whether a stride-1 input gradient is computed as a convolution (gather, im2col copies)
    rather than by col2im (scatter, additions): copies are about 3x cheaper per element than
    strided additions, and dY's columns have F*kH*kW rows against dcols' C*kH*kW. With the
    weight gradient too, the gather form's one im2col of dY (F*kH*kW rows) replaces col2im
    plus an im2col of x (C*kH*kW rows each)."""
    if geom.stride != (1, 1):
        return False
    spans = [d * (k - 1) for k, d in zip(geom.kernel, geom.dilation)]
    if any(p > s for pads, s in zip(padding, spans) for p in pads):
        return False
    F, c_per_group = w_shape[:2]
    ratio = GATHER_MAX_CHANNEL_RATIO * (GATHER_WEIGHT_FACTOR if with_weight else 1.0)
    return F <= ratio * c_per_group * geom.groups


def _input_grad_by_convolution(g, w, geom: ConvGeometry, padding):
    """dx of a stride-1 convolution as the "full" convolution of dY with the flipped kernel.

    dx[n, c, y, x] = sum_(f, i, j) dY_pad[n, f, y + dH(kH - 1 - i), x + dW(kW - 1 - j)] W[f, c, i, j]:
    dY padded by d(k - 1) - p on each side, convolved (stride 1, same dilation) with the weight
    rotated by 180 degrees and with its two channel axes swapped, (C, F/G, kH, kW).
    """
    return _gather_backward(g, None, w, geom, padding)[0]


def _gather_backward(g, x, w, geom: ConvGeometry, padding, want_dx: bool = True):
    """dx (when ``want_dx``) and dW (when ``x`` is given) of a stride-1 convolution, both from
    ONE im2col: the columns of dY padded by d(k - 1) - p, ``cols_g`` (F*kH*kW, N*H*W) with
    cols_g[(f, i', j'), (n, y, x)] = dY_pad[n, f, y + dH i', x + dW j'].

    dx is the "full" convolution of dY with the kernel rotated by 180 degrees and its channel
    axes swapped (see :func:`_input_grad_by_convolution`): dx = W_flip (C, F*kH*kW) @ cols_g.
    The same columns give the weight gradient: substituting y = y_o + dH i - p in
    dW[f, c, i, j] = sum dY[n, f, y_o, x_o] x_pad[n, c, y_o + dH i, x_o + dW j] turns the dY
    factor into cols_g[(f, kH-1-i, kW-1-j), (n, y, x)] and the x factor into x[n, c, y, x] itself
    (the padding contributes zeros), so dW_flip (F*kH*kW, C) = cols_g @ x^T, with x as
    (C, N*H*W): no im2col of x at all. Per block of examples: one unfold of dY, the transposed
    copy of x's block, two GEMMs (G of each with groups). Returns ``(dx, dw)``.
    """
    xp = get_array_module(g, w)
    F, cg, kh, kw = w.shape
    G = geom.groups
    fg, C, kk = F // G, cg * G, kh * kw
    (t, b), (le, r) = padding
    sh, sw = geom.dilation[0] * (kh - 1), geom.dilation[1] * (kw - 1)
    g_pads = ((sh - t, sh - b), (sw - le, sw - r))  # implicit: unfold writes the zeros
    N = g.shape[0]
    H = g.shape[2] + sum(g_pads[0]) - sh  # the input's size
    W = g.shape[3] + sum(g_pads[1]) - sw
    hw, dtype, rows = H * W, g.dtype, F * kk
    plan, nb, parallel = _block_plan(xp, N, rows * hw * dtype.itemsize)
    dx = w3 = None
    if want_dx:
        w_flip = w.reshape(G, fg, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        w3 = xp.ascontiguousarray(w_flip).reshape(G, cg, fg * kk)
        dx = xp.empty((N, C, H, W), dtype=dtype)
    dw = _WeightGradSum(xp, cg, fg * kk)  # sums x (G, C/G, m) @ cols_g^T: (G, C/G, F/G*kH*kW)

    def run(blocks):
        cols_buf = _scratch(xp, rows * nb * hw, dtype, "cols")
        c_buf = _scratch(xp, C * nb * hw, dtype, "res")  # dx's block (C, nb*H*W), then x's
        part = _WeightGradSum(xp, cg, fg * kk) if parallel else dw
        prev = None
        for n0, n1 in blocks:
            bs, m = n1 - n0, (n1 - n0) * hw
            cols = unfold(g[n0:n1], (kh, kw), (1, 1), geom.dilation, (H, W),
                          out=cols_buf[:rows * m].reshape(F, kh, kw, bs, H, W), pads=g_pads,
                          zero_padding=bs != prev)
            prev = bs
            cols3 = cols.reshape(G, fg * kk, m)
            if want_dx:
                res = xp.matmul(w3, cols3, out=c_buf[:C * m].reshape(G, cg, m))
                _to_batch_first(res.reshape(C, bs, hw), dx[n0:n1].reshape(bs, C, hw), None, xp)
            if x is not None:
                xf = c_buf[:C * m].reshape(C, bs, hw)
                _to_channels_first(x[n0:n1], xf, xp)
                part.add(xf.reshape(G, cg, m), cols3)
        if parallel:
            with _merge_lock:
                dw.merge(part)

    _run_plan(xp, plan, parallel, run)
    gw = None
    if x is not None:  # (G, C/G, F/G, kH, kW) with flipped taps -> (F, C/G, kH, kW)
        flipped = dw.result((G, cg, fg, kh, kw)).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        gw = xp.ascontiguousarray(flipped).reshape(F, cg, kh, kw)
    return dx, gw


class Conv2d(Function):
    """2-D convolution (cross-correlation) by im2col + GEMM.

    x: (N, C, H, W), w: (F, C/G, kH, kW), b: (F,) or absent -> out: (N, F, Ho, Wo), with
    Ho = (H + pad_top + pad_bottom - dH(kH - 1) - 1) // sH + 1 (likewise Wo).
    Forward: out = Wm @ im2col(x) + b.  Backward (dY: (N, F, Ho, Wo)):
    dW = dY @ cols^T (columns recomputed from the saved input), dx = col2im(Wm^T @ dY)
    cropped to (N, C, H, W), db = dY summed over (N, Ho, Wo); for stride 1 (and F <= 3 C) both dx
    and dW come from the columns of the padded dY instead (:func:`_gather_backward`). Work for
    inputs that need no gradient is skipped. padding: ((top, bottom), (left, right)).
    """

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                groups=1):
        kh, kw = w.shape[2:]
        (sh, sw), (dh, dw) = stride, dilation
        Ho = (x.shape[2] + sum(padding[0]) - dh * (kh - 1) - 1) // sh + 1
        Wo = (x.shape[3] + sum(padding[1]) - dw * (kw - 1) - 1) // sw + 1
        geom = ConvGeometry((kh, kw), stride, dilation, (Ho, Wo), groups)
        out, _ = conv_gemm(x, w, geom, bias=b, pads=padding)  # padding implicit, no copy
        # x itself, no padded copy: the graph keeps x alive anyway
        self.x, self.w, self.geom, self.padding = x, w, geom, padding
        self.has_bias = b is not None
        return out

    def backward(self, g):
        needs = self.needs_input_grad
        want_db = self.has_bias and needs[2]
        if needs[0] and _gather_input_grad(self.geom, self.padding, self.w.shape,
                                           with_weight=needs[1]):
            gx, gw = _gather_backward(g, self.x if needs[1] else None, self.w, self.geom,
                                      self.padding)
            n, f = g.shape[:2]
            gb = get_array_module(g).einsum("nfl->f", g.reshape(n, f, -1)) if want_db else None
        else:
            (t, b), (le, r) = self.padding
            n, c, h, w = self.x.shape
            gx, gw, gb = gemm_col2im(g, self.w, self.geom, self.x if needs[1] else None,
                                     (n, c, h + t + b, w + le + r), want_dx=needs[0],
                                     want_db=want_db, pads=self.padding)
            if gx is not None:
                gx = _crop(gx, self.padding)
        return (gx, gw, gb) if self.has_bias else (gx, gw)


class ConvTranspose2d(Function):
    """2-D transposed convolution: the adjoint (input gradient) of a convolution.

    x: (N, C_in, H, W), w: (C_in, C_out/G, kH, kW), b: (C_out,) or absent ->
    out: (N, C_out, Ho, Wo), Ho = (H - 1) sH - pad_top - pad_bottom + dH(kH - 1) + out_pad_h + 1.
    Forward: out = col2im(Wm^T @ x) cropped, + b (each input pixel stamps the kernel, scaled, onto
    an sH x sW-spaced grid). Backward (dY: (N, C_out, Ho, Wo)): dx = Wm @ im2col(dY) (a convolution
    of dY with the same weight), dW = x @ im2col(dY)^T, db = dY summed over (N, Ho, Wo).
    """

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                output_padding=(0, 0), dilation=(1, 1), groups=1):
        N, _, H, W = x.shape
        kh, kw = w.shape[2:]
        (sh, sw), (dh, dw), (oh, ow) = stride, dilation, output_padding
        (t, bt), (le, r) = padding
        c_out = w.shape[1] * groups
        padded = (N, c_out, (H - 1) * sh + dh * (kh - 1) + oh + 1,
                  (W - 1) * sw + dw * (kw - 1) + ow + 1)
        geom = ConvGeometry((kh, kw), stride, dilation, (H, W), groups)
        out = _crop(gemm_col2im(x, w, geom, padded_shape=padded)[0], padding)
        xp = get_array_module(x)
        out = xp.ascontiguousarray(out) if b is None else out + b.reshape(-1, 1, 1)
        self.x, self.w, self.geom, self.padding = x, w, geom, padding
        self.has_bias = b is not None
        return out

    def backward(self, g):
        needs = self.needs_input_grad
        gx = gw = None
        if needs[0] or needs[1]:
            gx, gw = conv_gemm(g, self.w, self.geom, gy=self.x if needs[1] else None,
                               want_out=needs[0], pads=self.padding)
        if self.has_bias:
            return gx, gw, (g.sum(axis=(0, 2, 3)) if needs[2] else None)
        return gx, gw


# ----- functional API with input checks -------------------------------------------------------------
def _tensor(x, fn: str, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        return Tensor(x)
    except Exception:
        raise TypeError(f"{fn}: {what} must be a tensor or array, got {type(x).__name__}") from None


def _check_dtypes(fn: str, x: Tensor, w: Tensor, b) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a floating-point input, got {x.dtype}")
    if w.dtype != x.dtype:
        raise TypeError(
            f"{fn}: input is {x.dtype} but weight is {w.dtype}: convert one of them "
            f"(x.float() / module.float(), or .double())"
        )
    if b is not None and b.dtype != x.dtype:
        raise TypeError(f"{fn}: input is {x.dtype} but bias is {b.dtype}")


def _check_groups(fn: str, groups, channels: int, what: str) -> int:
    """groups as an int, checked to be positive and to divide ``channels``."""
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive integer, got {groups!r}")
    groups = int(groups)
    if channels % groups:
        raise ValueError(f"{fn}: {what} ({channels}) must be divisible by groups ({groups})")
    return groups


def _positive_pair(value, name: str, fn: str) -> tuple[int, int]:
    p = pair(value, name, fn)
    if min(p) < 1:
        raise ValueError(f"{fn}: {name} must be positive, got {value!r}")
    return p


def _unbatched(fn_name: str, x: Tensor):
    if x.ndim == 3:
        return True
    if x.ndim != 4:
        raise ValueError(
            f"{fn_name}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    return False


def _same_padding(kernel, dilation):
    """PyTorch's padding="same" for stride 1: total d(k - 1) per axis, the odd one at the end."""
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution, PyTorch's ``F.conv2d``.

    x: (N, C, H, W) (or unbatched (C, H, W)), weight: (F, C/groups, kH, kW), bias: (F,) or None
    -> (N, F, Ho, Wo) with Ho = (H + 2 pH - dH (kH - 1) - 1) // sH + 1 (see
    :func:`~deepbasic.ops.im2col.conv_output_size`). stride, dilation: int or (h, w).
    padding: int, (pH, pW), ((top, bottom), (left, right)), "valid" (no padding) or "same"
    (stride 1 only; output size = input size; with an even kernel the extra row / column is
    padded at the bottom / right, as PyTorch does).
    """
    fn = "conv2d"
    x, weight = _tensor(x, fn, "input"), _tensor(weight, fn, "weight")
    bias = None if bias is None else _tensor(bias, fn, "bias")
    if _unbatched(fn, x):
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if weight.ndim != 4:
        raise ValueError(
            f"{fn}: expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got shape "
            f"{tuple(weight.shape)}"
        )
    _check_dtypes(fn, x, weight, bias)
    N, C, H, W = x.shape
    F = weight.shape[0]
    groups = _check_groups(fn, groups, F, "out_channels = weight.shape[0]")
    if C != weight.shape[1] * groups:
        per_group = f" ({weight.shape[1]} per group x {groups} groups)" if groups > 1 else ""
        raise ValueError(
            f"{fn}: input has {C} channels, weight expects {weight.shape[1] * groups}{per_group} "
            f"(input {tuple(x.shape)}, weight {tuple(weight.shape)})"
        )
    if bias is not None and tuple(bias.shape) != (F,):
        raise ValueError(f"{fn}: expected a bias of shape ({F},), got {tuple(bias.shape)}")
    kernel = tuple(weight.shape[2:])
    stride = _positive_pair(stride, "stride", fn)
    dilation = _positive_pair(dilation, "dilation", fn)
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0), (0, 0))
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{fn}: padding='same' needs stride 1 (as in PyTorch), got stride {stride}"
                )
            pads = _same_padding(kernel, dilation)
        else:
            raise ValueError(
                f"{fn}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}"
            )
    else:
        pads = padding_pairs(padding, fn)
    Hp, Wp = H + sum(pads[0]), W + sum(pads[1])
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if span[0] > Hp or span[1] > Wp:
        dil = f" (dilated to {span[0]}x{span[1]})" if dilation != (1, 1) else ""
        raise ValueError(
            f"{fn}: kernel {kernel[0]}x{kernel[1]}{dil} is larger than the padded input "
            f"{Hp}x{Wp} (input {H}x{W}, padding {padding!r})"
        )
    args = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d.apply(*args, stride=stride, padding=pads, dilation=dilation, groups=groups)


def conv_transpose_output_size(n: int, f: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution: ``(n - 1) s - 2p + d(f - 1) + output_padding + 1``.

    The inverse of :func:`~deepbasic.ops.im2col.conv_output_size`: a convolution with the same
    settings maps this length back to n (output_padding picks among the lengths that do, when
    stride > 1). padding may be a pair (before, after).
    """
    before, after = pair(padding, "padding", "conv_transpose_output_size")
    return (n - 1) * stride - before - after + dilation * (f - 1) + output_padding + 1


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution"), PyTorch's ``F.conv_transpose2d``.

    x: (N, C_in, H, W) (or unbatched (C_in, H, W)), weight: (C_in, C_out/groups, kH, kW),
    bias: (C_out,) or None -> (N, C_out, Ho, Wo),
    Ho = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding_h + 1. It is the gradient of
    ``conv2d`` with respect to its input (same weight, stride, padding, dilation), so it
    upsamples by the stride. output_padding (< stride or < dilation) adds rows / columns at the
    bottom / right to pick among the output sizes a strided convolution maps to the same size.
    """
    fn = "conv_transpose2d"
    x, weight = _tensor(x, fn, "input"), _tensor(weight, fn, "weight")
    bias = None if bias is None else _tensor(bias, fn, "bias")
    if _unbatched(fn, x):
        return conv_transpose2d(x.unsqueeze(0), weight, bias, stride, padding, output_padding,
                                groups, dilation).squeeze(0)
    if weight.ndim != 4:
        raise ValueError(
            f"{fn}: expected a 4-D weight (in_channels, out_channels / groups, kH, kW), got shape "
            f"{tuple(weight.shape)}"
        )
    _check_dtypes(fn, x, weight, bias)
    N, C, H, W = x.shape
    if C != weight.shape[0]:
        raise ValueError(
            f"{fn}: input has {C} channels, weight expects {weight.shape[0]} "
            f"(input {tuple(x.shape)}, weight (in_channels, out_channels / groups, kH, kW) = "
            f"{tuple(weight.shape)})"
        )
    groups = _check_groups(fn, groups, C, "in_channels = weight.shape[0]")
    c_out = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(f"{fn}: expected a bias of shape ({c_out},), got {tuple(bias.shape)}")
    if isinstance(padding, str):
        raise ValueError(f"{fn}: padding must be an int or a pair (PyTorch has no {padding!r} "
                         f"for transposed convolutions)")
    kernel = tuple(weight.shape[2:])
    stride = _positive_pair(stride, "stride", fn)
    dilation = _positive_pair(dilation, "dilation", fn)
    pads = padding_pairs(padding, fn)
    out_pad = pair(output_padding, "output_padding", fn)
    for op, s, d in zip(out_pad, stride, dilation):
        if op < 0 or op >= max(s, d):
            raise ValueError(
                f"{fn}: output_padding must be non-negative and smaller than stride or dilation, "
                f"got output_padding {out_pad}, stride {stride}, dilation {dilation}"
            )
    size = [conv_transpose_output_size(n, k, s, p, op, d)
            for n, k, s, p, op, d in zip((H, W), kernel, stride, pads, out_pad, dilation)]
    if min(size) < 1:
        raise ValueError(
            f"{fn}: the output would be {size[0]}x{size[1]}: padding {padding!r} is too large for "
            f"input {H}x{W} with kernel {kernel[0]}x{kernel[1]} and stride {stride}"
        )
    args = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d.apply(*args, stride=stride, padding=pads, output_padding=out_pad,
                                 dilation=dilation, groups=groups)
