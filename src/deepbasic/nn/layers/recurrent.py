"""Recurrent layers with PyTorch's names, arguments, parameters and call conventions:
RNN, LSTM and GRU over whole sequences (several layers, either direction), their one-step cells
RNNCell, LSTMCell and GRUCell, and Embedding.

Each layer (and direction) of a sequence module runs as one fused op from
:mod:`deepbasic.ops.rnn` (the input projection of all time steps in one matrix product, then
one small product per step, backward written out). The parameters are PyTorch's, by name and
shape, so state dicts go both ways (``weight_ih_l0`` (G*H, D), ``weight_hh_l0`` (G*H, H),
``bias_ih_l0``, ``bias_hh_l0`` (G*H,), then ``_l1`` ... and ``_reverse`` for the second
direction; G = 1 RNN, 4 LSTM (gates i, f, g, o), 3 GRU (r, z, n)), and so is the default init:
every parameter U(-1/sqrt(H), 1/sqrt(H)).

Shapes (batch_first=False): input (T, N, D) -> output (T, N, num_directions * H), states
(num_layers * num_directions, N, H); batch_first=True makes input and output (N, T, ...) (the
states keep their layout, as in PyTorch). Unbatched input (T, D) with states (L * dirs, H) works
too, as does a cell's unbatched (D,) input with an (H,) state.
"""
from __future__ import annotations

import math

from deepbasic import init
from deepbasic.creation import zeros
from deepbasic.nn import functional as F
from deepbasic.nn.module import Module, Parameter
from deepbasic.ops.embedding import padding_index
from deepbasic.ops.rnn import gru, lstm, rnn
from deepbasic.ops.shape import cat, stack
from deepbasic.tensor import Tensor

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _positive_int(name: str, what: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}: {what} must be a positive integer, got {v!r}")
    return v


def _as_tensor(a):
    return a if isinstance(a, Tensor) else Tensor(a)


def _shape(t) -> tuple:
    return tuple(t.shape)


