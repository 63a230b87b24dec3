"""Chapter: backpropagation, checked. Autograd derivatives of activations against centered differences."""
from __future__ import annotations

import os

import numpy as np

from deepbasic.report.chapters import Chapter, ChapterResult, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import deepbasic as db
    from deepbasic.nn import functional as F
    from deepbasic.train.plots import _pyplot, _save

    functions = {
        "sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.1), "elu": F.elu, "softplus": F.softplus,
    }
    xs = np.linspace(-4, 4, 401)
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.2), sharex=True)
    numbers = []
    rng = np.random.default_rng(0)
    for ax, (name, fn) in zip(axes.ravel(), functions.items()):
        x = db.tensor(xs, dtype="float64", requires_grad=True)
        y = fn(x)
        y.sum().backward()
        ax.plot(xs, y.numpy(), label=f"{name}(x)")
        ax.plot(xs, x.grad, label="d/dx by backprop", linestyle="--")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        probe = db.tensor(rng.uniform(-3, 3, 50) + 0.01, dtype="float64", requires_grad=True)
        check = db.gradcheck(fn, [probe], raise_exception=False)
        numbers.append((f"gradcheck {name}: largest abs error", f"{check.max_abs_error:.1e}"))
    fig.tight_layout()
    _save(fig, os.path.join(out_dir, "activations.png"))
    a = db.tensor(rng.standard_normal((4, 5)), dtype="float64", requires_grad=True)
    w = db.tensor(rng.standard_normal((5, 3)), dtype="float64", requires_grad=True)
    t = db.tensor([0, 2, 1, 2])
    check = db.gradcheck(lambda a, w: F.cross_entropy((a @ w).tanh(), t), [a, w])
    numbers.append(("gradcheck of a two-layer network with cross-entropy: largest abs error",
                    f"{check.max_abs_error:.1e}"))
    return ChapterResult(numbers=numbers, figures=[
        ("activations.png", "Activation functions and the derivatives autograd computes for them")])


register(Chapter(
    key="backprop",
    title="Backpropagation, checked",
    idea=("Every op records how to pass a gradient back (the chain rule, one local derivative at a "
          "time); backward() walks the graph in reverse. Each derivative is checked against "
          "centered finite differences in float64."),
    command="make test   (every op, layer and loss: gradcheck and PyTorch parity)",
    run=run,
))
