"""Recurrent layers as fused sequence ops: an Elman RNN, an LSTM and a GRU over a whole sequence.

Each op runs one layer in one direction over all time steps, with its forward and backward
written out. The layout is time-major and PyTorch's parameters are used as they are:

    x: (T, N, D) inputs,  h0 (and c0): (N, H) initial states,
    w_ih: (G*H, D),  w_hh: (G*H, H),  b_ih, b_hh: (G*H,)   (G = 1 RNN, 4 LSTM, 3 GRU),

so a PyTorch state dict's ``weight_ih_l0`` etc. load unchanged. How the work is laid out:

* The input projection of every time step is computed before the loop, in one matmul call:
  ``x.reshape(T*N, D) @ w_ih.T`` for the RNN; for the LSTM and GRU one batched call of G
  products (T*N, D) @ (D, H) that writes the gates "gate-major", (G, T, N, H), so that each gate
  of each step is one contiguous (N, H) block (NumPy runs an elementwise op over a contiguous
  block about twice as fast as over the same block cut out of an (N, G*H) row, and the gate
  arithmetic is most of the ops per step).
* The loop over time does ONE (N, H) @ (H, G*H) product per step (w_hh^T made contiguous once:
  the transposed operand made that product about 25% slower), added into the step's gate
  blocks, and a few in-place elementwise passes over arrays small enough to stay in cache.
  Few BLAS calls matter on a busy machine: with two BLAS threads every call waits for both,
  and a descheduled thread made each small product cost milliseconds in one measurement.
* Backward walks the steps in reverse doing only the recurrent product dh_{t-1} = da_t @ w_hh
  and the elementwise chain rule; it stores every step's pre-activation gradient da_t in a
  row-layout (T*N, G*H) buffer, so the weight gradients and the input gradient are ONE matrix
  product each: dW_ih = da^T x,  dW_hh = da^T [h_0 .. h_{T-1}],  dx = da @ w_ih,  db = sum da.
* Sigmoids are computed stably as 0.5 tanh(z/2) + 0.5 (see :func:`deepbasic.ops.stable_sigmoid`).

A Function has one output array, so each op returns a single array of the outputs
h_1 .. h_T, shape (T, N, H); the LSTM appends its final cell state, (T + 1, N, H) =
[h_1, ..., h_T, c_T]. The wrappers :func:`rnn`, :func:`lstm` and :func:`gru` slice it into
``(output, h_n[, c_n])`` (``h_n`` is ``output[T-1]``); indexing's backward puts each slice's
gradient back in place, so gradients flowing into ``h_n`` and ``c_n`` reach the op correctly.
"""
from __future__ import annotations

import contextlib

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.ops.im2col import single_threaded_blas
from deepbasic.tensor import Function, Tensor

# Below this many FLOPs per step product (about 2.5 ms on one core) the loop over time runs its
# BLAS on one thread: on a machine busy with other jobs a second BLAS thread was descheduled for a
# whole scheduler tick (4 ms) at nearly every call, making a 33 MFLOP product (the benchmark's
# LSTM) 30x slower than on one thread, while on idle cores a second thread gains little at
# this size. The products over all time steps before and after the loop keep every thread.
THREADED_STEP_FLOPS = 2 ** 28


def _loop_threads(xp, n: int, h: int, gh: int):
    """Context for the time loop: one BLAS thread when the (n, h) @ (h, gh) step product is
    small (see THREADED_STEP_FLOPS), else the configured threads. NumPy only."""
    if xp is np and 2 * n * h * gh < THREADED_STEP_FLOPS:
        return single_threaded_blas()
    return contextlib.nullcontext()


def _sum_rows(xp, a2):
    """Column sums of a 2-D array as one matrix-vector product (BLAS) instead of a reduction."""
    return xp.ones(a2.shape[0], dtype=a2.dtype) @ a2


def _param_grads(xp, needs, first: int, da2, x2, hprev2, dhp2=None):
    """dW_ih = da^T x, dW_hh = dhp^T hprev (dhp = da unless given), db_ih = sum da, db_hh =
    sum dhp, for the inputs at positions first .. first+3 (None where not needed)."""
    dhp2 = da2 if dhp2 is None else dhp2
    out = [da2.T @ x2 if needs[first] else None,
           dhp2.T @ hprev2 if needs[first + 1] else None]
    if len(needs) > first + 2:
        out.append(_sum_rows(xp, da2) if needs[first + 2] else None)
        if needs[first + 3]:
            out.append(out[2] if dhp2 is da2 and out[2] is not None else _sum_rows(xp, dhp2))
        else:
            out.append(None)
    return out