def _reset_uniform(module: Module, hidden_size: int) -> None:
    """PyTorch's init of recurrent layers: every parameter U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _run_layer(mode: str, x, state, w, nonlinearity):
    """One layer, one direction: x (T, N, D), state (h0,) or (h0, c0) -> (out, (h_n[, c_n]))."""
    if mode == "LSTM":
        out, h, c = lstm(x, state[0], state[1], *w)
        return out, (h, c)
    if mode == "GRU":
        out, h = gru(x, state[0], *w)
    else:
        out, h = rnn(x, state[0], *w, nonlinearity=nonlinearity)
    return out, (h,)


class _RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters, argument checks, and the loop over layers and
    directions (each one fused op over the whole sequence)."""

    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=None):
        super().__init__()
        name = type(self).__name__
        _positive_int(name, "input_size", input_size)
        _positive_int(name, "hidden_size", hidden_size)
        _positive_int(name, "num_layers", num_layers)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        dirs = 2 if bidirectional else 1
        g = GATES[self.mode] * hidden_size
        for layer in range(num_layers):
            d_in = input_size if layer == 0 else hidden_size * dirs
            for direction in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                setattr(self, "weight_ih" + sfx, Parameter(zeros(g, d_in, dtype=dtype)))
                setattr(self, "weight_hh" + sfx, Parameter(zeros(g, hidden_size, dtype=dtype)))
                if bias:
                    setattr(self, "bias_ih" + sfx, Parameter(zeros(g, dtype=dtype)))
                    setattr(self, "bias_hh" + sfx, Parameter(zeros(g, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_uniform(self, self.hidden_size)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _weights(self, layer: int, direction: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        return tuple(getattr(self, n + sfx) for n in names)

    def _check_state(self, s, what: str, batched: bool, n: int):
        name = type(self).__name__
        s = _as_tensor(s)
        k = self.num_layers * self.num_directions
        want = (k, n, self.hidden_size) if batched else (k, self.hidden_size)
        if _shape(s) != want:
            kind = "batched" if batched else "unbatched"
            raise ValueError(f"{name}: expected {what} of shape {want} for {kind} input "
                             f"(num_layers * num_directions, {'N, ' if batched else ''}"
                             f"hidden_size), got {_shape(s)}")
        return s if batched else s.unsqueeze(1)

    def _states(self, hx, batched: bool, n: int) -> list:
        """hx as a list of (num_layers * dirs, N, H) tensors or None: [h0] or [h0, c0]."""
        name = type(self).__name__
        if self.mode == "LSTM":
            if hx is None:
                return [None, None]
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"{name}: expected the initial state as a pair (h0, c0), got "
                                 f"{type(hx).__name__}")
            return [self._check_state(hx[0], "h0", batched, n),
                    self._check_state(hx[1], "c0", batched, n)]
        if isinstance(hx, (tuple, list)):
            raise ValueError(f"{name}: expected the initial state h0 as one tensor, got a "
                             f"{type(hx).__name__}")
        return [None if hx is None else self._check_state(hx, "h0", batched, n)]

    def forward(self, input, hx=None):
        """input: (T, N, D) ((N, T, D) if batch_first) or unbatched (T, D); hx: the initial
        state(s), zeros if None. Returns (output, h_n) for RNN and GRU, (output, (h_n, c_n))
        for LSTM."""
        name = type(self).__name__
        x = _as_tensor(input)
        if x.ndim not in (2, 3):
            layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
            raise ValueError(f"{name}: expected input of shape {layout} or unbatched "
                             f"(T, input_size), got {_shape(x)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[-1]} features (shape {_shape(x)}), "
                             f"expected input_size={self.input_size}")
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        states = self._states(hx, batched, x.shape[1])
        finals = [[] for _ in states]  # per state kind, one (N, H) per layer and direction
        dirs = self.num_directions
        for layer in range(self.num_layers):
            outs = []
            for direction in range(dirs):
                k = layer * dirs + direction
                st = [None if s is None else s[k] for s in states]
                inp = x if direction == 0 else x[::-1]
                out, last = _run_layer(self.mode, inp, st, self._weights(layer, direction),
                                       self.nonlinearity)
                outs.append(out if direction == 0 else out[::-1])
                for f, s in zip(finals, last):
                    f.append(s)
            x = outs[0] if dirs == 1 else cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        hs = [stack(f, 0) for f in finals]
        if not batched:
            x = x.squeeze(1)
            hs = [h.squeeze(1) for h in hs]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return (x, hs[0]) if self.mode != "LSTM" else (x, (hs[0], hs[1]))

    def extra_repr(self) -> str:  # PyTorch's format
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked
    ``num_layers`` deep (with ``dropout`` on the outputs of all but the last layer in training).

    ``out, h_n = rnn(x, h0=None)``: x (T, N, input_size) -> out (T, N, dirs * hidden_size),
    h_n (num_layers * dirs, N, hidden_size). Parameters ``weight_ih_l{k}`` (H, D_k),
    ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,), as PyTorch's.
    """

    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity, bias, batch_first,
                         dropout, bidirectional, dtype)


class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's equations and gate order (i, f, g, o):

        i, f, o = sigmoid(.), g = tanh(.) of x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh,
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t).

    ``out, (h_n, c_n) = lstm(x, (h0, c0))`` (or ``lstm(x)`` for zero states): x (T, N,
    input_size) -> out (T, N, dirs * hidden_size), h_n and c_n (num_layers * dirs, N,
    hidden_size). ``weight_ih_l{k}``: (4H, D_k), ``weight_hh_l{k}``: (4H, H), biases (4H,).
    """

    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None):
        super().__init__(input_size, hidden_size, num_layers, "tanh", bias, batch_first,
                         dropout, bidirectional, dtype)


class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's equations and gate order (r, z, n):

        r, z = sigmoid(.) of x_t W_i{r,z}^T + b_i{r,z} + h_{t-1} W_h{r,z}^T + b_h{r,z},
        n = tanh(x_t W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn)),
        h_t = (1 - z) * n + z * h_{t-1}.

    ``out, h_n = gru(x, h0=None)``; shapes as :class:`RNN`, ``weight_ih_l{k}``: (3H, D_k),
    ``weight_hh_l{k}``: (3H, H), biases (3H,).
    """

    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None):
        super().__init__(input_size, hidden_size, num_layers, "tanh", bias, batch_first,
                         dropout, bidirectional, dtype)


# ----- cells: one time step ---------------------------------------------------------------------
class _CellBase(Module):
    """One time step of a recurrent layer: the sequence op run on a length-1 sequence.
    Parameters ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,)."""

    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype=None):
        super().__init__()
        name = type(self).__name__
        _positive_int(name, "input_size", input_size)
        _positive_int(name, "hidden_size", hidden_size)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.bias, self.nonlinearity = bool(bias), nonlinearity
        g = GATES[self.mode] * hidden_size
        self.weight_ih = Parameter(zeros(g, input_size, dtype=dtype))
        self.weight_hh = Parameter(zeros(g, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(zeros(g, dtype=dtype))
            self.bias_hh = Parameter(zeros(g, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_uniform(self, self.hidden_size)

    def _weights(self) -> tuple:
        w = (self.weight_ih, self.weight_hh)
        return w + ((self.bias_ih, self.bias_hh) if self.bias else ())

    def _input(self, x):
        name = type(self).__name__
        x = _as_tensor(x)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input of shape (N, input_size) or unbatched "
                             f"(input_size,), got {_shape(x)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[-1]} features (shape {_shape(x)}), "
                             f"expected input_size={self.input_size}")
        return x

    def _state(self, s, what: str, x):
        if s is None:
            return None
        s = _as_tensor(s)
        want = (x.shape[0], self.hidden_size) if x.ndim == 2 else (self.hidden_size,)
        if _shape(s) != want:
            raise ValueError(f"{type(self).__name__}: expected {what} of shape {want} for input "
                             f"of shape {_shape(x)}, got {_shape(s)}")
        return s if x.ndim == 2 else s.unsqueeze(0)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


def _step(x):
    """(N, D) or unbatched (D,) -> a length-1 sequence (1, N, D)."""
    return x.reshape(1, x.shape[0], x.shape[1]) if x.ndim == 2 else x.reshape(1, 1, x.shape[0])


def _unstep(h, batched: bool):
    return h if batched else h.reshape(h.shape[-1])


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). ``h1 = cell(x, h0=None)``:
    x (N, input_size) or (input_size,), h (N, hidden_size) or (hidden_size,), zeros if None."""

    mode = "RNN"

    def forward(self, input, hx=None):
        x = self._input(input)
        _, h = rnn(_step(x), self._state(hx, "hx", x), *self._weights(),
                   nonlinearity=self.nonlinearity)
        return _unstep(h, x.ndim == 2)


