"""Transfer learning: reuse a trained network's features for a new task.

    model = build_model("convnet", (1, 28, 28), 5)
    restore(load_checkpoint("pretrained/best.safetensors"), model)   # trained on task A
    replace_classifier(model, num_classes=5)                          # new head for task B
    freeze(model, trainable=(classifier_name(model),))                # only the head learns

Frozen layers get ``requires_grad = False`` (so the optimizer and the backward pass skip them) and
the modules holding them stay in eval mode (``frozen = True``), so their batch-norm statistics
are the pretrained ones. Modules without parameters or buffers of their own (ReLU, pooling,
dropout) that sit outside a frozen container follow the model's mode, as in PyTorch: a dropout
just before the new head still regularizes it. :func:`unfreeze` undoes all of it.
"""
from __future__ import annotations

import numbers

from deepbasic import nn


def _parent_and_attr(model, dotted: str):
    """The module that holds ``dotted`` (``"classifier.2"`` -> ``model.classifier``) and the
    last part of the name; ValueError naming the missing part when there is no such module."""
    parts = dotted.split(".")
    parent = model
    for i, p in enumerate(parts[:-1]):
        child = parent._modules.get(p)
        if child is None:
            raise ValueError(f"{type(model).__name__} has no module {'.'.join(parts[:i + 1])!r}")
        parent = child
    if parts[-1] not in parent._modules or parent._modules[parts[-1]] is None:
        raise ValueError(f"{type(model).__name__} has no module {dotted!r}")
    return parent, parts[-1]


def _under(name: str, prefix: str) -> bool:
    """Whether ``name`` is ``prefix`` or lies under it (``fc`` covers ``fc.weight``, not
    ``fc2.weight``)."""
    return name == prefix or name.startswith(prefix + ".")


def classifier_name(model) -> str:
    """The dotted name of the last ``Linear`` layer registered in ``model`` (its classifier),
    e.g. ``"classifier.2"`` for a ConvNet, ``"fc"`` for a ResNet."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Linear layer to use as its classifier")
    return names[-1]


def replace_classifier(model, num_classes: int, name: str | None = None) -> nn.Linear:
    """Put a freshly initialized ``Linear(in_features, num_classes)`` in place of the classifier
    (``name``, or :func:`classifier_name`), with the old layer's bias choice, dtype, device and
    train/eval mode. Its weights are drawn from the global generator (``deepbasic.manual_seed``).
    The model's output becomes (N, num_classes). Returns the new layer."""
    if (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
            or num_classes < 1):
        raise ValueError(f"replace_classifier: num_classes must be a positive int, got "
                         f"{num_classes!r}")
    name = name or classifier_name(model)
    parent, attr = _parent_and_attr(model, name)
    old = parent._modules[attr]
    if not isinstance(old, nn.Linear):
        raise ValueError(f"replace_classifier: {name} is a {type(old).__name__}, not a Linear")
    new = nn.Linear(old.in_features, int(num_classes), bias=old.bias is not None,
                    dtype=old.weight.data.dtype)
    if old.weight.device != "cpu":
        new.to(device=old.weight.device)
    object.__setattr__(new, "training", old.training)
    parent._modules[attr] = new  # in place, so a Sequential keeps its order
    return new


def freeze(model, trainable=()) -> list[str]:
    """Freeze every parameter except those under the dotted prefixes in ``trainable`` (a name or
    a sequence of names, e.g. ``"classifier.2"`` or ``("layer4", "fc")``); return the names of the
    parameters left trainable. Modules whose parameters and buffers are all frozen are marked
    ``frozen`` (eval mode for good, see :meth:`Module.train`); marks of an earlier call are
    replaced. A prefix that matches no parameter is an error."""
    if isinstance(trainable, str):
        trainable = (trainable,)
    prefixes = tuple(str(p).rstrip(".") for p in trainable)

    def is_trainable(name: str) -> bool:
        return any(_under(name, p) for p in prefixes)

    names = [name for name, _ in model.named_parameters()]
    unmatched = [p for p in prefixes if not any(_under(n, p) for n in names)]
    if unmatched:
        raise ValueError(f"freeze: no parameter of {type(model).__name__} is under "
                         f"{', '.join(map(repr, unmatched))} (parameters: "
                         f"{', '.join(names[:6])}{' ...' if len(names) > 6 else ''})")
    left = []
    for name, p in model.named_parameters():
        p.requires_grad = is_trainable(name)
        if p.requires_grad:
            left.append(name)
    for name, m in model.named_modules():
        m.__dict__.pop("frozen", None)
        if m is model or is_trainable(name) or any(p.startswith(name + ".") for p in prefixes):
            continue
        has_state = any(True for _ in m.parameters()) or any(True for _ in m.buffers())
        if has_state:
            object.__setattr__(m, "frozen", True)
    model.train(model.training)
    return left


def unfreeze(model) -> None:
    """Make every parameter trainable again and clear the frozen marks."""
    for p in model.parameters():
        p.requires_grad = True
    for m in model.modules():
        m.__dict__.pop("frozen", None)
    model.train(model.training)
