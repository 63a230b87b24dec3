"""Chapter: the classic architectures side by side, parameters against multiply-adds.

Every model is built from the registry and measured by :func:`deepbasic.models.summary` (a real
forward pass of one zero image with hooks): the ImageNet architectures at 3x224x224 with 1000
classes, the small models at 1x28x28 with 10. Writes ``architectures/architectures.png`` (GMACs
against parameters, log scales, one labelled point per model), ``architectures/table.html`` and
``architectures/architectures.json``.

Time: drawing the random weights would be most of the cost (5-10 s for VGG-16's 138M parameters
alone on two cores), so the models are built inside :func:`deepbasic.init.skip_init` (weights
left at zero: the counts depend on the shapes only) and the forward passes are real; all 14
models then take about 10 s, so the quick and the full versions are the same.
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register

IMAGENET_MODELS = ["alexnet", "vgg16", "vgg19", "googlenet", "resnet18", "resnet34", "resnet50",
                   "resnet101", "resnet152"]
SMALL_MODELS = ["mlp", "threelayer", "convnet", "vgg-small", "resnet20"]
IMAGENET_INPUT, SMALL_INPUT = (3, 224, 224), (1, 28, 28)

DISPLAY = {"alexnet": "AlexNet", "vgg16": "VGG-16", "vgg19": "VGG-19", "googlenet": "GoogLeNet",
           "resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50",
           "resnet101": "ResNet-101", "resnet152": "ResNet-152", "mlp": "MLP",
           "threelayer": "three-layer ConvNet", "convnet": "ConvNet", "vgg-small": "VGG-small",
           "resnet20": "ResNet-20"}


def measure(name: str, input_shape, num_classes: int) -> dict:
    """Build ``name`` for inputs ``input_shape`` (C, H, W) and ``num_classes`` classes and
    summarize it: parameters, multiply-adds per example, the number of Conv2d / Linear layers,
    the share of the parameters in Linear layers, the output shape and the seconds it took."""
    import time

    from deepbasic import nn
    from deepbasic.init import skip_init
    from deepbasic.models import build_model, summary

    t0 = time.perf_counter()
    with skip_init():           # the counts depend on shapes only: no random weights to draw
        model = build_model(name, input_shape, num_classes)
    s = summary(model, input_shape, depth=1, model_name=name)
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    linear = sum(m.weight.data.size + (m.bias.data.size if m.bias is not None else 0)
                 for m in weighted if isinstance(m, nn.Linear))
    return {"model": name, "name": DISPLAY.get(name, name), "input_shape": list(input_shape),
            "classes": num_classes, "parameters": s.total_params, "macs": s.total_macs,
            "weight_layers": len(weighted), "linear_share": linear / s.total_params,
            "output_shape": list(s.output_shape[1:]), "seconds": time.perf_counter() - t0}


# label offsets in points (dx, dy) where the default (5, 4) would overlap a neighbour
_LABEL_OFFSETS = {"resnet34": (-6, 4), "resnet18": (6, -10), "googlenet": (-6, 4),
                  "vgg16": (7, -9), "vgg19": (-6, 5), "resnet20": (-6, 4), "vgg-small": (6, -9),
                  "resnet152": (-6, 4), "resnet101": (-6, 4)}


def plot_architectures(rows: list, path: str) -> str:
    """GMACs per example against parameters (log scales), one labelled point per row of
    :func:`measure`; ImageNet-sized inputs and small inputs in two colours."""
    from deepbasic.train.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    groups = {}
    for r in rows:
        groups.setdefault("x".join(map(str, r["input_shape"])), []).append(r)
    for (shape, group), color, marker in zip(groups.items(), ("C0", "C1", "C2"), "osD"):
        ax.scatter([r["parameters"] for r in group], [r["macs"] / 1e9 for r in group], s=45,
                   color=color, marker=marker, label=f"input {shape}", zorder=3)
        for r in group:
            dx, dy = _LABEL_OFFSETS.get(r["model"], (5, 4))
            ax.annotate(r["name"], (r["parameters"], r["macs"] / 1e9), xytext=(dx, dy),
                        textcoords="offset points", fontsize=8, ha="right" if dx < 0 else "left",
                        va="top" if dy < 0 else "bottom")
    ax.set(xscale="log", yscale="log", xlabel="parameters",
           ylabel="multiply-adds per example (G)",
           title="Architectures: computation against size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left")
    ax.margins(x=0.15, y=0.15)
    fig.tight_layout()
    return _save(fig, path)


def table_html(rows: list) -> str:
    """A self-contained HTML page with one table row per model measured by :func:`measure`."""
    import html

    from deepbasic.models.summary import _human

    head = ("model", "input", "parameters", "multiply-adds", "conv + linear layers",
            "parameters in linear layers", "output")
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            r["name"], "x".join(map(str, r["input_shape"])), f"{r['parameters']:,}",
            _human(r["macs"]), r["weight_layers"], f"{100 * r['linear_share']:.0f}%",
            "x".join(map(str, r["output_shape"])))) + "</tr>" for r in rows)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>architectures</title>"
            "<style>td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; } "
            "table { border-collapse: collapse; font-family: sans-serif; }</style></head><body>"
            "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + body +
            "</table></body></html>")


def run(out_dir: str, quick: bool) -> ChapterResult:
    import json
    import os
    import time

    from deepbasic.models.summary import _human
    from deepbasic.serialization import atomic_write

    root = os.path.join(out_dir, "architectures")
    t0 = time.perf_counter()          # quick or not: the same (about 10 s)
    rows = [measure(m, IMAGENET_INPUT, 1000) for m in IMAGENET_MODELS]
    rows += [measure(m, SMALL_INPUT, 10) for m in SMALL_MODELS]
    seconds = time.perf_counter() - t0
    plot_architectures(rows, os.path.join(root, "architectures.png"))
    with atomic_write(os.path.join(root, "table.html"), "w") as f:
        f.write(table_html(rows))
    with atomic_write(os.path.join(root, "architectures.json"), "w") as f:
        json.dump(rows, f, indent=1)

    by = {r["model"]: r for r in rows}
    numbers = [(f"{r['name']} ({'x'.join(map(str, r['input_shape']))})",
                f"{_human(r['parameters'])} parameters, {_human(r['macs'])} multiply-adds, "
                f"{r['weight_layers']} conv + linear layers, "
                f"{100 * r['linear_share']:.0f}% of the parameters in linear layers")
               for r in rows]
    numbers.append(("measured", f"{len(rows)} models built (weights left at zero: the counts "
                                f"need shapes only) and run once in {seconds:.1f} s"))
    notes = ["Multiply-adds (MACs) count the work of the convolutions and linear layers for one "
             "image (1 MAC is about 2 FLOPs), as torchinfo does; normalization, pooling and "
             "activations are left out. The ImageNet models are measured at 3x224x224 with 1000 "
             "classes, the small ones at 1x28x28 with 10."]
    if {"alexnet", "vgg16", "resnet50", "googlenet"} <= set(by):
        a, v, r50, g = by["alexnet"], by["vgg16"], by["resnet50"], by["googlenet"]
        notes.append(
            f"AlexNet and VGG-16 keep {100 * a['linear_share']:.0f}% and "
            f"{100 * v['linear_share']:.0f}% of their weights in the fully connected classifier; "
            f"GoogLeNet and the ResNets pool the last feature map to 1x1 first, so GoogLeNet "
            f"has {v['parameters'] / g['parameters']:.0f}x fewer parameters than VGG-16 and "
            f"ResNet-50 {v['macs'] / r50['macs']:.1f}x fewer multiply-adds, with 50 layers "
            f"instead of 16.")
    return ChapterResult(
        numbers=numbers,
        figures=[("architectures/architectures.png",
                  "Multiply-adds per example against parameters (log scales): one point per "
                  "architecture")],
        notes=notes + ["The same numbers as one table: architectures/table.html."],
    )


register(Chapter(
    key="architectures",
    title="Classic architectures: size and computation",
    idea=("AlexNet, VGG, GoogLeNet and ResNet trade depth, width and fully connected layers "
          "differently: the number of weights and the multiply-adds per image tell them apart, "
          "and they are not proportional."),
    command="deepbasic summary resnet50 --input 3,224,224 --depth 2",
    run=run,
))
