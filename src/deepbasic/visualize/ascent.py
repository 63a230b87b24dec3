"""Images optimized against a trained network with its weights fixed: class visualization /
activation maximization by gradient ascent (Simonyan et al. 2014; Yosinski et al. 2015) and
fooling images (Szegedy et al. 2014).

    from deepbasic.visualize import class_visualization, fooling_image
    r = class_visualization(model, target=3, steps=200)       # r.image: (C, H, W)
    f = fooling_image(model, image, target=7)                 # f.image classified as 7

Class visualization maximizes ``s_y(I) - l2 * ||I||^2`` over the image ``I``:
each step rolls the image by a random jitter (up to ``jitter`` pixels each way), takes a gradient
step ``I += lr * g / ||g||`` (normalized, so ``lr`` is the step length in pixel space), rolls it
back, clips it to the data range, and every ``blur_every`` steps blurs it with a Gaussian of
``blur_sigma`` pixels. Jitter and blur keep the image from turning into high-frequency noise.
"""
from __future__ import annotations

import numbers
from collections import namedtuple

import numpy as np

from deepbasic import backend
from deepbasic.tensor import no_grad
from deepbasic.visualize.saliency import (as_images, find_layer, fixed_weights, objective,
                                          scores_of, to_input)

#: image (C, H, W), float64; history: ``steps + 1`` dicts, the objective before each step and
#: last that of the returned image ("step", "score": the class score or neuron, "objective":
#: score - l2 ||I||^2; the score is measured on the jittered image the step started from)
AscentResult = namedtuple("AscentResult", ["image", "history"])

#: image (C, H, W); steps taken; success (classified as target); predicted class at the end;
#: target probability at the end
FoolingResult = namedtuple("FoolingResult", ["image", "steps", "success", "predicted",
                                             "probability"])


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalized 1-D Gaussian of standard deviation ``sigma``, ``2 ceil(3 sigma) + 1`` taps."""
    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur images (..., H, W) with a separable Gaussian of ``sigma`` pixels (edges reflected).

    One pass per axis, a loop over the kernel's taps (each adds a shifted, weighted copy).
    ``sigma <= 0`` returns a copy.
    """
    x = np.asarray(image, dtype=np.float64)
    if sigma <= 0:
        return x.copy()
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    for axis in (-2, -1):
        n = x.shape[axis]
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r, r)
        mode = "reflect" if n > r else "edge"
        padded = np.pad(x, pad, mode=mode)
        out = np.zeros_like(x)
        for i, w in enumerate(k):
            out += w * np.take(padded, np.arange(i, i + n), axis=axis)
        x = out
    return x


def _check(name, value, kind, minimum=0):
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= minimum
          and (kind is float or isinstance(value, numbers.Integral)))
    if not ok:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'} >= "
                         f"{minimum}, got {value!r}")


def _start_image(model, shape, init, seed, where):
    if init is not None:
        x = as_images(init, where, model)
        if len(x) != 1:
            raise ValueError(f"{where}: init must be one image (C, H, W), got {len(x)}")
        return x[0].copy()
    shape = shape or getattr(model, "input_shape", None)
    if shape is None or len(shape) != 3:
        raise ValueError(f"{where}: give the image shape (C, H, W) (the model has no "
                         f"input_shape), got {shape!r}")
    rng = np.random.default_rng(seed)
    return 0.5 + 0.01 * rng.standard_normal(tuple(int(s) for s in shape))


def _ascend(model, target, layer, unit, *, shape, init, steps, lr, l2, blur_every, blur_sigma,
            jitter, clip, seed, where):
    for name, v, kind in (("steps", steps, int), ("lr", lr, float), ("l2", l2, float),
                          ("blur_every", blur_every, int), ("blur_sigma", blur_sigma, float),
                          ("jitter", jitter, int)):
        _check(f"{where}: {name}", v, kind)
    if layer is not None:
        find_layer(model, layer, where)
    image = _start_image(model, shape, init, seed, where)
    rng = np.random.default_rng(seed + 1)
    history = []
    with fixed_weights(model):
        for step in range(steps):
            ox, oy = (rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0))
            shifted = np.roll(image, (int(oy), int(ox)), axis=(-2, -1))
            x = to_input(model, shifted[None], requires_grad=True)
            total, value, _ = objective(model, x, target, layer, unit, where)
            penalty = l2 * float((shifted ** 2).sum())
            history.append({"step": step, "score": float(value[0]),
                            "objective": float(value[0]) - penalty})
            total.backward()
            g = np.asarray(backend.to_numpy(x.grad), dtype=np.float64)[0] - 2 * l2 * shifted
            norm = np.sqrt((g ** 2).sum())
            if norm > 0:
                shifted = shifted + lr * g / norm
            image = np.roll(shifted, (-int(oy), -int(ox)), axis=(-2, -1))
            if clip is not None:
                image = np.clip(image, clip[0], clip[1])
            if blur_every and (step + 1) % blur_every == 0:
                image = gaussian_blur(image, blur_sigma)
        with no_grad():
            _, value, _ = objective(model, to_input(model, image[None]), target, layer, unit, where)
        history.append({"step": steps, "score": float(value[0]),
                        "objective": float(value[0]) - l2 * float((image ** 2).sum())})
    return AscentResult(image, history)


