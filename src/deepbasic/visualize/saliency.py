"""Which pixels a classifier's decision depends on: saliency maps, guided backpropagation and
occlusion maps (Simonyan et al. 2014; Springenberg et al. 2015; Zeiler & Fergus 2014).

    from deepbasic.visualize import saliency, guided_backprop, occlusion_map
    maps = saliency(model, images)                  # (N, H, W): |d score_y / d pixel|, max over C
    g = guided_backprop(model, images)              # (N, C, H, W): ReLUs pass back only g > 0
    drop = occlusion_map(model, images[0], patch=2) # (rows, cols): p_y(image) - p_y(occluded)

All of them work on any deepbasic classifier ``model(x: (N, C, H, W)) -> scores (N, K)``; the
model is put in evaluation mode and its weights get no gradient for the duration of the call (both
restored afterwards). ``target`` is the class whose score is explained: an int (the same class for
every image), one int per image, or None (the class the model predicts for each image).

The objective can also be an intermediate neuron: ``layer`` (a submodule of ``model`` or its name
in ``model.named_modules()``) and ``unit`` (a channel ``c``: the sum of that channel's activations
over the image; or a full index ``(c, i, j)`` / ``(j,)`` into one example's output of the layer).
"""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

from deepbasic import backend


# ----- shared helpers (also used by ascent.py and features.py) ------------------------------------
@contextlib.contextmanager
def fixed_weights(model):
    """Evaluation mode and ``requires_grad = False`` on every parameter inside the block; each
    module's training flag and each parameter's requires_grad are restored afterwards."""
    modes = [(m, m.__dict__.get("training", False)) for m in model.modules()]
    params = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in params:
        p.requires_grad = False
    try:
        yield model
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
        for p, flag in params:
            p.requires_grad = flag


def model_array_module(model):
    """(array module, float dtype) of ``model``'s parameters (NumPy float32 for a model without)."""
    for p in model.parameters():
        if p.data.dtype.kind == "f":
            return backend.get_array_module(p.data), p.data.dtype
    return np, np.dtype(backend.get_default_dtype())


def as_images(images, where: str, model=None) -> np.ndarray:
    """``images`` (a Tensor or an array; (N, C, H, W), or one image (C, H, W)) as a float64 NumPy
    batch (N, C, H, W). Checked against ``model.input_shape`` when the model has one."""
    x = np.asarray(backend.to_numpy(getattr(images, "data", images)), dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"{where}: expected images (N, C, H, W) or one image (C, H, W), got "
                         f"shape {tuple(x.shape)}")
    expected = getattr(model, "input_shape", None)
    if expected is not None and len(expected) == 3 and tuple(x.shape[1:]) != tuple(expected):
        raise ValueError(f"{where}: the model takes images {tuple(expected)}, got "
                         f"{tuple(x.shape[1:])}")
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: the images hold NaN or infinite values")
    return x


def to_input(model, x: np.ndarray, requires_grad: bool = False):
    """A float64 NumPy batch as a Tensor on the model's device, in the model's dtype."""
    from deepbasic.tensor import Tensor

    xp, dtype = model_array_module(model)
    return Tensor(xp.asarray(x, dtype=dtype), requires_grad=requires_grad)


