"""deepbasic on a GPU (CuPy) beside PyTorch CUDA: the CNN chapter's layers and training steps,
float32, in one process.

Rows (each checked against PyTorch on the same device first, with the same weights and data):

* Conv2d forward, and forward + backward, for bench_conv.py's shapes;
* MaxPool2d 2x2 and 3x3 stride 2, and BatchNorm2d in training mode, forward + backward on
  x: (64, 64, 32, 32), as in bench_pool_norm.py;
* a whole training step (zero_grad, forward, cross-entropy, backward, SGD with momentum 0.9 and
  weight decay 5e-4) of the small ConvNet and of ResNet-20, as in bench_cnn_step.py, at batch 64
  and at ``--big-batch`` (default 512), where the GPU has enough work to hide the launches.

Every timed call ends with a device synchronize, so a row is the time until the GPU has finished.
The two libraries alternate within each repeat; printed: median ms (best in brackets) and the
ratio deepbasic / PyTorch. PyTorch's TF32 is switched off (CuPy's float32 GEMMs do not use it
unless CUPY_TF32=1) so that both do the same float32 arithmetic; ``--tf32`` allows it in both.
The GPU's float32 GEMM rate (4096^3, CuPy and PyTorch) is printed as the bound for the
convolutions. The first lines say what ran where; any case that fails prints its error and the
others go on.

``--device cpu`` runs the same script with NumPy and PyTorch CPU (a dry run of the script).

``--breakdown STEPS`` then prints where the host's time goes, op by op, in the ResNet-20 and
ConvNet steps at batch 64 (on a GPU, mostly the cost of launching each op's kernels).

    python benchmarks/bench_cuda.py [--repeats 30] [--big-batch 512] [--tf32] [--device cuda|cpu]
        [--only conv pool steps] [--breakdown STEPS]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import traceback

import numpy as np
from _timing import alternate
from bench_cnn_step import CLASSES, LR, MOMENTUM, SHAPE, TORCH_MODELS, WEIGHT_DECAY, db_weights
from bench_conv import CASES as CONV_CASES


class Devices:
    """The device of each library and how to wait for it."""

    def __init__(self, device: str, tf32: bool):
        import torch

        self.name = device
        self.torch_device = torch.device(device)
        if device == "cuda":
            import cupy

            self.cupy = cupy
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cudnn.benchmark = True
        else:
            self.cupy = None

    def sync(self):
        if self.cupy is not None:
            import torch

            self.cupy.cuda.Device().synchronize()
            torch.cuda.synchronize()

    def timed(self, fn):
        """``fn`` followed by a synchronize of both libraries' work."""
        def run():
            fn()
            self.sync()
        return run

    def db(self, array, requires_grad=False):
        import deepbasic as db

        return db.tensor(array, requires_grad=requires_grad).to(self.name)

    def torch(self, array, requires_grad=False):
        import torch

        t = torch.from_numpy(np.array(array)).to(self.torch_device)
        return t.requires_grad_(requires_grad) if requires_grad else t


def host(a) -> np.ndarray:
    """The values of a deepbasic tensor, a torch tensor or an array (a gradient), on the host."""
    import torch

    import deepbasic as db
    from deepbasic import backend

    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return a.numpy() if isinstance(a, db.Tensor) else backend.to_numpy(a)


def rel_err(a, b) -> float:
    a, b = host(a), host(b)
    return float(np.abs(a - b).max() / max(1e-6, np.abs(b).max()))


def gemm_rates(dev: Devices, repeats: int, n: int = 4096):
    """float32 GEMM GFLOP/s of deepbasic's array module (CuPy / NumPy) and of PyTorch."""
    import torch

    from deepbasic import backend

    xp = backend.device_module(dev.name)
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    a, ta = xp.asarray(a_np), dev.torch(a_np)
    t = alternate({"db": dev.timed(lambda: a @ a), "torch": dev.timed(lambda: ta @ ta)},
                  repeats, warmup=2)
    flops = 2.0 * n ** 3
    del torch
    return flops / statistics.median(t["db"]) / 1e9, flops / statistics.median(t["torch"]) / 1e9