def _input_projection(xp, x, w_ih, b, gates: int):
    """x: (T, N, D) -> x_t W_ih^T + b for every step, before the loop over time.

    One gate: (T, N, H), one (T*N, D) @ (D, H) product. Several: gate-major over the whole
    sequence, (G, T, N, H), from one batched matmul call of G products (T*N, D) @ (D, H), so
    that gate k of step t, ``a[k, t]``, is one contiguous (N, H) block. (Writing this layout
    directly measured faster than one (T*N, G*H) product followed by a transposing copy, and
    G large products make far fewer BLAS calls than T*G per-step ones, which matters when BLAS
    threads must wait for each other on a busy machine.)"""
    T, N, D = x.shape
    x2 = x.reshape(T * N, D)
    if gates == 1:
        a = xp.matmul(x2, w_ih.T).reshape(T, N, -1)
        if b is not None:
            a += b
        return a
    H = w_ih.shape[0] // gates
    a = xp.empty((gates, T * N, H), dtype=xp.result_type(x, w_ih))
    xp.matmul(x2, w_ih.reshape(gates, H, D).transpose(0, 2, 1), out=a)
    if b is not None:
        a += b.reshape(gates, 1, H)
    return a.reshape(gates, T, N, H)


def _recurrent_weight(xp, w_hh, steps: int):
    """w_hh (G*H, H) -> w_hh^T (H, G*H), the right operand of the per-step product, made
    contiguous (one copy of the weights) when there is more than one step to amortize it: the
    transposed operand made that small product about 25% slower."""
    return xp.ascontiguousarray(w_hh.T) if steps > 1 else w_hh.T


def _to_rows(flat_t, gates: int):
    """A step's (N, G*H) row-layout array, viewed gate-major as (G, N, H) (not contiguous)."""
    n = flat_t.shape[0]
    return flat_t.reshape(n, gates, -1).transpose(1, 0, 2)


class RNN(Function):
    """Elman RNN layer: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu.

    x: (T, N, D), h0: (N, H), w_ih: (H, D), w_hh: (H, H), b_ih, b_hh: (H,) (optional, both or
    neither) -> (T, N, H) = [h_1, ..., h_T].

    Backward, with a_t the pre-activation and dh_t = dout_t + da_{t+1} W_hh (dh_{T+1} term 0):
        da_t = dh_t * (1 - h_t^2)  (tanh)   or   dh_t * [h_t > 0]  (relu),
        dh0 = da_1 W_hh,  dx = da W_ih,  dW_ih = sum_t da_t^T x_t,
        dW_hh = sum_t da_t^T h_{t-1},  db_ih = db_hh = sum_t da_t.
    Saves x, the weights and the states H = [h_0, ..., h_T] (T + 1, N, H).
    """

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
        xp = get_array_module(x)
        x = xp.ascontiguousarray(x)  # (batch_first input arrives transposed): copied once
        T, N, _ = x.shape
        H = w_hh.shape[1]
        a = _input_projection(xp, x, w_ih, None if b_ih is None else b_ih + b_hh, 1)
        hs = xp.empty((T + 1, N, H), dtype=a.dtype)  # hs[0] = h0, hs[t] = h_t
        hs[0] = h0
        hw = xp.empty((N, H), dtype=a.dtype)
        w_hh_t = _recurrent_weight(xp, w_hh, T)
        with _loop_threads(xp, N, H, H):
            for t in range(T):
                xp.matmul(hs[t], w_hh_t, out=hw)
                at = a[t]
                at += hw
                if nonlinearity == "tanh":
                    xp.tanh(at, out=hs[t + 1])
                else:
                    xp.maximum(at, 0, out=hs[t + 1])
        self.x, self.w_ih, self.w_hh, self.hs, self.relu = x, w_ih, w_hh, hs, nonlinearity == "relu"
        self.scratch = a  # the pre-activations: not needed by backward, which reuses the memory
        return hs[1:]

    def backward(self, gy):
        xp = get_array_module(gy)
        x, hs, w_hh = self.x, self.hs, self.w_hh
        T, N, D = x.shape
        H = hs.shape[2]
        needs = self.needs_input_grad
        da = self.scratch.reshape(T, N, H)  # every value is overwritten below
        dh = xp.zeros((N, H), dtype=hs.dtype)  # dL/dh_t arriving from step t + 1
        tmp = xp.empty((N, H), dtype=hs.dtype)
        with _loop_threads(xp, N, H, H):
            for t in range(T - 1, -1, -1):
                d, h = da[t], hs[t + 1]
                xp.add(gy[t], dh, out=d)
                if self.relu:
                    xp.greater(h, 0, out=tmp)
                else:
                    xp.multiply(h, h, out=tmp)
                    xp.subtract(1, tmp, out=tmp)
                d *= tmp
                if t or needs[1]:
                    xp.matmul(d, w_hh, out=dh)
        da2 = da.reshape(T * N, H)
        dx = (da2 @ self.w_ih).reshape(T, N, D) if needs[0] else None
        dh0 = dh if needs[1] else None
        return (dx, dh0, *_param_grads(xp, needs, 2, da2, x.reshape(T * N, D),
                                       hs[:T].reshape(T * N, H)))


