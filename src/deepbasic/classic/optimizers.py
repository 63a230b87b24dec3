"""Optimizers compared on one convex problem: full-batch softmax regression with an L2 penalty.

The problem: rows x_i (D,) (images flattened and standardized), labels y_i in 0..C-1, weights
W (C, D) and b (C,)::

    L(W, b) = 1/N sum_i -log softmax(W x_i + b)[y_i]  +  reg * sum W^2

is convex and smooth, so every method heads for the same minimum and the curves compare speed
alone. Each method starts from the same W (``weight_scale * N(0, 1)``, seeded) and b = 0 and
takes the same number of iterations on the full training set (no minibatch noise):

* ``sgd``, ``momentum`` (0.9), ``nesterov`` (0.9), ``adagrad``, ``rmsprop``, ``adam``: one
  iteration = one loss-and-gradient evaluation on all N examples and one update
  (``optimizer.step()``).
* ``lbfgs`` (:class:`deepbasic.optim.LBFGS`, strong-Wolfe line search): one iteration = one
  quasi-Newton update = one ``step(closure)`` with ``max_iter=1``: the evaluations of its line
  search (usually one, at most 25), plus one at the very start. The loss and gradient at the
  point where a step begins were computed by the previous step's line search, so the closure
  hands those back instead of computing them again (as one long ``step()`` would reuse them).
  The history counts the evaluations actually computed (``evals``); the wall-time panel of
  :func:`plot_optimizer_comparison` is the fair comparison.

    from deepbasic.classic.optimizers import compare_optimizers, plot_optimizer_comparison
    hist = compare_optimizers(x_train, y_train, iterations=100, x_test=x_test, y_test=y_test)
    plot_optimizer_comparison(hist, "optimizers.png")
"""
from __future__ import annotations

import math
import time

import numpy as np

METHODS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "lbfgs")

# Learning rates for full-batch softmax regression on standardized pixels, picked from a coarse
# grid (factors of about 2-3) on 5000 Fashion-MNIST images, 100 iterations, reg 1e-3: values that
# bring the loss down steadily (the SGD family falls at every iteration; Adagrad and RMSprop
# have a small bump in the first iterations). Other data may want others: pass ``lrs``.
DEFAULT_LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.03,
              "rmsprop": 0.001, "adam": 0.01, "lbfgs": 1.0}


def make_optimizer(method: str, params, lr: float | None = None, history_size: int = 20):
    """The deepbasic optimizer ``method`` (one of :data:`METHODS`) over ``params``; ``lr`` None
    takes :data:`DEFAULT_LR`."""
    from deepbasic import optim

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    lr = DEFAULT_LR[method] if lr is None else lr
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"the learning rate of {method} must be a positive number, got {lr!r}")
    if method == "sgd":
        return optim.SGD(params, lr=lr)
    if method in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=method == "nesterov")
    if method == "adagrad":
        return optim.Adagrad(params, lr=lr)
    if method == "rmsprop":
        return optim.RMSprop(params, lr=lr)
    if method == "adam":
        return optim.Adam(params, lr=lr)
    # one quasi-Newton update per step(); up to 1 + 25 evaluations (25: the line search's cap)
    return optim.LBFGS(params, lr=lr, max_iter=1, max_eval=26, history_size=history_size,
                       line_search_fn="strong_wolfe")


def _rows(x, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{what} must have shape (N, D) or (N, C, H, W) with N >= 1, got shape "
                         f"{x.shape}")
    return x.reshape(len(x), -1)