# ----- the rows ------------------------------------------------------------------------------------
def conv_rows(dev: Devices):
    """(name, flops per pass, check errors, {pass: (db fn, torch fn, passes)}) per conv shape."""
    import torch

    from deepbasic.nn.layers.conv import Conv2d

    rows = []
    for name, N, C, H, W, F, k, s, p in CONV_CASES:
        rng = np.random.default_rng(0)
        x_np = rng.standard_normal((N, C, H, W), dtype=np.float32)
        tconv = torch.nn.Conv2d(C, F, k, s, p)
        conv = Conv2d(C, F, k, s, p)
        conv.load_state_dict({k_: v.detach().numpy().copy() for k_, v in tconv.state_dict().items()})
        conv.to(dev.name), tconv.to(dev.torch_device)
        x, tx = dev.db(x_np, True), dev.torch(x_np, True)
        out, tout = conv(x), tconv(tx)
        g_np = rng.standard_normal(tuple(tout.shape), dtype=np.float32)
        g, tg = dev.db(g_np), dev.torch(g_np)
        out.backward(g), tout.backward(tg)
        errs = {"y": rel_err(out, tout), "dx": rel_err(x.grad, tx.grad),
                "dw": rel_err(conv.weight.grad, tconv.weight.grad)}

        def db_step(conv=conv, x=x, g=g):
            conv.zero_grad()
            x.grad = None
            conv(x).backward(g)

        def torch_step(tconv=tconv, tx=tx, tg=tg):
            tconv.zero_grad()
            tx.grad = None
            tconv(tx).backward(tg)

        flops = 2.0 * N * F * C * k * k * tout.shape[2] * tout.shape[3]
        label = f"Conv2d {name} ({N},{C},{H}x{W}->{F})"
        rows.append((label, flops, errs, {
            "forward": (lambda conv=conv, x=x: conv(x), lambda tconv=tconv, tx=tx: tconv(tx), 1),
            "fwd+bwd": (db_step, torch_step, 3)}))
    return rows


def pool_norm_rows(dev: Devices):
    import torch

    from deepbasic.nn.layers.normalization import BatchNorm2d
    from deepbasic.nn.layers.pooling import MaxPool2d

    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((64, 64, 32, 32), dtype=np.float32)
    x, tx = dev.db(x_np, True), dev.torch(x_np, True)
    layers = [(f"MaxPool2d {k}x{k} stride 2", MaxPool2d(k, 2), torch.nn.MaxPool2d(k, 2))
              for k in (2, 3)]
    layers.append(("BatchNorm2d train", BatchNorm2d(64).to(dev.name),
                   torch.nn.BatchNorm2d(64).to(dev.torch_device)))
    rows = []
    for label, m, tm in layers:
        out, tout = m(x), tm(tx)
        g_np = rng.standard_normal(tuple(tout.shape), dtype=np.float32)
        g, tg = dev.db(g_np), dev.torch(g_np)
        x.grad, tx.grad = None, None
        out.backward(g), tout.backward(tg)
        errs = {"y": rel_err(out, tout), "dx": rel_err(x.grad, tx.grad)}

        def db_step(m=m, g=g):
            x.grad = None
            m.zero_grad()
            m(x).backward(g)

        def torch_step(tm=tm, tg=tg):
            tx.grad = None
            tm.zero_grad()
            tm(tx).backward(tg)

        rows.append((label, 0.0, errs, {"fwd+bwd": (db_step, torch_step, 0)}))
    return rows


def step_rows(dev: Devices, batches):
    import torch

    import deepbasic as db
    from deepbasic import nn, optim
    from deepbasic.models import build_model

    rows = []
    for name in ("convnet", "resnet20"):
        for batch in batches:
            rng = np.random.default_rng(2)
            x_np = rng.standard_normal((batch,) + SHAPE, dtype=np.float32)
            y_np = rng.integers(0, CLASSES, batch).astype(np.int64)
            db.manual_seed(0)
            model = build_model(name, SHAPE, CLASSES)
            tmodel = TORCH_MODELS[name]()
            tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in db_weights(model).items()})
            model.to(dev.name), tmodel.to(dev.torch_device)
            x, y, tx, ty = dev.db(x_np), dev.db(y_np), dev.torch(x_np), dev.torch(y_np)
            model.eval(), tmodel.eval()
            with db.no_grad():
                out = model(x)
            with torch.no_grad():
                tout = tmodel(tx)
            errs = {"eval scores": rel_err(out, tout)}
            model.train(), tmodel.train()
            opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
            topt = torch.optim.SGD(tmodel.parameters(), lr=LR, momentum=MOMENTUM,
                                   weight_decay=WEIGHT_DECAY)
            loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()

            def db_step(model=model, opt=opt, x=x, y=y, loss_fn=loss_fn):
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                return loss

            def torch_step(tmodel=tmodel, topt=topt, tx=tx, ty=ty, tloss_fn=tloss_fn):
                topt.zero_grad()
                loss = tloss_fn(tmodel(tx), ty)
                loss.backward()
                topt.step()
                return loss

            if name == "resnet20":  # no dropout: the first step's loss must agree
                errs["first loss"] = rel_err(db_step(), torch_step())
            rows.append((f"{name} training step, batch {batch}", 0.0, errs,
                         {"step": (db_step, torch_step, 0)}))
    return rows


