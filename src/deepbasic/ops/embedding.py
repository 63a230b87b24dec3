"""Embedding lookup: rows of a table picked by integer ids (word vectors for a captioning RNN)."""
from __future__ import annotations

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.tensor import Function, Tensor


class Embedding(Function):
    """y = W[idx]:  W: (V, E) table, idx: integer ids of any shape (*) -> y: (*, E).

    dW[v] = sum of dy over the positions where idx == v (a scatter-add: an id that repeats gets
    the sum of its gradients); the row ``padding_idx`` gets no gradient. The scatter-add runs as
    one ``add.at`` on the flattened table with flattened element indices (idx * E + column),
    about three times faster in NumPy than ``add.at`` on whole rows. Saves idx and W's shape.
    """

    def forward(self, w, indices=None, padding_idx=None):
        xp = get_array_module(w)
        self.shape, self.idx, self.padding_idx = w.shape, indices, padding_idx
        return xp.take(w, indices, axis=0)

    def backward(self, g):
        xp = get_array_module(g)
        v, e = self.shape
        flat = (self.idx.reshape(-1, 1) * e + xp.arange(e)).reshape(-1)
        dw = xp.zeros(v * e, dtype=g.dtype)
        xp.add.at(dw, flat, g.reshape(-1))
        dw = dw.reshape(v, e)
        if self.padding_idx is not None:
            dw[self.padding_idx] = 0
        return dw


def check_ids(indices, num_embeddings: int, what: str = "embedding"):
    """The integer id array of ``indices`` (tensor, array or list), every id in [0, V)."""
    idx = indices.data if isinstance(indices, Tensor) else indices
    if not hasattr(idx, "dtype"):
        idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{what}: ids must be integers (int64), got dtype {idx.dtype}")
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num_embeddings:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{what}: id {bad} is out of range for a table of {num_embeddings} "
                             f"rows: ids must be in [0, {num_embeddings - 1}]")
    return idx


def padding_index(padding_idx, num_embeddings: int, what: str = "embedding"):
    """PyTorch's rule: padding_idx in [-V, V), a negative one counting from the end; or None."""
    if padding_idx is None:
        return None
    p = int(padding_idx)
    if not -num_embeddings <= p < num_embeddings:
        raise ValueError(f"{what}: padding_idx must be in [{-num_embeddings}, {num_embeddings}) "
                         f"for {num_embeddings} embeddings, got {padding_idx}")
    return p % num_embeddings


def embedding(input, weight, padding_idx=None) -> Tensor:
    """Look up rows of ``weight`` (V, E) for the integer ids ``input`` (*) -> (*, E)
    (PyTorch's ``F.embedding``). ``padding_idx``: that row gets no gradient."""
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: expected weight of shape (V, E), got {tuple(weight.shape)}")
    v = weight.shape[0]
    idx = check_ids(input, v)
    xp = get_array_module(weight.data)
    if xp is not np:
        idx = xp.asarray(idx)
    return Embedding.apply(weight, indices=idx, padding_idx=padding_index(padding_idx, v))