def scores_of(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's scores (N, K) for a NumPy batch, without gradients, ``batch_size`` at a time."""
    from deepbasic.tensor import no_grad

    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            s = model(to_input(model, x[i:i + batch_size]))
            out.append(np.asarray(backend.to_numpy(s.data), dtype=np.float64))
    scores = np.concatenate(out)
    if scores.ndim != 2:
        raise ValueError(f"expected the model to return class scores (N, K), got shape "
                         f"{tuple(scores.shape)}")
    return scores


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) scores (shifted by the row maximum)."""
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def resolve_targets(target, n: int, num_classes: int | None, where: str,
                    predicted=None) -> np.ndarray:
    """``target`` (None, an int, or one int per image) as an int array (n,); None takes
    ``predicted()`` (a callable returning the predicted classes)."""
    if target is None:
        if predicted is None:
            raise ValueError(f"{where}: a target class is needed")
        return np.asarray(predicted(), dtype=np.int64)
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        t = np.full(n, int(target), dtype=np.int64)
    else:
        t = np.asarray(backend.to_numpy(getattr(target, "data", target)))
        if t.ndim != 1 or len(t) != n or t.dtype.kind not in "iu":
            raise ValueError(f"{where}: target must be an int or {n} ints (one per image), got "
                             f"{target!r}")
        t = t.astype(np.int64)
    if num_classes is not None and ((t < 0) | (t >= num_classes)).any():
        raise ValueError(f"{where}: target class must be in [0, {num_classes}), got "
                         f"{sorted(set(t.tolist()))}")
    return t


def find_layer(model, layer, where: str):
    """``layer`` as a submodule of ``model``: a Module inside it, or its name in
    ``model.named_modules()``."""
    from deepbasic.nn import Module

    if isinstance(layer, Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"{where}: {type(layer).__name__} is not a layer of "
                             f"{type(model).__name__}")
        return layer
    names = dict(model.named_modules())
    if layer not in names:
        shown = ", ".join(n for n in names if n)
        raise ValueError(f"{where}: no layer named {layer!r} in {type(model).__name__} "
                         f"(layers: {shown})")
    return names[layer]


def objective(model, x, target=None, layer=None, unit=None, where: str = "objective"):
    """The scalar whose gradient is taken and the per-image values it sums, for input tensor ``x``.

    Class score: ``sum_n scores[n, target_n]`` (target None: each image's predicted class).
    Neuron: ``layer`` and ``unit`` (see the module docstring), summed over the batch.
    Returns ``(total: Tensor scalar, per_image: NumPy (N,), targets or None)``.
    """
    if layer is None:
        scores = model(x)
        if scores.ndim != 2:
            raise ValueError(f"{where}: expected the model to return class scores (N, K), got "
                             f"shape {tuple(scores.shape)}")
        n, k = scores.shape
        raw = np.asarray(backend.to_numpy(scores.data))
        t = resolve_targets(target, n, k, where, predicted=lambda: raw.argmax(axis=1))
        xp = backend.get_array_module(scores.data)
        onehot = xp.zeros(scores.shape, dtype=scores.data.dtype)
        onehot[xp.arange(n), xp.asarray(t)] = 1
        picked = (scores * onehot).sum(dim=1)
        return picked.sum(), np.asarray(backend.to_numpy(picked.data), dtype=np.float64), t
    if unit is None:
        raise ValueError(f"{where}: an intermediate layer needs a unit (a channel, or a full "
                         f"index into the layer's output for one image)")
    module = find_layer(model, layer, where)
    captured = []
    handle = module.register_forward_hook(lambda m, args, out: captured.append(out))
    try:
        model(x)
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"{where}: layer {layer!r} was not used in the forward pass")
    act = captured[-1]
    index = (unit,) if isinstance(unit, numbers.Integral) else tuple(int(u) for u in unit)
    if not 1 <= len(index) <= act.ndim - 1:
        raise ValueError(f"{where}: unit {unit!r} does not index the layer's output per image "
                         f"{tuple(act.shape[1:])}")
    for i, size in zip(index, act.shape[1:]):
        if not 0 <= i < size:
            raise ValueError(f"{where}: unit {unit!r} is outside the layer's output per image "
                             f"{tuple(act.shape[1:])}")
    value = act[(slice(None),) + index]
    if value.ndim > 1:
        value = value.reshape(value.shape[0], -1).sum(dim=1)
    return value.sum(), np.asarray(backend.to_numpy(value.data), dtype=np.float64), None


def _input_gradient(model, images, target, layer, unit, where):
    x_np = as_images(images, where, model)
    with fixed_weights(model):
        x = to_input(model, x_np, requires_grad=True)
        total, _, _ = objective(model, x, target, layer, unit, where)
        total.backward()
    return np.asarray(backend.to_numpy(x.grad), dtype=np.float64)


# ----- the methods ---------------------------------------------------------------------------------
def input_gradient(model, images, target=None, layer=None, unit=None) -> np.ndarray:
    """d objective / d images: (N, C, H, W), float64 (the plain backpropagated gradient).

    The objective is the score of class ``target`` (None: the predicted class), or with ``layer``
    and ``unit`` an intermediate neuron. Each image's gradient depends only on that image.
    """
    return _input_gradient(model, images, target, layer, unit, "input_gradient")


def saliency(model, images, target=None) -> np.ndarray:
    """Saliency maps (Simonyan et al.): ``max_c |d s_y / d x[c, i, j]|``, (N, H, W), float64.

    ``s_y`` is the unnormalized score of class ``target`` (None: the class the model predicts).
    A pixel the score does not depend on gets exactly 0.
    """
    g = _input_gradient(model, images, target, None, None, "saliency")
    return np.abs(g).max(axis=1)


def _guided_relu_backward(fn, grad):
    """Guided backprop through z = max(a, 0): pass ``grad`` back only where the forward input was
    positive (ReLU's own rule) *and* the incoming gradient is positive."""
    return grad * (fn.x > 0) * (grad > 0)


def guided_backprop(model, images, target=None, layer=None, unit=None) -> np.ndarray:
    """Guided backpropagation (Springenberg et al.): (N, C, H, W), float64.

    The gradient of the class score (or of the neuron ``layer``/``unit``) w.r.t. the pixels, with
    every ReLU's backward replaced (for the duration of the call, by
    :func:`~deepbasic.tensor.override_backward`) by ``grad * (a > 0) * (grad > 0)``: only positive
    evidence flows back. On a network without ReLUs it is the plain :func:`input_gradient`.
    """
    from deepbasic import ops
    from deepbasic.tensor import override_backward

    with override_backward(ops.ReLU, _guided_relu_backward):
        return _input_gradient(model, images, target, layer, unit, "guided_backprop")


def occlusion_positions(size: int, patch: int, stride: int) -> np.ndarray:
    """Start offsets of a ``patch``-wide window slid with ``stride`` over ``size`` pixels:
    0, stride, 2 stride, ... up to ``size - patch``, plus ``size - patch`` itself when the stride
    does not land there (so the last pixels are covered too)."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return np.asarray(starts, dtype=np.int64)


def occlusion_map(model, image, target=None, patch: int = 4, stride: int = 1, fill=0.5,
                  batch_size: int = 256, per_pixel: bool = False) -> np.ndarray:
    """How much the probability of class ``target`` drops when a square grey patch hides each
    part of ``image`` (Zeiler & Fergus): ``p_y(image) - p_y(image with the patch at (i, j))``.

    image: (C, H, W) (or (1, C, H, W)). patch: side of the patch; stride: its step; fill: the
    patch's value (0.5: mid-grey for images in [0, 1]; a number, or one value per channel).
    target: a class, or None for the class predicted on the unoccluded image.

    The occluded copies are built ``batch_size`` positions at a time by broadcasting a (B, 1, H, W)
    mask over the image and go through the model as one batch each (no loop over positions).
    Returns the drop per patch position, (rows, cols) (positions from
    :func:`occlusion_positions`), or with ``per_pixel=True`` the mean drop over the positions
    whose patch covers each pixel, (H, W). Positive: hiding that part hurts the class.
    """
    x = as_images(image, "occlusion_map", model)
    if len(x) != 1:
        raise ValueError(f"occlusion_map: expected one image, got {len(x)}")
    _, c, h, w = x.shape
    for name, v in (("patch", patch), ("stride", stride), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"occlusion_map: {name} must be a positive integer, got {v!r}")
    if patch > min(h, w):
        raise ValueError(f"occlusion_map: patch {patch} is larger than the image ({h}x{w})")
    fill = np.asarray(fill, dtype=np.float64)
    if fill.ndim == 0:
        fill = np.full(c, float(fill))
    if fill.shape != (c,):
        raise ValueError(f"occlusion_map: fill must be one number or {c} (one per channel), got "
                         f"shape {tuple(fill.shape)}")
    fill = fill.reshape(1, c, 1, 1)
    tops, lefts = occlusion_positions(h, patch, stride), occlusion_positions(w, patch, stride)
    # rows[r, y]: the patch at row position r covers pixel row y; the patch at (r, s) covers
    # pixel (y, x) exactly when rows[r, y] and cols[s, x]
    rows = (np.arange(h)[None, :] >= tops[:, None]) & (np.arange(h)[None, :] < tops[:, None] + patch)
    cols = (np.arange(w)[None, :] >= lefts[:, None]) & (np.arange(w)[None, :] < lefts[:, None] + patch)
    r_of, s_of = np.divmod(np.arange(len(tops) * len(lefts)), len(lefts))   # position -> (r, s)
    with fixed_weights(model):
        base = softmax(scores_of(model, x))
        t = int(resolve_targets(target, 1, base.shape[1], "occlusion_map",
                                predicted=lambda: base.argmax(axis=1))[0])
        probs = []
        for i in range(0, len(r_of), batch_size):            # chunks of positions, not one each
            r, s = r_of[i:i + batch_size], s_of[i:i + batch_size]
            mask = rows[r][:, None, :, None] & cols[s][:, None, None, :]    # (B, 1, H, W)
            occluded = np.where(mask, fill, x)                              # (B, C, H, W)
            probs.append(softmax(scores_of(model, occluded, batch_size))[:, t])
    drop = base[0, t] - np.concatenate(probs).reshape(len(tops), len(lefts))
    if not per_pixel:
        return drop
    rows, cols = rows.astype(np.float64), cols.astype(np.float64)
    covered = rows.sum(axis=0)[:, None] * cols.sum(axis=0)[None, :]       # patches per pixel
    return rows.T @ drop @ cols / covered