class LSTM(Function):
    """LSTM layer, PyTorch's gate order (i, f, g, o) and equations:

        [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh      (N, 4H)
        i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o),   g = tanh(a_g)
        c_t = f * c_{t-1} + i * g,    h_t = o * tanh(c_t).

    x: (T, N, D), h0, c0: (N, H), w_ih: (4H, D), w_hh: (4H, H), b_ih, b_hh: (4H,) (optional, both
    or neither) -> (T + 1, N, H) = [h_1, ..., h_T, c_T].

    Backward, step t from T down to 1, with dh = dout_t + da_{t+1} W_hh and dc = dc_t (dc_T from
    the last output slice, then carried back):
        dc  += dh * o * (1 - tanh(c_t)^2)
        da_o = dh * tanh(c_t) * o (1 - o),    da_i = dc * g * i (1 - i),
        da_f = dc * c_{t-1} * f (1 - f),      da_g = dc * i * (1 - g^2),
        dc_{t-1} = dc * f,                    dh_{t-1} gets da_t W_hh;
    then dx = da W_ih, dW_ih = da^T x, dW_hh = da^T [h_0 .. h_{T-1}], db_ih = db_hh = sum da.
    Saves x, the weights, the activated gates, gate-major (4, T, N, H), the cell states
    [c_0 .. c_T] (T + 1, N, H), tanh(c_t) (T, N, H) and the hidden states [h_0 .. h_T].
    """

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
        xp = get_array_module(x)
        x = xp.ascontiguousarray(x)  # (batch_first input arrives transposed): copied once
        T, N, _ = x.shape
        H = w_hh.shape[1]
        gates = _input_projection(xp, x, w_ih, None if b_ih is None else b_ih + b_hh, 4)
        dt = gates.dtype
        ys = xp.empty((T + 2, N, H), dtype=dt)  # [h_0, h_1, ..., h_T, c_T]
        ys[0] = h0
        cs = xp.empty((T + 1, N, H), dtype=dt)  # [c_0, ..., c_T]
        cs[0] = c0
        tcs = xp.empty((T, N, H), dtype=dt)  # tanh(c_t), t = 1..T
        hw = xp.empty((N, 4 * H), dtype=dt)
        ig = xp.empty((N, H), dtype=dt)
        w_hh_t = _recurrent_weight(xp, w_hh, T)
        with _loop_threads(xp, N, H, 4 * H):
            for t in range(T):
                a = gates[:, t]  # (4, N, H): x_t W_ih^T + b, becomes [i, f, g, o]
                xp.matmul(ys[t], w_hh_t, out=hw)
                a += _to_rows(hw, 4)
                for s in (a[:2], a[3]):  # tanh(z/2) for the sigmoid gates, tanh(z) for g
                    s *= 0.5
                xp.tanh(a, out=a)
                for s in (a[:2], a[3]):  # sigmoid(z) = 0.5 tanh(z/2) + 0.5
                    s *= 0.5
                    s += 0.5
                i, f, g, o = a
                c = cs[t + 1]
                xp.multiply(f, cs[t], out=c)
                xp.multiply(i, g, out=ig)
                c += ig
                xp.tanh(c, out=tcs[t])
                xp.multiply(o, tcs[t], out=ys[t + 1])
        ys[T + 1] = cs[T]
        self.x, self.w_ih, self.w_hh = x, w_ih, w_hh
        self.gates, self.cs, self.tcs, self.ys = gates, cs, tcs, ys
        return ys[1:]

    def backward(self, gy):
        xp = get_array_module(gy)
        x, w_hh, gates, cs, tcs = self.x, self.w_hh, self.gates, self.cs, self.tcs
        T, N, D = x.shape
        H = cs.shape[2]
        dt = gates.dtype
        needs = self.needs_input_grad
        da = xp.empty((T, N, 4 * H), dtype=dt)  # row layout, for the products
        d = xp.empty((4, N, H), dtype=dt)  # this step's da, gate-major
        di, df, dg, do = d
        dhn = xp.zeros((N, H), dtype=dt)  # dL/dh_t arriving from step t + 1
        dh = xp.empty((N, H), dtype=dt)
        dc = gy[T].astype(dt, copy=True)  # dL/dc_T, then carried back
        tmp = xp.empty((N, H), dtype=dt)
        q = xp.empty((N, H), dtype=dt)
        with _loop_threads(xp, N, H, 4 * H):
            for t in range(T - 1, -1, -1):
                a = gates[:, t]
                i, f, g, o = a
                tc = tcs[t]
                xp.add(gy[t], dhn, out=dh)
                # with q = dh * o:  dc += q (1 - tanh(c)^2) = q - (q tanh(c)) tanh(c),
                # da_o = (q tanh(c)) (1 - o) = dh * tanh(c) * o (1 - o)
                xp.multiply(dh, o, out=q)
                xp.multiply(q, tc, out=do)
                xp.multiply(do, tc, out=tmp)
                dc += q
                dc -= tmp
                xp.subtract(1, o, out=tmp)
                do *= tmp
                # da_i = dc * g * i (1 - i),  da_f = dc * c_{t-1} * f (1 - f)
                xp.subtract(1, a[:2], out=d[:2])
                d[:2] *= a[:2]
                di *= g
                df *= cs[t]
                d[:2] *= dc
                # da_g = dc * i * (1 - g^2)
                xp.multiply(g, g, out=dg)
                xp.subtract(1, dg, out=dg)
                dg *= i
                dg *= dc
                dc *= f  # dL/dc_{t-1}
                _to_rows(da[t], 4)[...] = d
                if t or needs[1]:
                    xp.matmul(da[t], w_hh, out=dhn)
        da2 = da.reshape(T * N, 4 * H)
        dx = (da2 @ self.w_ih).reshape(T, N, D) if needs[0] else None
        dh0 = dhn if needs[1] else None
        dc0 = dc if needs[2] else None
        return (dx, dh0, dc0, *_param_grads(xp, needs, 3, da2, x.reshape(T * N, D),
                                            self.ys[:T].reshape(T * N, H)))


