"""Transfer learning measured: pretrain on some classes, fine-tune on others from few labels.

    r = transfer_experiment("fashion-mnist", source_classes=range(5), target_classes=range(5, 10),
                            per_class=100, pretrain_epochs=5, finetune_epochs=30)
    print(format_transfer_table(r))
    plot_transfer(r, "runs/transfer/transfer.png")

The experiment, for a dataset whose classes are split into a *source* and a *target* task:

1. **Pretrain** a network (``convnet`` by default) on the source classes with all their training
   images, or take one already trained from a checkpoint (``checkpoint=``; see
   :func:`deepbasic.train.recipes.load_model`).
2. **Transfer**: copy the pretrained network, put a fresh ``Linear`` for the k target classes in
   place of its last fully connected layer (:func:`~deepbasic.models.transfer.replace_classifier`),
   freeze everything else (:func:`~deepbasic.models.transfer.freeze`: no gradient, batch norm
   kept in eval mode with the pretrained statistics) and train the head on ``per_class`` labelled
   images of each target class. With ``finetune="all"`` the whole network is then unfrozen and
   trained as many epochs again at ``full_lr_factor`` times the learning rate.
3. **Scratch**: the same architecture from a random initialization, trained on the *same*
   images (same indices, same batch order, same optimizer and schedule) for as many epochs as
   the transfer's fine-tuning took in all.

Both are evaluated with their final weights on every test image of the target classes (5,000 for
Fashion-MNIST's classes 5-9). The target classes' validation images are only used to draw
learning curves, never to pick a model: the point is to learn from ``per_class`` labels each.
Everything is seeded: the same call gives the same numbers.
"""
from __future__ import annotations

import json
import numbers
import os
import re
import time

import numpy as np

from deepbasic import backend

FINETUNE_MODES = ("head", "all")


# ----- class subsets ---------------------------------------------------------------------------
def parse_classes(spec, num_classes: int) -> tuple:
    """Class labels from a spec: ``"0-4"``, ``"5,7,9"``, ``"0-2,8"`` or an iterable of ints.

    Returns a tuple of distinct labels in ``0 .. num_classes - 1``, in the order written (ranges
    ascending). ValueError, naming the problem, for an empty spec, a malformed part, a label out
    of range or a repeated label.
    """
    if isinstance(spec, str):
        labels = []
        for part in (p.strip() for p in spec.split(",")):
            m = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
            if not m:
                raise ValueError(f"bad class spec {spec!r}: expected labels and ranges like "
                                 f"'0-4' or '5,7,9', got part {part!r}")
            lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
            if hi < lo:
                raise ValueError(f"bad class spec {spec!r}: range {part!r} runs backwards")
            labels.extend(range(lo, hi + 1))
    else:
        try:
            labels = list(spec)
        except TypeError:
            raise ValueError(f"bad class spec {spec!r}: expected a string like '0-4' or a "
                             f"sequence of class labels") from None
        for c in labels:
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral):
                raise ValueError(f"bad class spec {spec!r}: class labels are integers, got {c!r}")
        labels = [int(c) for c in labels]
    if not labels:
        raise ValueError(f"bad class spec {spec!r}: no classes")
    bad = [c for c in labels if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"bad class spec {spec!r}: class {bad[0]} is out of range (the dataset "
                         f"has classes 0-{num_classes - 1})")
    repeated = sorted({c for c in labels if labels.count(c) > 1})
    if repeated:
        raise ValueError(f"bad class spec {spec!r}: class {repeated[0]} is listed twice")
    return tuple(labels)


