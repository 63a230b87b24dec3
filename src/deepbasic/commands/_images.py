"""Shared pieces of the predict and sample commands: image files checked against what a model
takes, and checkpoints loaded with one-line errors."""
from __future__ import annotations

import os

import numpy as np

from deepbasic.cli_args import CLIError


def open_image(path: str, option: str = "--image"):
    """``(mode, pixels)`` of an image file (PIL's mode name, its pixels as an array), with
    one-line errors for a missing or unreadable file."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        raise CLIError(f"{option} needs Pillow (pip install pillow)") from None
    if not os.path.isfile(path):
        raise CLIError(f"{option} {path}: no such file")
    try:
        with Image.open(path) as img:
            return img.mode, np.asarray(img)
    except OSError as e:
        raise CLIError(f"{option} {path}: not a readable image ({e})") from None


def read_images(paths, shape, option: str = "--image") -> np.ndarray:
    """Read image files as a float32 batch (N, 3, H, W) in [0, 1], checking each one.

    shape: the ``(3, H, W)`` the model takes. An RGB file is read as it is; an RGBA file only when
    it is fully opaque (its alpha channel dropped); any other file (grey, palette, a transparent
    RGBA, another size, not an image, missing) is a :class:`CLIError` naming what was expected.
    """
    c, h, w = (int(v) for v in shape)
    out = []
    for p in paths:
        mode, pixels = open_image(p, option)
        bands = {"RGB": 3, "RGBA": 4}.get(mode)
        if bands is None or pixels.ndim != 3 or pixels.shape[2] != bands:
            raise CLIError(f"{option} {p}: the model takes {c}-channel RGB images, got a {mode} "
                           f"image ({pixels.shape[2] if pixels.ndim == 3 else 1} channel(s))")
        if bands == 4:
            if pixels[..., 3].min() < 255:
                raise CLIError(f"{option} {p}: the model takes {c}-channel RGB images, got an RGBA "
                               f"image with transparent pixels")
            pixels = pixels[..., :3]
        if pixels.shape[:2] != (h, w):
            raise CLIError(f"{option} {p}: the model takes {h}x{w} images, got "
                           f"{pixels.shape[0]}x{pixels.shape[1]}")
        out.append(pixels.astype(np.float32).transpose(2, 0, 1) / np.float32(255.0))
    return np.stack(out)


def load_model_checkpoint(path: str, loader, what: str):
    """``loader(path)`` with one-line errors: a missing file, or a checkpoint of another model.
    Returns what the loader returns."""
    if not os.path.isfile(path):
        raise CLIError(f"--checkpoint {path}: no such file (expected a {what} checkpoint)")
    from deepbasic.nn import StateDictError

    try:
        return loader(path)
    except (ValueError, KeyError, TypeError, StateDictError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if msg.startswith(f"{path}: "):
            msg = msg[len(path) + 2:]
        if "checkpoint" not in msg:
            msg += f" (expected a {what} checkpoint)"
        raise CLIError(f"--checkpoint {path}: {msg}") from None