def compare_optimizers(x, y, *, reg: float = 1e-3, iterations: int = 100, methods=METHODS,
                       lrs: dict | None = None, seed: int = 0, x_test=None, y_test=None,
                       dtype="float64", weight_scale: float = 1e-3, lbfgs_history: int = 20,
                       verbose: bool = False) -> dict:
    """Train the same softmax regression with each method; returns ``{method: history}``.

    x: (N, D) or (N, C, H, W) images, y: (N,) labels (any values; mapped to 0..C-1 by
    ``np.unique``). Inputs are standardized with the training statistics (minus the mean image,
    divided by one global std), as :class:`~deepbasic.classic.LinearClassifier` does.
    reg: the L2 penalty on W. iterations: per method (see the module docstring for what one
    iteration is). lrs: ``{method: lr}`` overriding :data:`DEFAULT_LR`. dtype: of the parameters
    and data (float64 default: the curves go down to where float32 would round). x_test,
    y_test: optional, for the test accuracy.

    Each history is a dict:
        ``loss``: (iterations + 1) losses L(w_k), k = 0 (the start) .. iterations;
        ``seconds``: (iterations + 1) cumulative wall time at w_k (``seconds[0] = 0``);
        ``iteration_seconds``: (iterations) the time of each iteration;
        ``evals``: (iterations + 1) cumulative loss-and-gradient evaluations to reach w_k;
        ``lr``, ``final_loss``, ``total_seconds``, ``total_evals``, ``train_accuracy``,
        ``test_accuracy`` (None without test data), ``diverged`` (the loss became inf / nan:
        the run stopped there and the lists are shorter).
    """
    import deepbasic as db
    from deepbasic.nn import Parameter
    from deepbasic.nn import functional as F

    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty selection of {', '.join(METHODS)}, got "
                         f"{list(methods)}")
    lrs = dict(lrs or {})
    bad = [m for m in lrs if m not in METHODS]
    if bad:
        raise ValueError(f"lrs has unknown methods {bad}; known: {', '.join(METHODS)}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not (isinstance(reg, (int, float)) and reg >= 0):
        raise ValueError(f"reg must be a number >= 0, got {reg!r}")
    dtype = np.dtype(dtype)
    X = _rows(x, "x").astype(dtype)
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},) to match x, got {y.shape}")
    classes, yi = np.unique(y, return_inverse=True)
    mean = X.mean(axis=0)
    scale = float((X - mean).std()) or 1.0
    Xs = (X - mean) / dtype.type(scale)
    N, D = Xs.shape
    C = len(classes)
    xt, yt = db.tensor(Xs), db.tensor(yi.astype(np.int64))
    w_init = (weight_scale * np.random.default_rng(seed).standard_normal((C, D))).astype(dtype)

    def predict(W, b, rows):
        return classes[np.argmax(rows @ W.T + b, axis=1)]

    results = {}
    for method in methods:
        W = Parameter(db.tensor(w_init.copy()))
        b = Parameter(db.tensor(np.zeros(C, dtype=dtype)))
        opt = make_optimizer(method, [W, b], lrs.get(method), history_size=lbfgs_history)
        lr = opt.param_groups[0]["lr"]

        counter = [0]  # loss-and-gradient evaluations actually computed
        seen: list = []  # L-BFGS: the points evaluated during the previous step()

        def closure():
            if seen:  # the start of an L-BFGS step: its line search may have been here already
                for Wc, bc, value, gW, gb in seen:
                    if np.array_equal(W.data, Wc) and np.array_equal(b.data, bc):
                        W.grad, b.grad = gW.copy(), gb.copy()
                        return value
            opt.zero_grad()
            loss = F.cross_entropy(F.linear(xt, W, b), yt)
            if reg > 0:
                loss = loss + reg * (W * W).sum()
            loss.backward()
            counter[0] += 1
            if method == "lbfgs":
                trials.append((W.data.copy(), b.data.copy(), float(loss), W.grad.copy(),
                               b.grad.copy()))
            return loss

        losses, seconds, evals, per_iter = [], [0.0], [0], []
        diverged = False
        trials: list = []
        for _ in range(int(iterations)):
            t0 = time.perf_counter()
            before = counter[0]
            if method == "lbfgs":
                loss = float(opt.step(closure))
                seen[:], trials[:] = trials, []
            else:
                loss = float(closure())
                opt.step()
            spent = counter[0] - before
            dt = time.perf_counter() - t0
            losses.append(loss)  # L(w_k), computed by this iteration on its way to w_{k+1}
            if not math.isfinite(loss):
                diverged = True
                break
            per_iter.append(dt)
            seconds.append(seconds[-1] + dt)
            evals.append(evals[-1] + spent)
        if not diverged:
            with db.no_grad():  # L(w_T), outside the timed loop
                final = F.cross_entropy(F.linear(xt, W, b), yt)
                final = float(final) + (reg * float((W.data * W.data).sum()) if reg > 0 else 0.0)
            losses.append(final)
            diverged = not math.isfinite(final)
        Wn, bn = W.data, b.data
        hist = {
            "method": method, "lr": lr, "loss": losses, "seconds": seconds[:len(losses)],
            "iteration_seconds": per_iter, "evals": evals[:len(losses)],
            "final_loss": losses[-1], "total_seconds": seconds[len(losses) - 1],
            "total_evals": evals[len(losses) - 1], "diverged": diverged,
            "train_accuracy": float(np.mean(predict(Wn, bn, Xs) == y)),
            "test_accuracy": None,
        }
        if x_test is not None:
            Xt = (_rows(x_test, "x_test").astype(dtype) - mean) / dtype.type(scale)
            hist["test_accuracy"] = float(np.mean(predict(Wn, bn, Xt) == np.asarray(y_test)))
        results[method] = hist
        if verbose:
            acc = (f"  test acc {hist['test_accuracy']:.4f}" if hist["test_accuracy"] is not None
                   else "")
            print(f"{method:9s} lr {lr:<7g} loss {hist['final_loss']:.5f}  "
                  f"{hist['total_seconds']:6.2f} s  {hist['total_evals']:4d} evals{acc}"
                  + ("  (diverged)" if diverged else ""))
    return results