class GRU(Function):
    """GRU layer, PyTorch's gate order (r, z, n) and equations:

        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    x: (T, N, D), h0: (N, H), w_ih: (3H, D), w_hh: (3H, H), b_ih, b_hh: (3H,) (optional, both or
    neither) -> (T, N, H) = [h_1, ..., h_T].

    Backward, step t from T down to 1, with dh = dout_t + dh_t from step t + 1 and
    hn = W_hn h_{t-1} + b_hn:
        dz_pre = dh * (h_{t-1} - n) * z (1 - z),   dn_pre = dh * (1 - z) * (1 - n^2),
        dr_pre = dn_pre * hn * r (1 - r);
    the input side's pre-activation gradient is dxa = [dr_pre, dz_pre, dn_pre], the hidden side's
    dha = [dr_pre, dz_pre, dn_pre * r], and
        dh_{t-1} = dh * z + dha W_hh,   dx = dxa W_ih,   dW_ih = dxa^T x,
        dW_hh = dha^T [h_0 .. h_{T-1}],   db_ih = sum dxa,   db_hh = sum dha.
    Saves x, the weights, the activated gates [r, z, n], gate-major (3, T, N, H), hn (T, N, H)
    and the states [h_0 .. h_T].
    """

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None):
        xp = get_array_module(x)
        x = xp.ascontiguousarray(x)  # (batch_first input arrives transposed): copied once
        T, N, _ = x.shape
        H = w_hh.shape[1]
        b = None
        if b_ih is not None:  # b_hr and b_hz add to the input side; b_hn is multiplied by r
            b = b_ih.copy()
            b[:2 * H] += b_hh[:2 * H]
        gates = _input_projection(xp, x, w_ih, b, 3)
        dt = gates.dtype
        hs = xp.empty((T + 1, N, H), dtype=dt)  # [h_0, ..., h_T]
        hs[0] = h0
        hns = xp.empty((T, N, H), dtype=dt)  # W_hn h_{t-1} + b_hn
        hw_rows = xp.empty((N, 3 * H), dtype=dt)
        hw = _to_rows(hw_rows, 3)  # the same memory, gate-major view
        rh = xp.empty((N, H), dtype=dt)
        w_hh_t = _recurrent_weight(xp, w_hh, T)
        with _loop_threads(xp, N, H, 3 * H):
            for t in range(T):
                a = gates[:, t]  # (3, N, H) input side, becomes [r, z, n]
                xp.matmul(hs[t], w_hh_t, out=hw_rows)
                if b_hh is None:
                    hns[t] = hw[2]
                else:
                    xp.add(hw[2], b_hh[2 * H:], out=hns[t])
                rz = a[:2]
                rz += hw[:2]
                rz *= 0.5
                xp.tanh(rz, out=rz)
                rz *= 0.5
                rz += 0.5
                r, z, n = a
                xp.multiply(r, hns[t], out=rh)
                n += rh
                xp.tanh(n, out=n)
                h = hs[t + 1]  # n + z * (h_{t-1} - n)
                xp.subtract(hs[t], n, out=h)
                h *= z
                h += n
        self.x, self.w_ih, self.w_hh = x, w_ih, w_hh
        self.gates, self.hns, self.hs = gates, hns, hs
        return hs[1:]

    def backward(self, gy):
        xp = get_array_module(gy)
        x, w_hh, gates, hns, hs = self.x, self.w_hh, self.gates, self.hns, self.hs
        T, N, D = x.shape
        H = hs.shape[2]
        dt = gates.dtype
        needs = self.needs_input_grad
        dxa = xp.empty((T, N, 3 * H), dtype=dt)  # row layout, for the products
        dha = xp.empty((T, N, 3 * H), dtype=dt)
        d = xp.empty((3, N, H), dtype=dt)  # this step's dxa, gate-major
        dr, dz, dn = d
        dhn = xp.zeros((N, H), dtype=dt)
        dh = xp.empty((N, H), dtype=dt)
        tmp = xp.empty((N, H), dtype=dt)
        omz = xp.empty((N, H), dtype=dt)  # 1 - z
        with _loop_threads(xp, N, H, 3 * H):
            for t in range(T - 1, -1, -1):
                r, z, n = gates[:, t]
                xp.add(gy[t], dhn, out=dh)
                xp.subtract(1, z, out=omz)
                # dz_pre = dh * (h_{t-1} - n) * z (1 - z)
                xp.subtract(hs[t], n, out=dz)
                dz *= dh
                dz *= z
                dz *= omz
                # dn_pre = dh * (1 - z) * (1 - n^2)
                xp.multiply(n, n, out=dn)
                xp.subtract(1, dn, out=dn)
                omz *= dh
                dn *= omz
                # dr_pre = dn_pre * hn * r (1 - r)
                xp.multiply(dn, hns[t], out=dr)
                xp.subtract(1, r, out=tmp)
                tmp *= r
                dr *= tmp
                _to_rows(dxa[t], 3)[...] = d
                e = _to_rows(dha[t], 3)  # [dr_pre, dz_pre, dn_pre * r]
                e[:2] = d[:2]
                xp.multiply(dn, r, out=e[2])
                if t or needs[1]:  # dh_{t-1} = dh * z + dha W_hh
                    xp.matmul(dha[t], w_hh, out=dhn)
                    xp.multiply(dh, z, out=tmp)
                    dhn += tmp
        dxa2, dha2 = dxa.reshape(T * N, 3 * H), dha.reshape(T * N, 3 * H)
        dx = (dxa2 @ self.w_ih).reshape(T, N, D) if needs[0] else None
        dh0 = dhn if needs[1] else None
        return (dx, dh0, *_param_grads(xp, needs, 2, dxa2, x.reshape(T * N, D),
                                       hs[:T].reshape(T * N, H), dha2))