def host_breakdown(dev: Devices, name: str, batch: int, steps: int) -> None:
    """Where the host's time goes in deepbasic's training step (bench_cnn_step's op timer, wall
    time, no synchronize inside the step): on a GPU each op's time is mostly what it costs to
    launch its kernels, so a step whose total exceeds the GPU's work is bound by these rows."""
    import deepbasic as db
    from bench_cnn_step import ROWS, deepbasic_breakdown
    from deepbasic import nn, optim
    from deepbasic.models import build_model

    rng = np.random.default_rng(2)
    db.manual_seed(0)
    model = build_model(name, SHAPE, CLASSES).to(dev.name)
    x = dev.db(rng.standard_normal((batch,) + SHAPE, dtype=np.float32))
    y = dev.db(rng.integers(0, CLASSES, batch).astype(np.int64))
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        dev.sync()

    rows, _ = deepbasic_breakdown(opt, step, steps)
    print(f"{name} step, batch {batch}: host ms per step by op (forward / backward), median of "
          f"{steps}; total {rows[('total', '')] * 1e3:.2f} ms including the final synchronize")
    for row in ROWS:
        f, b = rows.get((row, "forward"), 0.0), rows.get((row, "backward"), 0.0)
        other = rows.get((row, ""), 0.0)
        if f + b + other > 0:
            print(f"  {row:20s} {f * 1e3:7.2f} {b * 1e3:7.2f} {(f + b + other) * 1e3:7.2f}")


# ----- running -------------------------------------------------------------------------------------
def run_rows(dev: Devices, make_rows, repeats: int) -> None:
    try:
        rows = make_rows()
    except Exception:  # report and go on with the other groups
        print(f"FAILED while building {make_rows.__name__}:")
        traceback.print_exc(file=sys.stdout)
        return
    for label, flops, errs, passes in rows:
        check = ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
        bad = any(v > 1e-3 for v in errs.values())
        print(f"{label}   [vs PyTorch: {check}{'  MISMATCH' if bad else ''}]")
        for pname, (db_fn, t_fn, npass) in passes.items():
            try:
                t = alternate({"db": dev.timed(db_fn), "torch": dev.timed(t_fn)}, repeats)
            except Exception:
                print(f"  {pname}: FAILED")
                traceback.print_exc(file=sys.stdout)
                continue
            a, b = statistics.median(t["db"]), statistics.median(t["torch"])
            rate = (f"  {npass * flops / a / 1e9:8.0f} {npass * flops / b / 1e9:8.0f} GFLOP/s"
                    if flops else "")
            print(f"  {pname:8s} {a * 1e3:8.2f} ({min(t['db']) * 1e3:8.2f}) "
                  f"{b * 1e3:8.2f} ({min(t['torch']) * 1e3:8.2f}) {a / b:6.2f}{rate}")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--big-batch", type=int, default=512)
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in both libraries")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--only", choices=["conv", "pool", "steps"], nargs="*",
                        default=["conv", "pool", "steps"])
    parser.add_argument("--breakdown", type=int, default=0, metavar="STEPS",
                        help="then time the host's work per op in the ResNet-20 and ConvNet "
                             "steps at batch 64 over this many steps")
    args = parser.parse_args()
    if args.tf32:
        os.environ["CUPY_TF32"] = "1"  # read by CuPy when it first runs a GEMM

    import torch

    from deepbasic import backend

    dev = Devices(args.device, args.tf32)
    if args.device == "cuda":
        if not backend.cupy_available():
            sys.exit("bench_cuda: CuPy with a GPU is needed for --device cuda")
        cp = dev.cupy
        props = cp.cuda.runtime.getDeviceProperties(0)
        print(f"GPU {props['name'].decode()}, CuPy {cp.__version__} (CUDA runtime "
              f"{cp.cuda.runtime.runtimeGetVersion()}), PyTorch {torch.__version__} "
              f"(cuDNN {torch.backends.cudnn.version()}), TF32 {'on' if args.tf32 else 'off'}")
    else:
        print(f"CPU dry run: NumPy {np.__version__}, PyTorch {torch.__version__}")
    t0 = time.perf_counter()
    db_rate, t_rate = gemm_rates(dev, max(3, args.repeats // 3))
    print(f"float32 GEMM 4096^3: deepbasic's array module {db_rate:8.0f} GFLOP/s, PyTorch "
          f"{t_rate:8.0f} GFLOP/s")
    print(f"median of {args.repeats} (best in brackets), ms: deepbasic, PyTorch, ratio")
    groups = {"conv": lambda: conv_rows(dev), "pool": lambda: pool_norm_rows(dev),
              "steps": lambda: step_rows(dev, sorted({64, args.big_batch}))}
    for key in args.only:
        groups[key].__name__ = f"{key} rows"
        run_rows(dev, groups[key], args.repeats)
    for name in ("resnet20", "convnet") if args.breakdown else ():
        host_breakdown(dev, name, 64, args.breakdown)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
