"""The :class:`Optimizer` base class: parameter groups, per-parameter state, ``zero_grad``, ``step``
and state dicts that let a run resume exactly.

An optimizer holds ``param_groups``, a list of dicts like PyTorch's::

    [{"params": [W1, b1], "lr": 0.1, "momentum": 0.9, ...},     # group 0
     {"params": [W2, b2], "lr": 0.01, "momentum": 0.9, ...}]    # group 1: its own lr

Every group has every hyperparameter: those the group dict does not give come from the
optimizer's defaults (the constructor's arguments). ``state[p]`` is the per-parameter dict of
running quantities (momentum buffers, Adam's moments, step counts).

Parameters whose ``grad`` is None or whose ``requires_grad`` is False are skipped by ``step``:
a frozen parameter does not move, not even by weight decay.

Updates are written on ``p.data`` in place with ufuncs (``out=``) from the array module that owns
the parameter (NumPy or CuPy, see :func:`deepbasic.backend.get_array_module`). Temporaries come from
a small scratch area reused across parameters and steps, so a step allocates nothing after the
first. Hyperparameters are turned into Python floats before use, so float32 parameters and
state stay float32 (a Python float does not upcast an array; a NumPy float64 scalar would).
"""
from __future__ import annotations

import math
import numbers
from collections import defaultdict

import numpy as np  # only to recognize NumPy arrays/scalars in state dicts (no array math here)

from deepbasic import backend
from deepbasic.tensor import Tensor, enable_grad


def _fmt(value) -> str:
    """A value as it appears in error messages (NumPy scalars shown as Python numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list):
        value = tuple(value)
    return repr(value)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not (isinstance(value, float) and math.isnan(value))


def _plain(value):
    """A hyperparameter value as plain JSON material: NumPy scalars -> Python, tuples -> lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__")