# ----- checked wrappers -----------------------------------------------------------------------
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _as_tensor(a):
    return a if isinstance(a, Tensor) else Tensor(a)


def _check(name: str, x, states, w_ih, w_hh, b_ih, b_hh):
    """Shapes and dtypes of one layer's inputs; returns (T, N, H)."""
    if x.ndim != 3:
        raise ValueError(f"{name}: expected x of shape (T, N, D), got {tuple(x.shape)}")
    T, N, D = x.shape
    g = GATES[name]
    if w_hh.ndim != 2 or w_hh.shape[0] != g * w_hh.shape[1]:
        raise ValueError(f"{name}: expected w_hh of shape ({g}*H, H), got {tuple(w_hh.shape)}")
    H = w_hh.shape[1]
    if tuple(w_ih.shape) != (g * H, D):
        raise ValueError(f"{name}: expected w_ih of shape ({g * H}, {D}) for input size {D} and "
                         f"hidden size {H}, got {tuple(w_ih.shape)}")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{name}: pass both biases or neither")
    for what, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != (g * H,):
            raise ValueError(f"{name}: expected {what} of shape ({g * H},), got {tuple(b.shape)}")
    if T == 0 or N == 0:
        raise ValueError(f"{name}: empty input of shape {tuple(x.shape)}")
    for what, s in states.items():
        if s is not None and tuple(s.shape) != (N, H):
            raise ValueError(f"{name}: expected {what} of shape ({N}, {H}), got {tuple(s.shape)}")
    for what, a in (("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh),
                    *states.items()):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{name}: x is {x.dtype} but {what} is {a.dtype}: use one float dtype "
                            f"(e.g. module.double() for float64 inputs)")
    return T, N, H


