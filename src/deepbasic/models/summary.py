"""A layer-by-layer table of a model: output shapes, parameters and multiply-adds (like torchinfo).

    from deepbasic.models import build_model, summary
    print(summary(build_model("resnet18", (3, 224, 224), 1000), (3, 224, 224)))

The model runs once on a zero batch (no gradients) with forward hooks on every module that owns
parameters or has no children, so the shapes are the real ones. Multiply-adds count the GEMM work
of convolutions and linear layers (per example): Conv2d ``C_out H_out W_out (C_in / groups) kH kW``,
ConvTranspose2d ``C_in H_in W_in (C_out / groups) kH kW``, Linear ``in * out`` per output row;
other layers (normalization, pooling, activations) are counted as zero, as is usual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from deepbasic import nn
from deepbasic.tensor import Tensor, no_grad


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple
    params: int
    macs: int
    depth: int


@dataclass
class ModelSummary:
    """What :func:`summary` measured; ``str()`` gives the table."""

    model_name: str
    input_shape: tuple
    rows: list = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0
    activation_bytes: int = 0
    output_shape: tuple = ()

    def __str__(self) -> str:
        return format_summary(self)


def _own_params(module) -> tuple[int, int]:
    total = trainable = 0
    for p in module._parameters.values():
        if p is not None:
            total += p.data.size
            trainable += p.data.size if p.requires_grad else 0
    return total, trainable


def _shape_of(output) -> tuple:
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)) and output:
        return _shape_of(output[0])
    return ()


def _macs(module, args, output) -> int:
    out = _shape_of(output)
    if not out:
        return 0
    per_example = math.prod(out[1:])
    if isinstance(module, nn.Conv2d):
        cin, kh, kw = module.weight.shape[1:]
        return per_example * cin * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        x = args[0]
        cout_per_group, kh, kw = module.weight.shape[1:]
        return math.prod(x.shape[1:]) * cout_per_group * kh * kw
    if isinstance(module, nn.Linear):
        return per_example * module.weight.shape[1]
    return 0


def summary(model, input_shape, depth: int = 3, model_name: str | None = None) -> ModelSummary:
    """Run ``model`` on one zero example of ``input_shape`` (C, H, W or D) and collect a row per
    layer down to ``depth`` levels of nesting (deeper layers are folded into their ancestor).
    The model is put in eval mode for the pass and restored afterwards."""
    input_shape = tuple(int(s) for s in input_shape)
    result = ModelSummary(model_name or type(model).__name__, input_shape)
    records: dict[str, list] = {}
    handles = []
    order = []
    for name, module in model.named_modules():
        if module is model:
            continue
        own = _own_params(module)
        leaf = not any(True for _ in module.children())
        if not (leaf or own[0]):
            continue
        level = name.count(".")

        def hook(m, args, output, name=name, own=own, level=level):
            if name not in records:
                order.append(name)
                records[name] = [type(m).__name__, _shape_of(output), own, 0, level]
            records[name][3] += _macs(m, args, output)
            records[name][1] = _shape_of(output)

        handles.append(module.register_forward_hook(hook))
    # the modules running right now, outermost first: on an error the last one is the culprit
    running: list[str] = []

    def leave(m, args, output):
        running.pop()               # returns None: the output stays as it is

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(
            lambda m, args, name=name: running.append(name) and None))
        handles.append(module.register_forward_hook(leave))
    try:
        out = _forward_zeros(model, input_shape)
    except ValueError as e:
        where = running[-1] if running else ""
        layer = f"layer {where} ({type(_get(model, where)).__name__})" if where else "the model"
        raise ValueError(f"{result.model_name} cannot take an input of "
                         f"{'x'.join(map(str, input_shape))}: {layer} failed: {e}") from e
    finally:
        for h in handles:
            h.remove()
    folded: dict[str, LayerRow] = {}
    for name in order:
        kind, shape, (total, _), macs, level = records[name]
        parts = name.split(".")
        key = ".".join(parts[:depth]) if level >= depth else name
        if key in folded:
            row = folded[key]
            row.params += total
            row.macs += macs
            row.output_shape = shape
            if key != name:
                row.kind = type(_get(model, key)).__name__
        else:
            folded[key] = LayerRow(key, kind if key == name else type(_get(model, key)).__name__,
                                   shape, total, macs, min(level, depth - 1))
        result.activation_bytes += int(np.prod(shape or (0,))) * np.dtype(_dtype(model)).itemsize
    result.rows = list(folded.values())
    result.total_params = model.num_parameters()
    result.trainable_params = model.num_parameters(trainable_only=True)
    result.total_macs = sum(r.macs for r in result.rows)
    result.output_shape = _shape_of(out)
    return result


def _get(model, dotted: str):
    m = model
    for part in dotted.split(".") if dotted else ():
        m = getattr(m, part)
    return m


def _dtype(model):
    return next((p.data.dtype for p in model.parameters()), np.float32)


def _forward_zeros(model, input_shape):
    """``model`` on a zero batch (1, *input_shape), in eval mode (restored after), no gradients."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return model(Tensor(np.zeros((1,) + tuple(input_shape), dtype=_dtype(model))))
    finally:
        model.train(was_training)


def runs_on(model, input_shape) -> bool:
    """Whether ``model`` takes one zero example of ``input_shape`` (C, H, W or D) without
    raising ValueError (eval mode, no gradients)."""
    try:
        _forward_zeros(model, input_shape)
        return True
    except ValueError:
        return False


def smallest_square_input(model, channels: int, limit: int = 256) -> int | None:
    """The smallest side ``s`` such that ``model`` takes inputs (channels, s, s): sides 1, 2, 4,
    ... up to ``limit`` until one runs, then bisection below it (output sizes of convolutions and
    pooling grow with the input, so a model that runs at ``s`` runs at every larger side); None if
    it fails even at ``limit``. Meant for models whose layers do not depend on the input size
    (ResNets, VGG, AlexNet, GoogLeNet: an adaptive pooling before the classifier)."""
    lo, hi = 0, 1                     # fails at lo (or lo == 0); hi: the side to try
    while not runs_on(model, (channels, hi, hi)):
        if hi >= limit:
            return None
        lo, hi = hi, min(2 * hi, limit)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if runs_on(model, (channels, mid, mid)):
            hi = mid
        else:
            lo = mid
    return hi


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def format_summary(s: ModelSummary) -> str:
    """The table as text: one row per layer, then totals."""
    header = ("layer (type)", "output shape", "params", "mult-adds")
    lines = []
    for r in s.rows:
        label = "  " * r.depth + f"{r.name} ({r.kind})"
        shape = "x".join(str(d) for d in r.output_shape[1:]) if r.output_shape else "-"
        lines.append((label, shape, f"{r.params:,}", _human(r.macs) if r.macs else "-"))
    widths = [max(len(x[i]) for x in [header] + lines) for i in range(4)]

    def fmt(row):
        return (f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  "
                f"{row[3]:>{widths[3]}}")

    rule = "-" * len(fmt(header))
    body = [f"{s.model_name}, input {'x'.join(map(str, s.input_shape))}", rule, fmt(header), rule]
    body += [fmt(r) for r in lines]
    body += [rule,
             f"total parameters:      {s.total_params:,}",
             f"trainable parameters:  {s.trainable_params:,}",
             f"multiply-adds:         {_human(s.total_macs)} per example ({s.total_macs:,})",
             f"parameter size:        {s.total_params * 4 / 2**20:.1f} MiB (float32)",
             f"forward activations:   {s.activation_bytes / 2**20:.1f} MiB per example"]
    return "\n".join(body)