class Optimizer:
    """Base class of the optimizers.

    Subclasses pass their ``defaults`` (hyperparameter name -> default value), check them in
    :meth:`_check_hparams` and write the update of one group in :meth:`_update_group`.

    Args:
        params: an iterable of Parameters (one group), or of dicts, each with ``"params"`` and any
            hyperparameters that override the defaults for that group.
        defaults: the optimizer's hyperparameters.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._check_hparams(self.defaults, where="")
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._scratch: dict = {}
        self._step_count = 0  # calls of step(); LR schedulers use it to warn about call order
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of Parameters or of dicts (param groups), "
                f"got a single {type(params).__name__}; pass [p] or model.parameters()"
            )
        if isinstance(params, dict):
            raise TypeError(f"{name}: params must be an iterable of param-group dicts; wrap the dict in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered collection (list, tuple, generator), not a "
                            f"set: the order decides the parameter indices in state_dict()")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        elif not all(isinstance(g, dict) for g in groups):
            raise TypeError(f"{name}: params mixes dicts (param groups) and tensors; use only one kind")
        for g in groups:
            self.add_param_group(g)

    # ----- to be written by subclasses --------------------------------------------------------
    def _check_hparams(self, group: dict, where: str) -> None:  # pragma: no cover - abstract
        """Raise ValueError (with the class name and ``where``) for an invalid hyperparameter;
        may normalize values in place (e.g. ``betas`` to a tuple)."""

    def _update_group(self, group: dict, params: list) -> None:  # pragma: no cover - abstract
        """Update ``params``, a list of ``(parameter, gradient array)``, with the group's settings."""
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    # ----- validation helpers -----------------------------------------------------------------
    def _fail(self, msg: str, where: str):
        raise ValueError(f"{type(self).__name__}: {msg}{where}")

    def _check_number(self, group: dict, key: str, where: str, minimum=0.0, maximum=None,
                      max_inclusive: bool = True) -> None:
        """``group[key]`` must be a real number >= ``minimum`` (and <= / < ``maximum``)."""
        value = group[key]
        if not _is_number(value):
            self._fail(f"{key} must be a number, got {_fmt(value)}", where)
        if minimum is not None and value < minimum:
            self._fail(f"{key} must be >= {minimum:g}, got {_fmt(value)}", where)
        if maximum is not None and (value > maximum or (not max_inclusive and value == maximum)):
            op = "<=" if max_inclusive else "<"
            self._fail(f"{key} must be {op} {maximum:g}, got {_fmt(value)}", where)

    # ----- groups -----------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (e.g. layers unfrozen while fine-tuning), with optional
        hyperparameters that override the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' key")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: a group's params must be an ordered collection, not a set: the "
                            f"order decides the parameter indices in state_dict()")
        else:
            params = list(params)
        seen = set()
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize deepbasic Tensors (Parameters), got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf tensor (the result of an op); "
                                 f"optimize the tensors it was computed from")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears twice in one parameter group")
            seen.add(id(p))
        for g in self.param_groups:
            if any(id(p) in seen for p in g["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = {"params": params}
        for key, default in self.defaults.items():
            group[key] = param_group.get(key, default)
        for key, value in param_group.items():
            if key not in group:
                group[key] = value  # extra keys (e.g. 'initial_lr' from a scheduler) are kept
        self._check_hparams(group, where=f" (param group {len(self.param_groups)})")
        self.param_groups.append(group)

    # ----- the training-loop API --------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (default, frees memory) or fill them with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient, once.

        ``closure``, if given, is called first (with gradient recording on): it should zero the
        gradients, recompute the loss, call ``backward`` and return the loss, which ``step``
        returns.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [(p, p.grad) for p in group["params"] if p.requires_grad and p.grad is not None]
            if params:
                self._update_group(group, params)
        self._step_count += 1
        return loss

    # ----- scratch memory ---------------------------------------------------------------------
    def _tmp(self, like, k: int = 0):
        """Scratch array number ``k`` with ``like``'s shape, dtype and array module.

        One flat buffer per (module, dtype, k), as large as the largest parameter seen, reused
        by every parameter and step (its contents are garbage on return).
        """
        xp = backend.get_array_module(like)
        key = (xp.__name__, like.dtype.str, k)
        buf = self._scratch.get(key)
        if buf is None or buf.size < like.size:
            buf = xp.empty(like.size, dtype=like.dtype)
            self._scratch[key] = buf
        return buf[: like.size].reshape(like.shape)

    BLOCK = 65536  # elements per block in :meth:`_blocks` (a few arrays of it fit in L2 cache)

    def _blocks(self, *arrays):
        """Yield matching flat slices of same-shaped arrays, ``BLOCK`` elements at a time.

        An update of many elementwise passes then runs each block through all its passes while
        it is in cache. On CuPy, or if an array is not contiguous, yields the whole arrays once.
        """
        xp = backend.get_array_module(arrays[0])
        size = arrays[0].size
        if xp is not np or size <= self.BLOCK or not all(a.flags.c_contiguous for a in arrays):
            yield arrays
            return
        flat = [a.reshape(-1) for a in arrays]
        for start in range(0, size, self.BLOCK):
            yield [f[start:start + self.BLOCK] for f in flat]

    def _effective_grad_into(self, data, grad, weight_decay: float, maximize: bool, out):
        """``(-grad if maximize else grad) + weight_decay * data`` written into ``out``, or
        ``grad`` itself (never written) when there is nothing to add."""
        if weight_decay == 0 and not maximize:
            return grad
        xp = backend.get_array_module(data)
        if weight_decay == 0:
            xp.negative(grad, out=out)
        else:
            xp.multiply(data, weight_decay, out=out)
            (xp.subtract if maximize else xp.add)(out, grad, out=out)
        return out

    def _effective_grad(self, data, grad, weight_decay: float, maximize: bool):
        """``g = (-grad if maximize else grad) + weight_decay * data`` (L2 penalty), in scratch 0;
        ``grad`` itself (never written) when there is nothing to add."""
        if weight_decay == 0 and not maximize:
            return grad
        xp = backend.get_array_module(data)
        g = self._tmp(data, 0)
        if weight_decay == 0:
            xp.negative(grad, out=g)
        else:
            xp.multiply(data, weight_decay, out=g)
            (xp.subtract if maximize else xp.add)(g, grad, out=g)
        return g

    # ----- state dicts ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimizer's state as plain data, to save in a checkpoint::

            {"state": {0: {"step": 10, "grad_sum": ndarray, ...}, 1: {...}},
             "param_groups": [{"lr": 0.001, "betas": [0.9, 0.999], ..., "params": [0, 1]}]}

        Parameters are referred to by their index in the order of the groups (as in PyTorch);
        arrays are NumPy copies (from the GPU too); everything else is JSON-serializable (ints,
        floats, bools, strings, lists). JSON turns the integer keys of ``"state"`` into strings
        and :meth:`load_state_dict` accepts both.
        """
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed = {k: _plain(v) for k, v in g.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        by_id = {id(p): p for g in self.param_groups for p in g["params"]}
        state = {}
        for pid, i in sorted(index.items(), key=lambda kv: kv[1]):
            s = self.state.get(by_id[pid])
            if s:
                state[i] = {k: (backend.to_numpy(v).copy() if _is_array(v) else _plain(v))
                            for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by :meth:`state_dict` (of an optimizer of the same kind over the
        same parameters, in the same order). Everything is checked before anything changes:
        the number of groups, of parameters per group, and every state array's shape. Arrays
        are copied onto each parameter's device and dtype; the groups' hyperparameters are
        replaced by the saved ones.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups' (from state_dict())")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter group(s), "
                             f"but the optimizer has {len(self.param_groups)}")
        by_index = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            ids = list(saved.get("params", []))
            if len(ids) != len(group["params"]):
                raise ValueError(f"{name}: parameter group {i} has {len(ids)} parameter(s) in the "
                                 f"state dict, but {len(group['params'])} in the optimizer")
            for j, p in zip(ids, group["params"]):
                by_index[int(j)] = p
        new_state: defaultdict = defaultdict(dict)
        for key, saved in state_dict["state"].items():
            try:
                i = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: state key {key!r} is not a parameter index") from None
            if i not in by_index:
                raise ValueError(f"{name}: the state dict has state for parameter {i}, but the "
                                 f"optimizer's parameters are numbered 0..{len(by_index) - 1}")
            p = by_index[i]
            entry = {}
            for k, v in saved.items():
                if _is_array(v):
                    if tuple(v.shape) != tuple(p.shape):
                        raise ValueError(f"{name}: state '{k}' of parameter {i} has shape "
                                         f"{tuple(v.shape)}, but the parameter has shape {tuple(p.shape)}")
                    entry[k] = v
                elif k == "step" and isinstance(v, float) and v.is_integer():
                    entry[k] = int(v)
                else:
                    entry[k] = v
            new_state[p] = entry
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            g = {"params": group["params"]}
            for k, v in saved.items():
                if k == "params":
                    continue
                if isinstance(self.defaults.get(k), tuple) and isinstance(v, list):
                    v = tuple(v)
                g[k] = v
            for k, v in self.defaults.items():
                g.setdefault(k, v)
            self._check_hparams(g, where=f" (param group {i} of the loaded state)")
            new_groups.append(g)
        # everything checked: now copy the arrays onto the parameters' devices and dtypes
        group_of = {id(p): g for g in new_groups for p in g["params"]}
        for p, entry in new_state.items():
            xp = backend.get_array_module(p.data)
            for k, v in entry.items():
                if _is_array(v):
                    host = backend.to_numpy(v) if xp is np else v
                    dtype = p.data.dtype if v.dtype.kind == "f" else v.dtype
                    entry[k] = xp.array(host, dtype=dtype, copy=True)
            new_state[p] = self._adopt_loaded_state(entry, group_of[id(p)])
        self.state = new_state
        self.param_groups = new_groups

    def _adopt_loaded_state(self, entry: dict, group: dict) -> dict:
        """A loaded parameter's state (arrays already copied) in this optimizer's own form:
        subclasses that store their state differently from PyTorch convert its keys here."""
        return entry

    # ----- printing ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