def class_visualization(model, target: int, *, shape=None, init=None, steps: int = 100,
                        lr: float = 0.5, l2: float = 1e-3, blur_every: int = 10,
                        blur_sigma: float = 0.5, jitter: int = 1, clip=(0.0, 1.0),
                        seed: int = 0) -> AscentResult:
    """An image the model scores highly as class ``target``: gradient ascent on
    ``s_target(I) - l2 ||I||^2`` with the weights fixed (see the module docstring).

    shape: (C, H, W) of the image (default: ``model.input_shape``); init: the start image
    (default: mid-grey 0.5 plus small seeded noise). lr: the length of each (normalized) step.
    clip: (low, high) the image is kept in after each step (None: unbounded). blur_every 0 or
    jitter 0 turn those off. Returns :data:`AscentResult` (image (C, H, W), history per step).
    """
    return _ascend(model, target, None, None, shape=shape, init=init, steps=steps, lr=lr, l2=l2,
                   blur_every=blur_every, blur_sigma=blur_sigma, jitter=jitter, clip=clip,
                   seed=seed, where="class_visualization")


def activation_maximization(model, layer, unit, *, shape=None, init=None, steps: int = 100,
                            lr: float = 0.5, l2: float = 1e-3, blur_every: int = 10,
                            blur_sigma: float = 0.5, jitter: int = 1, clip=(0.0, 1.0),
                            seed: int = 0) -> AscentResult:
    """An image that excites one intermediate neuron: like :func:`class_visualization` with the
    objective ``layer``'s output at ``unit`` (a channel, summed over its map, or a full index
    ``(c, i, j)``; see :mod:`deepbasic.visualize.saliency`)."""
    return _ascend(model, None, layer, unit, shape=shape, init=init, steps=steps, lr=lr, l2=l2,
                   blur_every=blur_every, blur_sigma=blur_sigma, jitter=jitter, clip=clip,
                   seed=seed, where="activation_maximization")


def fooling_image(model, image, target: int, *, lr: float = 0.1, max_steps: int = 200,
                  clip=None) -> FoolingResult:
    """The image moved by the fewest normalized gradient steps of length ``lr`` along
    ``d s_target / d I`` until the model classifies it as ``target`` (checked before every
    step, so it stops at the first image classified as ``target``).

    image: (C, H, W). clip: (low, high) to keep the pixels in, or None. Returns
    :data:`FoolingResult`; ``success`` is False when ``max_steps`` were not enough (the image is
    then the last one tried). The change ``image - original`` has L2 norm at most
    ``steps * lr``.
    """
    x = as_images(image, "fooling_image", model)
    if len(x) != 1:
        raise ValueError(f"fooling_image: expected one image, got {len(x)}")
    _check("fooling_image: lr", lr, float)
    _check("fooling_image: max_steps", max_steps, int)
    current = x[0].copy()
    with fixed_weights(model):
        k = scores_of(model, current[None]).shape[1]
        if isinstance(target, bool) or not isinstance(target, numbers.Integral) \
                or not 0 <= target < k:
            raise ValueError(f"fooling_image: target class must be in [0, {k}), got {target!r}")
        steps = 0
        while True:
            xt = to_input(model, current[None], requires_grad=True)
            scores = model(xt)
            s = np.asarray(backend.to_numpy(scores.data), dtype=np.float64)[0]
            if s.argmax() == target or steps == max_steps:
                break
            (scores[:, int(target)]).sum().backward()
            g = np.asarray(backend.to_numpy(xt.grad), dtype=np.float64)[0]
            norm = np.sqrt((g ** 2).sum())
            if norm == 0:
                break
            current = current + lr * g / norm
            if clip is not None:
                current = np.clip(current, clip[0], clip[1])
            steps += 1
    p = np.exp(s - s.max())
    p /= p.sum()
    return FoolingResult(current, steps, bool(s.argmax() == target), int(s.argmax()),
                         float(p[target]))