def _state(s, like, n, h):
    if s is not None:
        return _as_tensor(s)
    xp = get_array_module(like.data)
    return Tensor._make(xp.zeros((n, h), dtype=like.dtype))


def _biases(b_ih, b_hh):
    return () if b_ih is None else (_as_tensor(b_ih), _as_tensor(b_hh))


def rnn(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity: str = "tanh"):
    """One Elman RNN layer over a sequence. x: (T, N, D), h0: (N, H) or None (zeros).

    Returns (output (T, N, H), h_n (N, H)); see :class:`RNN`.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    x = _as_tensor(x)
    T, N, H = _check("RNN", x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh)
    out = RNN.apply(x, _state(h0, x, N, H), _as_tensor(w_ih), _as_tensor(w_hh),
                    *_biases(b_ih, b_hh), nonlinearity=nonlinearity)
    return out, out[T - 1]


def lstm(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM layer over a sequence. x: (T, N, D), h0, c0: (N, H) or None (zeros).

    Returns (output (T, N, H), h_n (N, H), c_n (N, H)); see :class:`LSTM`.
    """
    x = _as_tensor(x)
    T, N, H = _check("LSTM", x, {"h0": h0, "c0": c0}, w_ih, w_hh, b_ih, b_hh)
    y = LSTM.apply(x, _state(h0, x, N, H), _state(c0, x, N, H), _as_tensor(w_ih),
                   _as_tensor(w_hh), *_biases(b_ih, b_hh))
    return y[:T], y[T - 1], y[T]


def gru(x, h0, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU layer over a sequence. x: (T, N, D), h0: (N, H) or None (zeros).

    Returns (output (T, N, H), h_n (N, H)); see :class:`GRU`.
    """
    x = _as_tensor(x)
    T, N, H = _check("GRU", x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh)
    out = GRU.apply(x, _state(h0, x, N, H), _as_tensor(w_ih), _as_tensor(w_hh),
                    *_biases(b_ih, b_hh))
    return out, out[T - 1]
