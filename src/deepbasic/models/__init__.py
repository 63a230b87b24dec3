"""Models built from deepbasic.nn, and a registry to build them by name (for the command line and
for rebuilding a model from a checkpoint's saved configuration)."""
from __future__ import annotations

import math

from deepbasic.models.mlp import MLP


def _mlp(input_shape, num_classes, **kwargs):
    return MLP(math.prod(input_shape), num_classes, **kwargs)


MODELS = {"mlp": _mlp}


def build_model(name: str, input_shape, num_classes: int, **kwargs):
    """Build a registered model for inputs of ``input_shape`` (without the batch dim)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(sorted(MODELS))}")
    return MODELS[name](tuple(input_shape), num_classes, **kwargs)
