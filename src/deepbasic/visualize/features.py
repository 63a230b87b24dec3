"""What a network's layers compute: intermediate activations (read with forward hooks, the model
untouched) and nearest neighbours in the last hidden layer's feature space against those in
pixel space (Krizhevsky et al. 2012: images close in feature space share a class even when their
pixels differ).

    from deepbasic.visualize import activations, activation_grid, neighbors
    acts = activations(model, images, ["features.2"])        # {name: (N, C, H, W)}
    grid = activation_grid(acts["features.2"][0])            # one image's channels, tiled
    nn_ = neighbors(model, queries, database, k=5)           # {"feature": (Q, 5), "pixel": ...}
"""
from __future__ import annotations

import numbers

import numpy as np

from deepbasic import backend
from deepbasic.visualize.saliency import as_images, find_layer, fixed_weights, to_input


def _layer_names(model, layers, where):
    """[(name, module)] for ``layers``: None (every ReLU), a name or Module, or a list of them."""
    from deepbasic import nn

    named = list(model.named_modules())
    if layers is None:
        chosen = [(n, m) for n, m in named if isinstance(m, nn.ReLU)]
        if not chosen:
            raise ValueError(f"{where}: {type(model).__name__} has no ReLU layer; name the "
                             f"layers to read")
        return chosen
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    out = []
    for layer in layers:
        module = find_layer(model, layer, where)
        name = layer if isinstance(layer, str) else next(n for n, m in named if m is module)
        out.append((name, module))
    return out


def activations(model, images, layers=None, batch_size: int = 256) -> dict:
    """The outputs of ``layers`` for ``images`` (N, C, H, W), read by forward hooks.

    layers: a layer name (as in ``model.named_modules()``), a submodule, a list of them, or None
    for every ReLU. Returns ``{name: float64 array (N, ...)}`` in the order given. The model runs
    in evaluation mode without gradients; its hooks and mode are as before afterwards.
    """
    from deepbasic.tensor import no_grad

    x = as_images(images, "activations", model)
    chosen = _layer_names(model, layers, "activations")
    store = {name: [] for name, _ in chosen}
    handles = []
    for name, module in chosen:
        def hook(m, args, out, name=name):
            store[name].append(np.asarray(backend.to_numpy(out.data), dtype=np.float64))
        handles.append(module.register_forward_hook(hook))
    try:
        with fixed_weights(model), no_grad():
            for i in range(0, len(x), batch_size):
                model(to_input(model, x[i:i + batch_size]))
    finally:
        for h in handles:
            h.remove()
    missing = [n for n, parts in store.items() if not parts]
    if missing:
        raise ValueError(f"activations: layer(s) {', '.join(missing)} not used in the forward pass")
    return {name: np.concatenate(parts) for name, parts in store.items()}


def activation_grid(activation, pad: int = 1, max_channels: int | None = 64) -> np.ndarray:
    """One image's activation (C, H, W) as a grey grid of its channels (each scaled to [0, 1] on
    its own, as :func:`~deepbasic.visualize.filters.filter_grid` does for filters), the first
    ``max_channels`` of them. A (D,) vector is drawn as a single row of D cells."""
    from deepbasic.visualize.filters import filter_grid

    a = np.asarray(backend.to_numpy(getattr(activation, "data", activation)), dtype=np.float64)
    if a.ndim == 1:
        a = a[None, None, :]
        span = a.max() - a.min()
        return np.pad((a[0] - a.min()) / span if span > 0 else np.full_like(a[0], 0.5), pad,
                      constant_values=1.0)
    if a.ndim != 3:
        raise ValueError(f"activation_grid: expected one image's activation (C, H, W), got shape "
                         f"{tuple(a.shape)}")
    if max_channels is not None:
        a = a[:max_channels]
    return filter_grid(a[:, None], pad=pad)


def last_hidden_layer(model):
    """The model's last :class:`~deepbasic.nn.Linear` (registration order): its *input* is the
    last hidden layer's feature vector. ValueError when there is none."""
    from deepbasic import nn

    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is None:
        raise ValueError(f"hidden_features: {type(model).__name__} has no Linear layer; give the "
                         f"layer whose output to use")
    return last


def hidden_features(model, images, layer=None, batch_size: int = 256) -> np.ndarray:
    """Feature vectors (N, D), float64: the input of the model's last Linear layer (the last
    hidden layer, the code the classifier reads), or with ``layer`` that layer's output,
    flattened per image."""
    from deepbasic.tensor import no_grad

    x = as_images(images, "hidden_features", model)
    if layer is None:
        module, take = last_hidden_layer(model), "input"
    else:
        module, take = find_layer(model, layer, "hidden_features"), "output"
    parts = []

    def grab(arr):
        a = np.asarray(backend.to_numpy(arr.data), dtype=np.float64)
        parts.append(a.reshape(len(a), -1))

    if take == "input":
        handle = module.register_forward_pre_hook(lambda m, args: grab(args[0]))
    else:
        handle = module.register_forward_hook(lambda m, args, out: grab(out))
    try:
        with fixed_weights(model), no_grad():
            for i in range(0, len(x), batch_size):
                model(to_input(model, x[i:i + batch_size]))
    finally:
        handle.remove()
    return np.concatenate(parts)


def nearest_neighbors(queries, database, k: int = 5):
    """The ``k`` rows of ``database`` (M, D) nearest to each row of ``queries`` (Q, D) in
    Euclidean distance: ``(indices (Q, k), distances (Q, k))``, nearest first (ties: lower index).
    Distances from ``|q|^2 - 2 q.d + |d|^2`` (one matrix product)."""
    q = np.asarray(queries, dtype=np.float64).reshape(len(queries), -1)
    d = np.asarray(database, dtype=np.float64).reshape(len(database), -1)
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"nearest_neighbors: queries have {q.shape[1]} values each, the "
                         f"database {d.shape[1]}")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= len(d):
        raise ValueError(f"nearest_neighbors: k must be in [1, {len(d)}], got {k!r}")
    sq = (q ** 2).sum(1)[:, None] - 2 * q @ d.T + (d ** 2).sum(1)[None, :]
    sq = np.maximum(sq, 0.0)
    idx = np.argsort(sq, axis=1, kind="stable")[:, :k]
    return idx, np.sqrt(np.take_along_axis(sq, idx, axis=1))


def neighbors(model, queries, database, k: int = 5, layer=None) -> dict:
    """Nearest neighbours of each query image among ``database`` images, twice: in the model's
    feature space (:func:`hidden_features`) and in pixel space.

    Returns ``{"feature": (Q, k) indices, "feature_distance": (Q, k), "pixel": (Q, k),
    "pixel_distance": (Q, k)}``, indices into ``database``, nearest first.
    """
    q = as_images(queries, "neighbors", model)
    d = as_images(database, "neighbors", model)
    fi, fd = nearest_neighbors(hidden_features(model, q, layer), hidden_features(model, d, layer), k)
    pi, pd = nearest_neighbors(q.reshape(len(q), -1), d.reshape(len(d), -1), k)
    return {"feature": fi, "feature_distance": fd, "pixel": pi, "pixel_distance": pd}