def comparison_table(histories: dict) -> str:
    """The histories as a text table: method, lr, final loss, seconds, evaluations, accuracies."""
    lines = [f"{'method':10s} {'lr':>8s} {'final loss':>11s} {'seconds':>8s} {'evals':>6s} "
             f"{'train acc':>9s} {'test acc':>8s}"]
    for m, h in histories.items():
        test = f"{h['test_accuracy']:.4f}" if h.get("test_accuracy") is not None else "-"
        loss = f"{h['final_loss']:.5f}" if not h["diverged"] else "diverged"
        lines.append(f"{m:10s} {h['lr']:8g} {loss:>11s} {h['total_seconds']:8.2f} "
                     f"{h['total_evals']:6d} {h['train_accuracy']:9.4f} {test:>8s}")
    return "\n".join(lines)


def plot_optimizer_comparison(histories: dict, path: str,
                              title: str = "softmax regression, full batch") -> str:
    """One figure, two panels: training loss vs iteration and vs wall-clock seconds (log y),
    one line per method of ``histories`` (from :func:`compare_optimizers`). Saved as PNG."""
    from deepbasic.train.plots import _pyplot, _save

    if not histories:
        raise ValueError("plot_optimizer_comparison: no histories to plot")
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for i, (method, h) in enumerate(histories.items()):
        loss = np.asarray(h["loss"], dtype=np.float64)
        label = f"{method} (lr {h['lr']:g})"
        style = dict(color=f"C{i % 10}", lw=2.0 if method == "lbfgs" else 1.4, label=label)
        ax1.plot(np.arange(len(loss)), loss, **style)
        ax2.plot(np.asarray(h["seconds"], dtype=np.float64)[:len(loss)], loss, **style)
    ax1.set(xlabel="iteration (L-BFGS: one quasi-Newton update)", ylabel="training loss",
            yscale="log", title="loss vs iteration")
    ax2.set(xlabel="wall time (s)", yscale="log", title="loss vs time")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
    ax1.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