def pick_per_class(y, classes, per_class: int | None, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of each class in ``classes``, chosen at random.

    y: (N,) labels. Returns a sorted int64 index array into ``y`` of length
    ``len(classes) * per_class`` (every example of those classes when ``per_class`` is None).
    The pick depends only on ``y``, ``classes``, ``per_class`` and ``seed`` (one
    ``default_rng(seed)`` permutation per class, in the order of ``classes``). ValueError when a
    class has fewer than ``per_class`` examples.
    """
    y = np.asarray(y)
    if per_class is not None and (isinstance(per_class, bool)
                                  or not isinstance(per_class, numbers.Integral) or per_class < 1):
        raise ValueError(f"per_class must be a positive integer or None, got {per_class!r}")
    rng = np.random.default_rng(seed)
    picked = []
    for c in classes:
        idx = np.flatnonzero(y == c)
        if per_class is not None:
            if len(idx) < per_class:
                raise ValueError(f"class {c} has only {len(idx)} training examples, fewer than "
                                 f"per_class={per_class}")
            idx = rng.permutation(idx)[:per_class]
        picked.append(idx)
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, np.int64)


def class_subset(split, classes, indices=None):
    """The examples of ``classes`` in ``split`` (or just ``indices``, which must all belong to
    them), relabeled: ``classes[i]`` becomes label ``i``.

    split: a :class:`~deepbasic.data.Split` with x (N, C, H, W) and y (N,). Returns a new Split
    with x (M, C, H, W) and y (M,) int64 in 0 .. len(classes) - 1, in the split's order.
    """
    from deepbasic.data import Split

    classes = list(classes)
    lookup = np.full(max(int(split.y.max(initial=0)), max(classes)) + 1, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    if indices is None:
        indices = np.flatnonzero(lookup[split.y] >= 0)
    indices = np.asarray(indices, dtype=np.int64)
    y = lookup[split.y[indices]]
    if (y < 0).any():
        raise ValueError(f"class_subset: index {indices[np.argmax(y < 0)]} holds class "
                         f"{split.y[indices[np.argmax(y < 0)]]}, not one of {classes}")
    return Split(split.x[indices], y)


def class_split(data, classes, per_class: int | None = None, seed: int = 0,
                val_per_class: int | None = None):
    """A :class:`~deepbasic.data.DatasetSplits` of the classes ``classes`` of ``data`` only,
    relabeled 0 .. k-1 in the order given (``classes[i]`` -> ``i``, named ``data.classes[c]``).

    ``train`` keeps ``per_class`` images of each class (:func:`pick_per_class` with ``seed``;
    None: all of them), ``val`` ``val_per_class`` of each (None: all; at most as many as there
    are) and ``test`` every image of those classes. x stays (N, C, H, W) float32, y (N,) int64.
    """
    from deepbasic.data import DatasetSplits

    classes = parse_classes(classes, len(data.classes))
    train_idx = pick_per_class(data.train.y, classes, per_class, seed)
    val_idx = None
    if val_per_class is not None:
        fewest = min(min(int((data.val.y == c).sum()) for c in classes), val_per_class)
        val_idx = (pick_per_class(data.val.y, classes, fewest, seed) if fewest > 0
                   else np.zeros(0, np.int64))
    label = ",".join(map(str, classes))
    return DatasetSplits(train=class_subset(data.train, classes, train_idx),
                         val=class_subset(data.val, classes, val_idx),
                         test=class_subset(data.test, classes),
                         classes=[data.classes[c] for c in classes],
                         name=f"{data.name}[{label}]")


# ----- training pieces -------------------------------------------------------------------------
def _check_positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"transfer_experiment: {what} must be a positive integer, got {value!r}")
    return int(value)


def _fit(model, data, *, epochs: int, lr: float, batch_size: int, seed: int, schedule: str,
         out_dir, config: dict, verbose: bool, progress: bool) -> tuple:
    """Adam (over the parameters that require grad) for ``epochs`` epochs on ``data.train`` with
    ``schedule``, validation curves on ``data.val``; returns ``(history, seconds)``. The model
    keeps its final weights."""
    from deepbasic import nn, optim
    from deepbasic.data import DataLoader
    from deepbasic.train.recipes import make_scheduler
    from deepbasic.train.trainer import Trainer

    optimizer = optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer,
                      make_scheduler(schedule, optimizer, epochs), out_dir=out_dir, config=config,
                      monitor="val_accuracy", mode="max", progress=progress, verbose=verbose)
    train = DataLoader(data.train, batch_size=batch_size, shuffle=True, seed=seed)
    val = DataLoader(data.val, batch_size=1024) if len(data.val) else None
    start = time.perf_counter()
    history = trainer.fit(train, val, epochs=epochs)
    return history, time.perf_counter() - start


def _evaluate(model, split) -> dict:
    """Accuracy and per-class accuracy of ``model`` on ``split`` (x (N, C, H, W), y (N,))."""
    from deepbasic.train.loop import predict
    from deepbasic.train.metrics import confusion_matrix, per_class_accuracy

    pred = predict(model, split.x).argmax(axis=1)
    k = int(split.y.max(initial=0)) + 1
    matrix = confusion_matrix(split.y, pred, k)
    return {"accuracy": float((pred == split.y).mean()),
            "per_class_accuracy": [float(a) for a in per_class_accuracy(matrix)]}


def _curve(history, stage: str) -> list:
    keys = ("epoch", "lr", "train_loss", "val_loss", "val_accuracy", "train_time", "examples")
    return [dict({k: row[k] for k in keys if k in row}, stage=stage) for row in history]


def _params(model) -> dict:
    return {"trainable": model.num_parameters(trainable_only=True),
            "total": model.num_parameters()}


def _pretrained_from_checkpoint(path, data, source_classes, model_name) -> dict:
    """Load the network of checkpoint ``path`` and check that it fits ``data`` (same input
    shape; ``model_name`` and ``source_classes``, when given, as saved). Returns ``{"model",
    "name", "kwargs", "source"`` (the saved source class ids, or None for a checkpoint of
    ``deepbasic train``), ``"source_names", "same_dataset"}``."""
    from deepbasic.train.recipes import load_model

    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    model, ckpt = load_model(path)
    config = ckpt.extra["config"]
    if model_name is not None and model_name != config["model"]:
        raise ValueError(f"the checkpoint {path} holds a {config['model']}, not a {model_name}")
    shape = tuple(data.train.x.shape[1:])
    if tuple(config["input_shape"]) != shape:
        raise ValueError(f"the checkpoint {path} was trained on inputs "
                         f"{tuple(config['input_shape'])}, but {data.name} has {shape}")
    saved = config.get("source_classes")
    saved = None if saved is None else tuple(saved)
    if source_classes is not None and saved != tuple(source_classes):
        trained_on = (f"classes {list(saved)}" if saved is not None else
                      f"all {len(config['classes'])} classes of {config.get('dataset')}")
        raise ValueError(f"the checkpoint {path} was trained on {trained_on}; leave the source "
                         f"classes out (they come from the checkpoint)")
    return {"model": model, "name": config["model"],
            "kwargs": dict(config.get("model_kwargs") or {}), "source": saved,
            "source_names": list(config["classes"]),
            "dataset": config.get("dataset"), "same_dataset": config.get("dataset") == data.name}


# ----- the experiment --------------------------------------------------------------------------
def transfer_experiment(dataset="fashion-mnist", source_classes=None, target_classes=None, *,
                        per_class: int | None = 100, model: str | None = None,
                        model_kwargs: dict | None = None, checkpoint: str | None = None,
                        pretrain_epochs: int = 5, finetune_epochs: int = 30,
                        finetune: str = "head", lr: float = 1e-3, pretrain_lr: float = 1e-3,
                        full_lr_factor: float = 0.1,
                        batch_size: int = 64, pretrain_batch_size: int = 128,
                        schedule: str = "cosine", val_per_class: int | None = 100, seed: int = 0,
                        out_dir: str | None = None,
                        data_root: str | None = None, verbose: bool = False,
                        progress: bool = False) -> dict:
    """Pretrain on ``source_classes``, transfer to ``target_classes`` with ``per_class`` labelled
    images each, and compare with training from scratch on the same images (see the module
    docstring for the protocol).

    dataset: a name for :func:`~deepbasic.data.load_dataset` or a loaded
    :class:`~deepbasic.data.DatasetSplits` (x (N, C, H, W)). source_classes / target_classes:
    class specs for :func:`parse_classes` (default: the first half of the classes / the rest);
    they must not overlap (a checkpoint trained on every class of the dataset only gets a
    warning). With ``checkpoint``, the pretrained network is that file's (its model
    and source classes come from the checkpoint; ``pretrain_epochs`` is unused). finetune:
    ``"head"`` (only the new last layer learns) or ``"all"`` (then everything, at
    ``lr * full_lr_factor``). schedule: the lr schedule of every stage (see
    :func:`~deepbasic.train.recipes.make_scheduler`). val_per_class: validation images per
    target class for the learning curves (None: all; they are never used to choose weights).
    out_dir: each stage's run directory
    (``pretrain/``, ``transfer/``, ``transfer_all/``, ``scratch/``: checkpoints, metrics,
    curves), ``transfer.json`` and ``transfer.png``.

    Returns a JSON-able dict: the setup (``dataset``, ``model``, ``source_classes``,
    ``target_classes`` and their names, ``per_class``, ``finetune``, ``seed``, ...),
    ``target_train_indices`` (the labelled images, indices into the dataset's train split),
    ``test_examples``, ``pretrain`` (``dataset``, ``epochs``, ``seconds``,
    ``source_test_accuracy`` (None when unknown), ``checkpoint``, ``curve``), ``transfer`` and ``scratch`` (``test_accuracy``,
    ``per_class_accuracy``, ``seconds`` (the stage's wall time, with validation and files),
    ``train_seconds`` (the training steps alone), ``epochs``, ``parameters`` ``{"trainable", "total"}``,
    ``curve``: one row per epoch), ``gain`` (transfer minus scratch test accuracy) and
    ``warnings``.
    """
    from deepbasic.data import DatasetSplits, load_dataset
    from deepbasic.models import build_model
    from deepbasic.models.transfer import classifier_name, freeze, replace_classifier, unfreeze
    from deepbasic.serialization import atomic_write
    from deepbasic.train.recipes import SCHEDULES

    if finetune not in FINETUNE_MODES:
        raise ValueError(f"transfer_experiment: finetune must be one of "
                         f"{', '.join(FINETUNE_MODES)}, got {finetune!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    finetune_epochs = _check_positive_int(finetune_epochs, "finetune_epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if checkpoint is None:
        pretrain_epochs = _check_positive_int(pretrain_epochs, "pretrain_epochs")
        pretrain_batch_size = _check_positive_int(pretrain_batch_size, "pretrain_batch_size")
    for what, value in (("lr", lr), ("pretrain_lr", pretrain_lr),
                        ("full_lr_factor", full_lr_factor)):
        if not (isinstance(value, numbers.Real) and value > 0):
            raise ValueError(f"transfer_experiment: {what} must be a positive number, "
                             f"got {value!r}")
    seed = int(seed)
    data = dataset if isinstance(dataset, DatasetSplits) else load_dataset(dataset, root=data_root)
    n_all = len(data.classes)
    half = n_all // 2
    warnings = []

    # --- the pretrained network -----------------------------------------------------------------
    if checkpoint is not None:
        if source_classes is not None:
            source_classes = parse_classes(source_classes, n_all)
        loaded = _pretrained_from_checkpoint(os.fspath(checkpoint), data, source_classes, model)
        if model_kwargs is not None and json.loads(json.dumps(model_kwargs)) != loaded["kwargs"]:
            raise ValueError(f"the checkpoint {checkpoint} holds a {loaded['name']} with "
                             f"{loaded['kwargs']}, not {model_kwargs}; leave the model's "
                             f"settings out (they come from the checkpoint)")
        pre_model, model, model_kwargs = loaded["model"], loaded["name"], loaded["kwargs"]
        source, source_names = loaded["source"], loaded["source_names"]
        # the classes of this dataset the network was trained on (none if another dataset)
        pre_seen = (set(source or range(len(source_names))) if loaded["same_dataset"]
                    else set())
    else:
        source = parse_classes(range(half) if source_classes is None else source_classes, n_all)
        source_names = [data.classes[c] for c in source]
        model = model or "convnet"
        model_kwargs = dict(model_kwargs or {})
        pre_seen = set(source)
        if len(source) < 2:
            raise ValueError(f"pretraining needs at least 2 source classes, got {list(source)}")
    if target_classes is None:
        target_classes = ([c for c in range(n_all) if c not in pre_seen] if pre_seen and
                          len(pre_seen) < n_all else range(half, n_all))
    target = parse_classes(target_classes, n_all)
    if len(target) < 2:
        raise ValueError(f"the target task needs at least 2 classes, got {list(target)}")
    leaked = sorted(pre_seen & set(target))
    if leaked and source is not None:
        raise ValueError(f"source and target classes overlap: {', '.join(map(str, leaked))}")
    if leaked:  # a checkpoint trained on every class of this dataset
        warnings.append(f"the pretrained network has already seen target classes "
                        f"{', '.join(map(str, leaked))}: this is not transfer to new classes")
    input_shape = tuple(data.train.x.shape[1:])
    k = len(target)
    target_data = class_split(data, target, per_class, seed, val_per_class)
    target_idx = pick_per_class(data.train.y, target, per_class, seed)

    def stage_dir(name):
        return os.path.join(out_dir, name) if out_dir else None

    def config(classes, **more):
        return dict({"model": model, "model_kwargs": model_kwargs, "dataset": data.name,
                     "input_shape": list(input_shape), "classes": list(classes), "seed": seed},
                    **more)

    if checkpoint is None:
        source_data = class_split(data, source, None, seed)
        if verbose:
            print(f"pretraining {model} on {data.name} classes {list(source)} "
                  f"({len(source_data.train)} images, {pretrain_epochs} epochs)")
        backend.manual_seed(seed)
        pre_model = build_model(model, input_shape, len(source), **model_kwargs)
        pre_history, pre_seconds = _fit(
            pre_model, source_data, epochs=pretrain_epochs, lr=pretrain_lr,
            batch_size=pretrain_batch_size,
            seed=seed, schedule=schedule, out_dir=stage_dir("pretrain"),
            config=config(source_names, source_classes=list(source)), verbose=verbose,
            progress=progress)
        pretrain = {"epochs": pretrain_epochs, "seconds": pre_seconds, "lr": pretrain_lr,
                    "dataset": data.name,
                    "train_examples": len(source_data.train), "batch_size": pretrain_batch_size,
                    "source_test_accuracy": _evaluate(pre_model, source_data.test)["accuracy"],
                    "checkpoint": (os.path.join(stage_dir("pretrain"), "last.safetensors")
                                   if out_dir else None),
                    "curve": _curve(pre_history, "pretrain")}
    else:
        acc = None
        if pre_seen:  # measure it on the test images of the classes it was trained on
            seen = source if source is not None else range(n_all)
            acc = _evaluate(pre_model, class_split(data, seen, None, seed).test)["accuracy"]
        pretrain = {"epochs": None, "seconds": 0.0, "checkpoint": os.fspath(checkpoint),
                    "dataset": loaded["dataset"], "source_test_accuracy": acc, "curve": []}
    pre_state = pre_model.state_dict()
    head_name = classifier_name(pre_model)
    n_pre = pre_state[head_name + ".weight"].shape[0]

    # --- transfer: new head, frozen body --------------------------------------------------------
    common = dict(lr=lr, batch_size=batch_size, seed=seed + 1, schedule=schedule,
                  verbose=verbose, progress=progress)
    target_names = [data.classes[c] for c in target]
    tconfig = config(target_names, target_classes=list(target), per_class=per_class,
                     pretrained=pretrain["checkpoint"] or "in memory")
    backend.manual_seed(seed + 1)
    net = build_model(model, input_shape, n_pre, **model_kwargs)
    net.load_state_dict(pre_state)
    replace_classifier(net, k, head_name)
    freeze(net, head_name)
    transfer_params = _params(net)
    if verbose:
        print(f"transfer: new {head_name} for {k} classes, the rest frozen "
              f"({transfer_params['trainable']:,} of {transfer_params['total']:,} parameters "
              f"trainable), {len(target_data.train)} images, {finetune_epochs} epochs")
    history, seconds = _fit(net, target_data, epochs=finetune_epochs, out_dir=stage_dir("transfer"),
                            config=tconfig, **common)
    curve = _curve(history, "head")
    transfer = {"epochs": finetune_epochs, "seconds": seconds, "parameters": transfer_params,
                "head": head_name}
    if finetune == "all":
        transfer["head_test_accuracy"] = _evaluate(net, target_data.test)["accuracy"]
        unfreeze(net)
        if verbose:
            print(f"fine-tuning all {net.num_parameters():,} parameters at lr "
                  f"{lr * full_lr_factor:g} for {finetune_epochs} more epochs")
        history, seconds = _fit(net, target_data, epochs=finetune_epochs,
                                out_dir=stage_dir("transfer_all"), config=tconfig,
                                **dict(common, lr=lr * full_lr_factor))
        curve += [dict(row, epoch=row["epoch"] + finetune_epochs)
                  for row in _curve(history, "all")]
        transfer.update(epochs=2 * finetune_epochs, seconds=transfer["seconds"] + seconds,
                        full_lr=lr * full_lr_factor)
    transfer.update(_evaluate(net, target_data.test), curve=curve,
                    train_seconds=sum(row["train_time"] for row in curve))
    transfer["test_accuracy"] = transfer.pop("accuracy")
    frozen_same = all(np.array_equal(v, pre_state[name]) for name, v in net.state_dict().items()
                      if not name.startswith(head_name + ".")) if finetune == "head" else None
    transfer["body_unchanged"] = frozen_same

    # --- scratch: same architecture, same images, same budget -----------------------------------
    backend.manual_seed(seed + 1)
    scratch_net = build_model(model, input_shape, k, **model_kwargs)
    epochs = transfer["epochs"]
    if verbose:
        print(f"from scratch: {model} ({scratch_net.num_parameters():,} parameters), the same "
              f"{len(target_data.train)} images, {epochs} epochs")
    history, seconds = _fit(scratch_net, target_data, epochs=epochs, out_dir=stage_dir("scratch"),
                            config=dict(tconfig, pretrained=None), **common)
    scratch = {"epochs": epochs, "seconds": seconds, "parameters": _params(scratch_net)}
    scratch.update(_evaluate(scratch_net, target_data.test), curve=_curve(history, "scratch"),
                   train_seconds=sum(row["train_time"] for row in history))
    scratch["test_accuracy"] = scratch.pop("accuracy")

    result = {
        "dataset": data.name, "model": model, "model_kwargs": model_kwargs,
        "source_classes": None if source is None else list(source),
        "source_names": source_names, "target_classes": list(target),
        "target_names": target_names, "per_class": per_class, "finetune": finetune,
        "finetune_epochs": finetune_epochs, "lr": lr, "batch_size": batch_size,
        "schedule": schedule, "seed": seed, "train_examples": len(target_data.train),
        "target_train_indices": target_idx.tolist(), "test_examples": len(target_data.test),
        "val_examples": len(target_data.val),
        "pretrain": pretrain, "transfer": transfer, "scratch": scratch,
        "gain": transfer["test_accuracy"] - scratch["test_accuracy"], "warnings": warnings,
    }
    if out_dir:
        with atomic_write(os.path.join(out_dir, "transfer.json"), "w") as f:
            json.dump(result, f, indent=1)
        result["plot"] = plot_transfer(result, os.path.join(out_dir, "transfer.png"))
    return result


# ----- reporting -------------------------------------------------------------------------------
def format_transfer_table(result: dict) -> str:
    """Transfer vs scratch: test accuracy on the target classes, trainable / total parameters and
    time spent in training steps, one row each, then the gain."""
    t, s = result["transfer"], result["scratch"]
    rows = [("from scratch", s), (f"transfer ({result['finetune']})", t)]
    lines = [f"{'':18}{'test accuracy':>14}  {'trainable / total params':>25}  {'epochs':>6}  "
             f"{'train time':>10}"]
    for name, r in rows:
        p = r["parameters"]
        params = f"{p['trainable']:,} / {p['total']:,}"
        if name.startswith("transfer") and result["finetune"] == "all":
            params = f"{p['trainable']:,}, then all"
        lines.append(f"{name:18}{r['test_accuracy']:>14.4f}  {params:>25}  {r['epochs']:>6}  "
                     f"{r['train_seconds']:>9.1f}s")
    if "head_test_accuracy" in t:
        lines.append(f"{'(head stage only)':18}{t['head_test_accuracy']:>14.4f}")
    lines.append(f"gain of transfer over scratch: {result['gain']:+.4f} on "
                 f"{result['test_examples']:,} test images of classes "
                 f"{','.join(map(str, result['target_classes']))}")
    return "\n".join(lines)


def plot_transfer(result: dict, path: str, title: str | None = None) -> str:
    """Two panels: the target test accuracy of scratch and transfer (bars), and their
    validation accuracy per fine-tuning epoch. Written atomically as PNG; returns ``path``."""
    from deepbasic.train.plots import _pyplot, _save

    plt = _pyplot()
    t, s = result["transfer"], result["scratch"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    bars = [("scratch", s["test_accuracy"], "C0")]
    if "head_test_accuracy" in t:
        bars.append(("transfer\n(head)", t["head_test_accuracy"], "C1"))
        bars.append(("transfer\n(then all)", t["test_accuracy"], "C2"))
    else:
        bars.append(("transfer\n(head)", t["test_accuracy"], "C1"))
    values = [b[1] for b in bars]
    ax1.bar(range(len(bars)), values, color=[b[2] for b in bars])
    for i, v in enumerate(values):
        ax1.text(i, v, f"{v:.3f}", ha="center", va="bottom", fontsize=9)
    ax1.set_xticks(range(len(bars)), labels=[b[0] for b in bars])
    low = max(0.0, min(values) - 0.15)
    ax1.set_ylim(low, 1.0)
    ax1.set(ylabel="test accuracy", title=f"target classes ({result['test_examples']:,} test "
                                          f"images)")
    ax1.grid(axis="y", alpha=0.3)
    for name, curve, color in (("scratch", s["curve"], "C0"), ("transfer", t["curve"], "C1")):
        rows = [r for r in curve if r.get("val_accuracy") is not None]
        if rows:
            ax2.plot([r["epoch"] for r in rows], [r["val_accuracy"] for r in rows], marker=".",
                     color=color, label=name)
    if "head_test_accuracy" in t:
        ax2.axvline(result["finetune_epochs"] + 0.5, color="gray", ls="--", lw=1)
    ax2.set(xlabel="fine-tuning epoch", ylabel="validation accuracy",
            title="learning curves (validation, not used for selection)")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.suptitle(title or (f"{result['model']} on {result['dataset']}: "
                           f"{result['per_class']} labels per target class"), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
