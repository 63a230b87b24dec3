"""``Module`` and ``Parameter``: the containers that layers and models are built from.

A Module holds Parameters (trainable tensors), buffers (state that is saved but not trained, like
batch norm's running mean) and child Modules, registered by attribute assignment as in PyTorch.
Names are dotted paths (``features.0.weight``) and match PyTorch's for the same architecture, so
state dicts move between the two.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a trainable parameter of a Module (requires_grad True by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        arr = data.data if isinstance(data, Tensor) else data
        super().__init__(arr if hasattr(arr, "dtype") else np.asarray(arr), requires_grad=False)
        self.requires_grad = bool(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(RuntimeError):
    """A state dict does not fit the module: missing or unexpected keys, or wrong shapes."""


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` unregisters the hook (also as a
    context manager: ``with model.fc.register_forward_hook(f): ...``)."""

    _next_id = 0

    def __init__(self, store: OrderedDict):
        self._store = store
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._store.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _add_hook(store: OrderedDict, hook) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(store)
    store[handle.id] = hook
    return handle


class Module:
    """Base class of all layers and models. Subclasses set attributes in ``__init__`` and write
    ``forward``; calling the module runs ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ----- registration -----------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        params, buffers = self._parameters, self._buffers
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter "
                    f"'{name}' (Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in buffers and (value is None or isinstance(value, Tensor)):
            buffers[name] = value  # a buffer stays a buffer when reassigned, as in PyTorch
        else:
            self._forget(name)
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Remove ``name`` from every store and from the plain attributes."""
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        if name in ("_parameters", "_buffers", "_modules"):
            raise AttributeError(
                f"{type(self).__name__} has no '{name}': its __init__ must call "
                f"super().__init__() first"
            )
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (None registers an absent one, e.g. ``bias=False``)."""
        if param is None:
            self._parameters[name] = None
            self.__dict__.pop(name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value: Tensor | None) -> None:
        """Add a tensor that is part of the state (saved, loaded, moved) but not trained."""
        self.__dict__.pop(name, None)
        self._buffers[name] = value

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is None:
            self._modules[name] = None
        else:
            setattr(self, name, module)

    # ----- calling ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            changed = hook(self, args)
            if changed is not None:
                args = changed if isinstance(changed, tuple) else (changed,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            changed = hook(self, args, output)
            if changed is not None:
                output = changed
        return output

    def register_forward_pre_hook(self, hook) -> "RemovableHandle":
        """Call ``hook(module, args)`` before each forward; a non-None result replaces the
        positional inputs (a tuple, or one value). Returns a handle whose ``remove()`` undoes it."""
        return _add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook) -> "RemovableHandle":
        """Call ``hook(module, args, output)`` after each forward; a non-None result replaces the
        output. Used by ``deepbasic summary`` (shapes) and the visualization tools (activations)."""
        return _add_hook(self._forward_hooks, hook)

    # ----- traversal --------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """(name, module) for this module and every descendant, depth first.

        A module reachable by several names is listed once, unless ``remove_duplicate=False``
        (state dicts list a shared module under every name, as PyTorch does).
        """
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, m = stack.pop()
            if remove_duplicate and id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items() if c is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for k, m in self._modules.items():
            if m is not None:
                yield k, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) for every parameter, each shared one once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, m in modules:
            for k, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{k}" if mname else k), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = ""):
        for mname, m in self.named_modules(prefix):
            for k, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{k}" if mname else k), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar parameters (each shared parameter counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ----- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active, batch norm uses batch statistics). A module marked
        ``frozen = True`` (see :func:`deepbasic.models.transfer.freeze`) stays in eval mode, with
        everything inside it, so a frozen feature extractor keeps its batch-norm statistics."""
        frozen = [m for m in self.modules() if m.__dict__.get("frozen", False)]
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        for f in frozen:
            for m in f.modules():
                object.__setattr__(m, "training", False)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: dropout off, batch norm uses its running statistics."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter: frozen ones get no gradient and no update."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every descendant and then on this module (e.g. for init)."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    def to(self, device=None, dtype=None) -> "Module":
        """Move every parameter and buffer to ``"cpu"`` / ``"cuda"`` and/or a float dtype, in place."""
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for k, t in store.items():
                    if t is None:
                        continue
                    data = t.data
                    if device is not None and device != t.device:
                        xp = backend.device_module(device)
                        data = xp.asarray(backend.to_numpy(data)) if xp is not np else backend.to_numpy(data)
                    if dtype is not None and data.dtype.kind == "f":
                        data = data.astype(backend.to_dtype(dtype))
                    t.data = data
                    t.grad = None
        return self

    def cpu(self) -> "Module":
        """Move every parameter and buffer to host memory, in place (``to("cpu")``)."""
        return self.to("cpu")

    def cuda(self) -> "Module":
        """Move every parameter and buffer to the GPU, in place (``to("cuda")``; needs CuPy)."""
        return self.to("cuda")

    def float(self) -> "Module":
        return self.to(dtype=np.float32)

    def double(self) -> "Module":
        return self.to(dtype=np.float64)

    # ----- state dict -------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Every parameter and persistent buffer by dotted name, as arrays (copies on the host)."""
        out = OrderedDict()
        for mname, m in self.named_modules(remove_duplicate=False):
            for store in (m._parameters, m._buffers):
                for k, t in store.items():
                    if t is not None:
                        out[f"{mname}.{k}" if mname else k] = backend.to_numpy(t.data).copy()
        return out

    def load_state_dict(self, state, strict: bool = True):
        """Copy arrays into the parameters and buffers with the same names.

        Shapes must match. With ``strict`` (default) a missing or unexpected key is an error
        listing them; otherwise returns ``(missing_keys, unexpected_keys)``.
        """
        targets = {}
        for mname, m in self.named_modules(remove_duplicate=False):
            for store in (m._parameters, m._buffers):
                for k, t in store.items():
                    if t is not None:
                        targets[f"{mname}.{k}" if mname else k] = t
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            lines = [f"load_state_dict for {type(self).__name__}: the state dict does not fit"]
            if missing:
                lines.append(f"  missing keys: {', '.join(missing)}")
            if unexpected:
                lines.append(f"  unexpected keys: {', '.join(unexpected)}")
            raise StateDictError("\n".join(lines))
        mismatched = []
        for k, t in targets.items():
            if k not in state:
                continue
            src = state[k]
            src = src.data if isinstance(src, Tensor) else src
            if tuple(src.shape) != tuple(t.shape):
                mismatched.append(f"  {k}: checkpoint {tuple(src.shape)}, model {tuple(t.shape)}")
        if mismatched:
            raise StateDictError(
                f"load_state_dict for {type(self).__name__}: shape mismatch\n" + "\n".join(mismatched)
            )
        for k, t in targets.items():
            if k in state:
                src = state[k]
                src = src.data if isinstance(src, Tensor) else src
                xp = backend.get_array_module(t.data)
                t.data = xp.asarray(backend.to_numpy(src) if xp is np else src, dtype=t.data.dtype).copy()
        return missing, unexpected

    # ----- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [(k, m) for k, m in self._modules.items() if m is not None]
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}("]
        if extra:
            lines.append(f"  {extra}")
        for k, m in children:
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {body}")
        lines.append(")")
        return "\n".join(lines)
