"""Checkpoints: one safetensors file holding everything needed to resume a run exactly.

Tensors ``model.<name>`` are the model's state dict; the optimizer's and scheduler's arrays (Adam's
moments, ...) are stored as tensors ``state.<n>``; everything else (epoch, hyperparameters, the
global random generator's state, history, the model's configuration) is JSON in the file's
metadata under ``"deepbasic"``, with each array replaced by ``{"__array__": "state.<n>"}``. No
pickle anywhere: loading a checkpoint can't run code. Files are written atomically, so a crash at
any moment leaves the previous checkpoint readable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from deepbasic import backend
from deepbasic.serialization import load_file, save_file

FORMAT_VERSION = 1


def _split_arrays(obj, arrays: dict):
    """Replace arrays inside nested dicts/lists by references; collect them into ``arrays``."""
    if isinstance(obj, (np.ndarray, np.generic)) and not isinstance(obj, (np.bool_,)) and np.ndim(obj) > 0:
        name = f"state.{len(arrays)}"
        arrays[name] = np.asarray(obj)
        return {"__array__": name}
    if hasattr(obj, "__cuda_array_interface__"):  # a CuPy array
        return _split_arrays(backend.to_numpy(obj), arrays)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _split_arrays(v, arrays) for k, v in obj.items()}
        return {"__items__": [[k, _split_arrays(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_split_arrays(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_split_arrays(v, arrays) for v in obj]
    return obj


def _join_arrays(obj, arrays: dict):
    """Inverse of :func:`_split_arrays`."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__items__"}:
            return {k: _join_arrays(v, arrays) for k, v in obj["__items__"]}
        if set(obj) == {"__tuple__"}:
            return tuple(_join_arrays(v, arrays) for v in obj["__tuple__"])
        return {k: _join_arrays(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, arrays) for v in obj]
    return obj


@dataclass
class Checkpoint:
    """What a checkpoint file holds: the model's arrays and the rest of the training state."""

    model: dict
    epoch: int = 0
    optimizer: dict | None = None
    scheduler: dict | None = None
    rng: dict | None = None
    extra: dict = field(default_factory=dict)


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch: int = 0,
                    extra: dict | None = None) -> None:
    """Write model weights, optimizer / scheduler / RNG state, epoch and ``extra`` atomically."""
    arrays: dict = {}
    state = {
        "format": FORMAT_VERSION,
        "epoch": int(epoch),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": backend.get_rng_state(),
        "extra": extra or {},
    }
    meta = _split_arrays(state, arrays)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update(arrays)
    save_file(tensors, path, metadata={"deepbasic": json.dumps(meta)})


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    tensors, metadata = load_file(path)
    if "deepbasic" not in metadata:
        raise ValueError(
            f"{path}: not a deepbasic checkpoint (a safetensors file without deepbasic metadata); "
            f"load plain weights with deepbasic.serialization.load_state_dict"
        )
    try:
        meta = json.loads(metadata["deepbasic"])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt checkpoint metadata ({e})") from None
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {meta.get('format')}, expected {FORMAT_VERSION}")
    state = _join_arrays(meta, {k: v for k, v in tensors.items() if k.startswith("state.")})
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return Checkpoint(model=model, epoch=state["epoch"], optimizer=state["optimizer"],
                      scheduler=state["scheduler"], rng=state["rng"], extra=state["extra"])


def restore(checkpoint: Checkpoint, model, optimizer=None, scheduler=None,
            restore_rng: bool = True) -> int:
    """Load a checkpoint's state into the objects; returns the epoch it was saved at."""
    model.load_state_dict(checkpoint.model)
    if optimizer is not None and checkpoint.optimizer is not None:
        optimizer.load_state_dict(checkpoint.optimizer)
    if scheduler is not None and checkpoint.scheduler is not None:
        scheduler.load_state_dict(checkpoint.scheduler)
    if restore_rng and checkpoint.rng is not None:
        backend.set_rng_state(checkpoint.rng)
    return checkpoint.epoch
