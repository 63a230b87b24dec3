"""Loading weights exported from PyTorch (safetensors with torchvision's names) into our models.

A user with internet access can export a pretrained torchvision model once::

    # in PyTorch
    from safetensors.torch import save_file
    save_file(torchvision.models.resnet18(weights="DEFAULT").state_dict(), "resnet18.safetensors")

and fine-tune it here, since our architectures use torchvision's parameter names and shapes::

    model = deepbasic.models.resnet18(num_classes=10)
    load_pretrained(model, "resnet18.safetensors", exclude=("fc.",))   # new classifier

The file is read with deepbasic's own safetensors reader: no pickle, nothing in it can run code.
"""
from __future__ import annotations

from deepbasic.nn.module import StateDictError
from deepbasic.serialization import load_file


def load_pretrained(model, path: str, exclude=(), strict: bool = True):
    """Copy the tensors of a safetensors file into ``model`` (converted to the model's dtype).

    ``exclude``: name prefixes to leave out (e.g. ``("fc.",)`` or ``("classifier.6.",)`` when the
    number of classes differs); those parameters keep their fresh initialization. With ``strict``,
    any other missing or unexpected name is an error listing them. Returns (missing, unexpected).
    """
    tensors, _ = load_file(path)
    prefixes = tuple(exclude)
    if prefixes:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(prefixes)}
    if not strict:
        return model.load_state_dict(tensors, strict=False)
    wanted = set(model.state_dict())
    missing = [k for k in wanted if k not in tensors and not k.startswith(prefixes)]
    unexpected = [k for k in tensors if k not in wanted]
    if missing or unexpected:
        lines = [f"load_pretrained: {path} does not fit {type(model).__name__}"]
        if missing:
            lines.append(f"  missing: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
        if unexpected:
            lines.append(f"  unexpected: {', '.join(unexpected[:10])}"
                         f"{' ...' if len(unexpected) > 10 else ''}")
        raise StateDictError("\n".join(lines))
    try:
        return model.load_state_dict(tensors, strict=False)
    except StateDictError as e:
        raise StateDictError(f"{e}\n  (a classifier for another number of classes? pass "
                             f"exclude=('fc.',) or the classifier's prefix)") from None
