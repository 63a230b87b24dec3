"""Transfer learning: reuse a trained network's features for a new task.

    model = build_model("convnet", (1, 28, 28), 5)
    restore(load_checkpoint("pretrained/best.safetensors"), model)   # trained on task A
    replace_classifier(model, num_classes=5)                          # new head for task B
    freeze(model, trainable=(classifier_name(model),))                # only the head learns

Frozen layers get ``requires_grad = False`` (so the optimizer and the backward pass skip them) and
stay in eval mode (``frozen = True``), so their batch-norm statistics are the pretrained ones.
"""
from __future__ import annotations

from deepbasic import nn


def _parent_and_attr(model, dotted: str):
    parts = dotted.split(".")
    parent = model
    for p in parts[:-1]:
        parent = getattr(parent, p)
    return parent, parts[-1]


def classifier_name(model) -> str:
    """The dotted name of the last ``Linear`` layer registered in ``model`` (its classifier)."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Linear layer to use as its classifier")
    return names[-1]


def replace_classifier(model, num_classes: int, name: str | None = None) -> nn.Linear:
    """Put a freshly initialized ``Linear(in_features, num_classes)`` in place of the classifier
    (``name``, or :func:`classifier_name`). Returns the new layer."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"replace_classifier: num_classes must be a positive int, got "
                         f"{num_classes!r}")
    name = name or classifier_name(model)
    parent, attr = _parent_and_attr(model, name)
    old = getattr(parent, attr)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"replace_classifier: {name} is a {type(old).__name__}, not a Linear")
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                    dtype=old.weight.data.dtype)
    parent._modules[attr] = new  # in place, so a Sequential keeps its order
    return new


def freeze(model, trainable=()) -> list[str]:
    """Freeze every parameter except those under the prefixes in ``trainable``; return the names
    of the parameters left trainable. Modules that hold only frozen parameters are marked
    ``frozen`` (eval mode for good, see :meth:`Module.train`)."""
    prefixes = tuple(p.rstrip(".") for p in trainable)

    def is_trainable(name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    left = []
    for name, p in model.named_parameters():
        p.requires_grad = is_trainable(name)
        if p.requires_grad:
            left.append(name)
    if prefixes and not left:
        raise ValueError(f"freeze: no parameter matches {', '.join(prefixes)}")
    for name, m in model.named_modules():
        if m is model or is_trainable(name) or any(p.startswith(name + ".") for p in prefixes):
            continue
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