class LSTMCell(_CellBase):
    """One LSTM step (PyTorch's equations, gates i, f, g, o). ``h1, c1 = cell(x, (h0, c0))``
    (or ``cell(x)`` for zero states): x (N, input_size), h and c (N, hidden_size)."""

    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__(input_size, hidden_size, bias, "tanh", dtype)

    def forward(self, input, hx=None):
        x = self._input(input)
        if hx is None:
            h0 = c0 = None
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            h0, c0 = self._state(hx[0], "h", x), self._state(hx[1], "c", x)
        else:
            raise ValueError(f"LSTMCell: expected the state as a pair (h, c), got "
                             f"{type(hx).__name__}")
        _, h, c = lstm(_step(x), h0, c0, *self._weights())
        return _unstep(h, x.ndim == 2), _unstep(c, x.ndim == 2)


class GRUCell(_CellBase):
    """One GRU step (PyTorch's equations, gates r, z, n). ``h1 = cell(x, h0=None)``."""

    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__(input_size, hidden_size, bias, "tanh", dtype)

    def forward(self, input, hx=None):
        x = self._input(input)
        _, h = gru(_step(x), self._state(hx, "hx", x), *self._weights())
        return _unstep(h, x.ndim == 2)


# ----- embedding --------------------------------------------------------------------------------
class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``:
    ids (*) int64 -> (*, embedding_dim).

    weight: (num_embeddings, embedding_dim), init N(0, 1) as PyTorch's. ``padding_idx``: that
    row starts at zero and gets no gradient (a <NULL> token's vector stays zero); negative
    values count from the end. The gradient is a scatter-add (repeated ids add up).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, dtype=None):
        super().__init__()
        _positive_int("Embedding", "num_embeddings", num_embeddings)
        _positive_int("Embedding", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_index(padding_idx, num_embeddings, "Embedding")
        self.weight = Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None) -> "Embedding":
        """An Embedding holding ``embeddings`` (V, E) (e.g. word vectors); ``freeze`` keeps
        them fixed (requires_grad False)."""
        w = _as_tensor(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected embeddings of shape (V, E), "
                             f"got {_shape(w)}")
        with init.skip_init():
            m = cls(w.shape[0], w.shape[1], padding_idx=padding_idx, dtype=w.dtype)
        m.weight.data = w.data.copy()
        m.weight.requires_grad = not freeze
        return m

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
