"""Training-step speed and memory of the CNN chapter's models, deepbasic vs PyTorch (CPU), float32.

The step: zero_grad, forward, softmax cross-entropy, backward, SGD update (momentum 0.9, weight
decay 5e-4, the same optimizer in both) for the small ConvNet (``build_model("convnet", (3, 32,
32), 10)``: two conv3x3-BN-ReLU-maxpool blocks, dropout, linear) and for ResNet-20 (the CIFAR
ResNet, 16/32/64 channels), on a batch of 64 3x32x32 images. Both libraries run in one process
with the same number of threads (``--threads``, default 2: PyTorch's intra-op threads, NumPy's
BLAS threads through threadpoolctl, deepbasic's copy threads and its deepbasic.parallel threads),
with the same weights (the deepbasic model's state dict is copied into the PyTorch model, which
is written layer for layer like it; PyTorch's ReLUs are in-place, as torchvision writes them;
the eval-mode scores of the two are compared first). After a warmup the two steps alternate
within each repeat, so a change in machine load hits both; printed: the median wall time per
step (best in brackets), the median process CPU time per step (all threads, spin-waiting
included), and the ratios deepbasic / PyTorch. On a machine shared with other jobs, the CPU
times at ``--threads 1`` are the steadiest comparison: wall times then follow the load, and
with several threads every parallel region (an OpenMP loop, a BLAS call, a split copy) may wait
for a descheduled thread, while idle threads that spin (PyTorch's OpenMP, OpenBLAS) take the
cores from the working ones (``--passive`` makes them sleep instead). How many cores are
free is probed before and after the timings (one spinning process per core, their CPU shares
summed); with less than all of them free, a multi-threaded verdict on the targets is flagged as
not valid.

Then, for each model, where the time goes, by layer type: deepbasic's op forward / backward
methods are timed (exclusive time per Function class, all instances summed, median over
``--profile-steps`` steps; ``--clock cpu`` for process CPU time), "autograd + Python" being the
rest of the step outside ops and the optimizer; PyTorch's by torch.profiler's self time of its
ops, grouped the same way, everything under the optimizer's step counted as "SGD step"
(profiling adds some overhead to both). The convolutions' achieved GFLOP/s (2 * N * F * C/G *
kH * kW * Ho * Wo per GEMM-equivalent pass: forward, weight gradient, input gradient when
needed) are printed next to the machine's single-precision GEMM rate (a 2048^3 matmul, NumPy and
PyTorch, timed here), which bounds what im2col + GEMM can reach.

Peak memory of the ResNet-20 step (``--no-memory`` skips it): each library in a fresh
subprocess (the deepbasic one does not import torch), after 3 warmup steps, 3 measured steps:

* tensor peak (the one compared): the peak over a step of the bytes allocated by the library's
  arrays / tensors minus those freed, counted from the start of the step (parameters, their
  momentum buffers and the data are live before and not counted; the gradients are, since
  zero_grad frees them). NumPy reports its data allocations to tracemalloc (the peak of
  tracemalloc.get_traced_memory after reset_peak); PyTorch's CPU allocator reports each
  allocation and free to its profiler (profile_memory=True), whose running sum is taken.
* RSS growth over the step: VmHWM (reset through /proc/self/clear_refs) minus VmRSS at the
  start of the step: the memory the step took back from the OS.
* process peak: VmHWM over the whole run minus VmRSS after the imports (before the model).

``--malloc-keep`` runs everything with glibc malloc keeping freed memory for reuse
(MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_), for both libraries.

``--deepbasic-only`` times deepbasic's step alone, without PyTorch in the process (whose idle
OpenMP threads may spin on the cores deepbasic's threads need): wall and CPU time per step.

    python benchmarks/bench_cnn_step.py [--repeats 20] [--threads 2] [--models convnet resnet20]
        [--clock wall|cpu] [--passive] [--malloc-keep] [--no-memory] [--no-breakdown] [--quick]
        [--deepbasic-only]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
from _timing import alternate, gemm_rate

BATCH, SHAPE, CLASSES = 64, (3, 32, 32), 10
LR, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 5e-4
STEP_TARGET, MEMORY_TARGET = 1.5, 2.0  # the chapter's targets: time ratio, peak memory ratio


# ----- threads -------------------------------------------------------------------------------------
def set_threads(n: int, torch_too: bool = True) -> str:
    """The same thread count for PyTorch, NumPy's BLAS and deepbasic's copies; a description."""
    import importlib

    from deepbasic import backend

    im2col = importlib.import_module("deepbasic.ops.im2col")  # the module, not ops.im2col()

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    im2col.set_copy_threads(n)
    try:  # deepbasic's other elementwise threads (optimizers), where this version has them
        importlib.import_module("deepbasic.parallel").set_num_threads(n)
    except ImportError:  # pragma: no cover
        pass
    desc = f"NumPy BLAS {backend.blas_threads()}, deepbasic copy threads {im2col.get_copy_threads()}"
    if torch_too:
        import torch

        torch.set_num_threads(n)
        desc = f"torch threads {torch.get_num_threads()}, " + desc
    return desc


# ----- the two models --------------------------------------------------------------------------
def torch_convnet():
    from torch import nn

    model = nn.Module()
    model.features = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(2, 2))
    model.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 8 * 8, 10))
    model.forward = lambda x: model.classifier(model.features(x))
    return model


def torch_resnet20():
    """torchvision-style ResNet-20 (tests/models/torch_reference.py, loaded by path)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests", "models",
                        "torch_reference.py")
    spec = importlib.util.spec_from_file_location("torch_reference", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    return ref.ResNet(ref.BasicBlock, [3, 3, 3], CLASSES, 3, widths=(16, 32, 64), small_input=True)


TORCH_MODELS = {"convnet": torch_convnet, "resnet20": torch_resnet20}


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH,) + SHAPE, dtype=np.float32)
    y = rng.integers(0, CLASSES, BATCH).astype(np.int64)
    return x, y


def deepbasic_setup(name: str, x, y):
    """(model, step function) of deepbasic."""
    import deepbasic as db
    from deepbasic import nn, optim
    from deepbasic.models import build_model

    db.manual_seed(0)
    model = build_model(name, SHAPE, CLASSES)
    model.train()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = db.tensor(x), db.tensor(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def torch_setup(name: str, x, y, weights: dict):
    """(model, step function) of PyTorch, with deepbasic's weights and buffers copied in."""
    import torch

    model = TORCH_MODELS[name]()
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}
    model.load_state_dict(state)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def db_weights(model) -> dict:
    return {k: np.array(v.data if hasattr(v, "data") else v) for k, v in model.state_dict().items()}


def check_same(name: str, db_model, t_model, x) -> float:
    """Largest difference of the two models' eval-mode scores (same weights: should be ~1e-5)."""
    import torch

    import deepbasic as db

    db_model.eval(), t_model.eval()
    with db.no_grad():
        a = db_model(db.tensor(x)).numpy()
    with torch.no_grad():
        b = t_model(torch.from_numpy(x)).numpy()
    db_model.train(), t_model.train()
    return float(np.abs(a - b).max() / max(1e-6, np.abs(b).max()))


# ----- timing --------------------------------------------------------------------------------------
# ----- where deepbasic's time goes -----------------------------------------------------------------
CATEGORY_OF_FUNCTION = {  # deepbasic Function class -> row of the breakdown
    "Conv2d": "Conv2d", "BatchNorm": "BatchNorm2d", "ReLU": "ReLU", "MaxPool2d": "MaxPool2d",
    "Add": "residual add", "Linear": "Linear + loss", "MatMul": "Linear + loss",
    "CrossEntropy": "Linear + loss", "LogSoftmax": "Linear + loss", "NLLLoss": "Linear + loss",
    "Mean": "avg pool / reshape", "Reshape": "avg pool / reshape", "AvgPool2d": "avg pool / reshape",
    "Dropout": "dropout",
}
ROWS = ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "residual add", "avg pool / reshape",
        "Linear + loss", "dropout", "other ops", "SGD step", "autograd + Python"]


def _category(cls_name: str) -> str:
    return CATEGORY_OF_FUNCTION.get(cls_name, "other ops")


class OpTimer:
    """Times every deepbasic Function's forward and backward (exclusive of nested ops) while
    installed; counts the convolutions' multiply-adds."""

    def __init__(self, clock=time.perf_counter):
        from deepbasic.tensor import Function

        self.Function, self.clock = Function, clock
        self.classes = []
        stack = [Function]
        while stack:
            c = stack.pop()
            for s in c.__subclasses__():
                self.classes.append(s)
                stack.append(s)
        self.saved = {}
        self.reset()

    def reset(self):
        self.time = defaultdict(float)  # (class name, "forward" / "backward") -> seconds
        self.calls = defaultdict(int)
        self.conv_flops = {"forward": 0.0, "backward": 0.0}
        self._stack = []

    def _wrap(self, cls, kind: str):
        orig = cls.__dict__[kind]
        timer = self

        def wrapped(fn_self, *args, **kwargs):
            if kind == "forward" and cls.__name__ == "Conv2d":
                w = args[1]  # (F, C/G, kH, kW)
            t0 = timer.clock()
            timer._stack.append(0.0)
            try:
                out = orig(fn_self, *args, **kwargs)
            finally:
                inner = timer._stack.pop()
                dt = timer.clock() - t0
                timer.time[(cls.__name__, kind)] += dt - inner
                timer.calls[(cls.__name__, kind)] += 1
                if timer._stack:
                    timer._stack[-1] += dt
            if cls.__name__ == "Conv2d":
                if kind == "forward":
                    n, f, ho, wo = out.shape
                    flops = 2.0 * n * f * w.shape[1] * w.shape[2] * w.shape[3] * ho * wo
                    fn_self._bench_flops = flops
                    timer.conv_flops["forward"] += flops
                else:
                    needs = fn_self.needs_input_grad
                    passes = int(needs[0]) + int(needs[1])
                    timer.conv_flops["backward"] += passes * getattr(fn_self, "_bench_flops", 0.0)
            return out

        return wrapped

    def __enter__(self):
        for cls in self.classes:
            for kind in ("forward", "backward"):
                if kind in cls.__dict__:
                    self.saved[(cls, kind)] = cls.__dict__[kind]
                    setattr(cls, kind, self._wrap(cls, kind))
        return self

    def __exit__(self, *exc):
        for (cls, kind), orig in self.saved.items():
            setattr(cls, kind, orig)
        self.saved.clear()
        return False


def deepbasic_breakdown(opt, step, steps: int, clock: str = "wall"):
    """Per-row median seconds over ``steps`` profiled steps, the conv FLOPs and the step time;
    ``clock`` "cpu": process CPU time instead of wall time."""
    per_step = defaultdict(list)
    flops = None
    with OpTimer(time.process_time if clock == "cpu" else time.perf_counter) as timer:
        orig_step = opt.step
        sgd_time = [0.0]

        def timed_opt_step(*a, **k):
            t0 = timer.clock()
            r = orig_step(*a, **k)
            sgd_time[0] += timer.clock() - t0
            return r

        opt.step = timed_opt_step
        try:
            step()  # warm the wrappers
            for _ in range(steps):
                timer.reset()
                sgd_time[0] = 0.0
                t0 = timer.clock()
                step()
                total = timer.clock() - t0
                rows = defaultdict(float)
                for (name, kind), t in timer.time.items():
                    cat = _category(name)
                    rows[(cat, kind)] += t
                rows[("SGD step", "")] = sgd_time[0]
                ops = sum(timer.time.values()) + sgd_time[0]
                rows[("autograd + Python", "")] = total - ops
                rows[("total", "")] = total
                for k in set(per_step) | set(rows):
                    per_step[k].append(rows.get(k, 0.0))
                flops = dict(timer.conv_flops)
        finally:
            del opt.step
    return {k: statistics.median(v) for k, v in per_step.items()}, flops


TORCH_RULES = [  # (substring of an aten op name, row), first match wins
    ("convolution", "Conv2d"), ("conv2d", "Conv2d"), ("batch_norm", "BatchNorm2d"),
    ("relu", "ReLU"), ("threshold", "ReLU"), ("clamp_min", "ReLU"), ("max_pool", "MaxPool2d"),
    ("adaptive_avg_pool", "avg pool / reshape"), ("mean", "avg pool / reshape"),
    ("linear", "Linear + loss"), ("addmm", "Linear + loss"), ("aten::mm", "Linear + loss"),
    ("softmax", "Linear + loss"), ("nll_loss", "Linear + loss"), ("cross_entropy", "Linear + loss"),
    ("dropout", "dropout"), ("bernoulli", "dropout"), ("aten::add", "residual add"),
]


def torch_breakdown(step, steps: int):
    """Per-row seconds per step of PyTorch: torch.profiler's self CPU time of each op, grouped by
    op name, everything under the optimizer's step being "SGD step"; the rest of the profiled
    step time is "autograd + Python"."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        total = (time.perf_counter() - t0) / steps
    rows = defaultdict(float)
    for ev in prof.events():
        name, parent, in_opt = ev.name.lower(), ev.cpu_parent, False
        while parent is not None and not in_opt:
            in_opt = parent.name.startswith("Optimizer.step")
            parent = parent.cpu_parent
        if in_opt or name.startswith("optimizer.step"):
            row = "SGD step"
        elif name.startswith("autograd::engine") or name.startswith("optimizer."):
            continue  # the engine's and zero_grad's bookkeeping: counted in the rest
        else:
            row = next((r for sub, r in TORCH_RULES if sub in name), "other ops")
        rows[row] += ev.self_cpu_time_total / 1e6 / steps
    rows["autograd + Python"] = total - sum(rows.values())
    rows["total"] = total
    return rows


def print_breakdown(name, db_rows, flops, t_rows, np_rate, torch_rate, clock="wall"):
    total, ttotal = db_rows[("total", "")], t_rows["total"]
    what = "process CPU" if clock == "cpu" else "wall"
    print(f"\n  {name}: where the time goes (ms per profiled step; deepbasic: {what} time in "
          f"the forward / backward of its ops; PyTorch: the profiler's self time of its ops)")
    head = (f"  {'':20s} {'db fwd':>7s} {'db bwd':>7s} {'db all':>7s} {'share':>6s}   "
            f"{'PyTorch':>7s} {'ratio':>6s}")
    print(head)
    for row in ROWS:
        f = db_rows.get((row, "forward"), 0.0)
        b = db_rows.get((row, "backward"), 0.0)
        a = f + b + db_rows.get((row, ""), 0.0)
        t = t_rows.get(row, 0.0)
        if a == 0 and t == 0:
            continue
        ratio = f"{a / t:6.2f}" if t > 1e-5 else "     -"
        fs = f"{f * 1e3:7.2f}" if (row, "forward") in db_rows else f"{'':7s}"
        bs = f"{b * 1e3:7.2f}" if (row, "backward") in db_rows else f"{'':7s}"
        print(f"  {row:20s} {fs} {bs} {a * 1e3:7.2f} {a / total:6.1%}   {t * 1e3:7.2f} {ratio}")
    print(f"  {'total (profiled)':20s} {'':7s} {'':7s} {total * 1e3:7.2f} {'':6s}   "
          f"{ttotal * 1e3:7.2f} {total / ttotal:6.2f}")
    conv_f = db_rows.get(("Conv2d", "forward"), 0.0)
    conv_b = db_rows.get(("Conv2d", "backward"), 0.0)
    tconv = t_rows.get("Conv2d", 0.0)
    all_flops = flops["forward"] + flops["backward"]
    print(f"  convolutions: {all_flops / 1e9:.2f} GFLOP per step; deepbasic "
          f"forward {flops['forward'] / conv_f / 1e9:.1f} GFLOP/s, backward "
          f"{flops['backward'] / conv_b / 1e9:.1f} GFLOP/s, together "
          f"{all_flops / (conv_f + conv_b) / 1e9:.1f} GFLOP/s = "
          f"{all_flops / (conv_f + conv_b) / 1e9 / np_rate:.0%} of NumPy's SGEMM rate "
          f"({np_rate:.0f}); PyTorch {all_flops / tconv / 1e9:.1f} GFLOP/s = "
          f"{all_flops / tconv / 1e9 / torch_rate:.0%} of its SGEMM rate ({torch_rate:.0f})")


# ----- memory (in a fresh subprocess) --------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(lib: str, name: str, threads: int) -> dict:
    """Run in a fresh process: the step's peak memory of one library (see the module doc)."""
    if lib == "torch":
        import torch  # noqa: F401
    set_threads(threads, torch_too=lib == "torch")
    x, y = make_data()
    base_rss = _status_kb("VmRSS")
    _reset_hwm()
    db_model, db_opt, db_step = deepbasic_setup(name, x, y)
    step = db_step
    if lib == "torch":
        _, _, step = torch_setup(name, x, y, db_weights(db_model))
        del db_model, db_opt, db_step
    for _ in range(3):
        step()
    rss_growth, tensor_peak = [], []
    for _ in range(3):
        start = _status_kb("VmRSS")
        ok = _reset_hwm()
        step()
        rss_growth.append((_status_kb("VmHWM") - start) * 1024 if ok else float("nan"))
    process_peak = (_status_kb("VmHWM") - base_rss) * 1024
    if lib == "numpy":
        import tracemalloc

        tracemalloc.start()
        for _ in range(3):
            tracemalloc.reset_peak()
            cur = tracemalloc.get_traced_memory()[0]
            step()
            tensor_peak.append(tracemalloc.get_traced_memory()[1] - cur)
        tracemalloc.stop()
    else:
        from torch._C._profiler import _EventType
        from torch.profiler import ProfilerActivity, profile

        for _ in range(3):
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                step()
            allocs = []
            stack = list(prof.profiler.kineto_results.experimental_event_tree())
            while stack:
                node = stack.pop()
                if node.tag == _EventType.Allocation and str(node.extra_fields.device) == "cpu":
                    allocs.append((node.start_time_ns, node.extra_fields.alloc_size))
                stack.extend(node.children)
            running = peak = 0
            for _, size in sorted(allocs):
                running += size
                peak = max(peak, running)
            tensor_peak.append(peak)
    return {"tensor_peak": min(tensor_peak), "rss_growth": statistics.median(rss_growth),
            "process_peak": process_peak}


def memory_table(name: str, threads: int) -> None:
    res = {}
    for lib in ("numpy", "torch"):
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", lib, name,
               "--threads", str(threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        res[lib] = json.loads(out.strip().splitlines()[-1])
    mb = 1 << 20
    print(f"\nPeak memory of one {name} training step (batch {BATCH}, float32; fresh subprocess "
          f"per library, after 3 warmup steps):")
    for key, label in (("tensor_peak", "tensor peak over the step (tracemalloc / torch profiler)"),
                       ("rss_growth", "RSS peak growth over the step (VmHWM - VmRSS) *"),
                       ("process_peak", "process peak RSS - RSS before the model")):
        a, b = res["numpy"][key] / mb, res["torch"][key] / mb
        ratio = f"{a / b:5.2f}" if b > 0.05 and key != "rss_growth" else "    -"
        print(f"  {label:58s} deepbasic {a:7.1f} MiB   PyTorch {b:7.1f} MiB   ratio {ratio}")
    ratio = res["numpy"]["tensor_peak"] / res["torch"]["tensor_peak"]
    print(f"  target tensor peak deepbasic / PyTorch <= {MEMORY_TARGET}: "
          f"{'met' if ratio <= MEMORY_TARGET else 'NOT met'} ({ratio:.2f})")
    print("  * what the step took back from the OS: memory that malloc returned at the end of the "
          "previous step and page-faults in again (not a peak: a warm allocator that keeps its "
          "freed memory shows ~0)")


# ----- main ----------------------------------------------------------------------------------------
ENV_PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}
ENV_MALLOC_KEEP = {"MALLOC_TRIM_THRESHOLD_": "4294967296", "MALLOC_MMAP_THRESHOLD_": "4294967296",
                   "MALLOC_TOP_PAD_": "268435456"}
ENV_SHOWN = ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT", "MALLOC_TRIM_THRESHOLD_",
             "MALLOC_MMAP_THRESHOLD_")


_SPIN = ("import time\nt = time.perf_counter(); c = time.process_time()\n"
         "while time.perf_counter() - t < 0.5: pass\n"
         "print((time.process_time() - c) / (time.perf_counter() - t))")


def available_cores(cores: int) -> float:
    """How many cores this process can have now: ``cores`` processes spin for 0.5 s side by side
    and their shares of a core are summed (about ``cores`` on an idle machine)."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True)
             for _ in range(cores)]
    total = 0.0
    for p in procs:
        out, _ = p.communicate()
        try:
            total += float(out.strip())
        except ValueError:
            pass
    return total


def _reexec_with(env_add: dict) -> None:
    """Restart this script with ``env_add`` in the environment (they must be set before NumPy's
    OpenBLAS, PyTorch's OpenMP and glibc's malloc read them), unless they are set already."""
    if all(os.environ.get(k) == v for k, v in env_add.items()):
        return
    env = dict(os.environ, **env_add)
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def deepbasic_alone(models, threads: int, repeats: int) -> None:
    """Median wall and CPU time of deepbasic's step, PyTorch never imported."""
    desc = set_threads(threads, torch_too=False)
    print(f"deepbasic alone: batch {BATCH} x {SHAPE}, float32; {desc}; median of {repeats}")
    x, y = make_data()
    for name in models:
        step = deepbasic_setup(name, x, y)[2]
        cpu: dict = {}
        wall = alternate({"db": step}, repeats, cpu=cpu)
        print(f"  {name:9s} wall {1e3 * statistics.median(wall['db']):7.1f} ms "
              f"(best {1e3 * min(wall['db']):7.1f})   CPU {1e3 * statistics.median(cpu['db']):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["convnet", "resnet20"],
                        choices=sorted(TORCH_MODELS))
    parser.add_argument("--profile-steps", type=int, default=5)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="deepbasic's breakdown in wall or process CPU time (PyTorch's is "
                             "the profiler's, wall)")
    parser.add_argument("--passive", action="store_true",
                        help="idle threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE "
                             "for PyTorch, OPENBLAS_THREAD_TIMEOUT=4 for NumPy): on a machine "
                             "busy with other jobs, spinning threads take the cores from the "
                             "working ones")
    parser.add_argument("--malloc-keep", action="store_true",
                        help="glibc malloc keeps freed memory (MALLOC_TRIM_THRESHOLD_, "
                             "MALLOC_MMAP_THRESHOLD_) instead of returning it to the OS and "
                             "page-faulting it in again, for both libraries")
    parser.add_argument("--deepbasic-only", action="store_true",
                        help="time deepbasic's step alone, without PyTorch in the process")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 2 profiled steps")
    parser.add_argument("--memory-child", nargs=2, metavar=("LIB", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(*args.memory_child, args.threads)))
        return
    env_add = dict(ENV_PASSIVE if args.passive else {}, **(ENV_MALLOC_KEEP if args.malloc_keep
                                                           else {}))
    if env_add:
        _reexec_with(env_add)
    repeats = 3 if args.quick else args.repeats
    psteps = 2 if args.quick else args.profile_steps
    if args.deepbasic_only:
        deepbasic_alone(args.models, args.threads, repeats)
        return

    import torch  # noqa: F401

    threads = set_threads(args.threads)
    np_rate, torch_rate = gemm_rate(3 if args.quick else 5)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env = ", ".join(f"{k}={os.environ[k]}" for k in ENV_SHOWN if k in os.environ) or "none set"
    print(f"CNN training step, batch {BATCH} x {SHAPE}, float32, SGD momentum {MOMENTUM} "
          f"(wd {WEIGHT_DECAY}); {threads}; median of {repeats} (best in brackets); "
          f"load average {load:.2f} on {cores} cores; environment: {env}")
    avail = available_cores(cores)
    busy = avail < cores - 0.3
    print(f"  available now: {avail:.1f} of {cores} cores ({cores} spinning processes' summed "
          f"CPU shares)")
    if busy:
        print("  note: the machine is busy with other jobs: wall times move a lot, and with "
              "several threads each parallel region (an OpenMP loop, a BLAS call, a split copy) "
              "may wait for a descheduled thread; the CPU-time columns at --threads 1 are the "
              "steadier comparison (see also --passive)")
    print(f"single-precision GEMM 2048^3: NumPy {np_rate:.1f} GFLOP/s, PyTorch {torch_rate:.1f} "
          f"GFLOP/s")
    print(f"  {'':9s} {'wall ms: deepbasic':>20s} {'PyTorch':>17s} {'ratio':>5s}   "
          f"{'CPU ms: deepbasic':>17s} {'PyTorch':>7s} {'ratio':>5s}")
    results, ratios = {}, {}
    for name in args.models:
        x, y = make_data()
        db_model, db_opt, db_step = deepbasic_setup(name, x, y)
        t_model, t_opt, t_step = torch_setup(name, x, y, db_weights(db_model))
        err = check_same(name, db_model, t_model, x)
        cpu = {}
        t = alternate({"db": db_step, "torch": t_step}, repeats, cpu=cpu)
        results[name] = (db_opt, db_step, t_step)
        a, b = statistics.median(t["db"]), statistics.median(t["torch"])
        ca, cb = statistics.median(cpu["db"]), statistics.median(cpu["torch"])
        ratios[name] = (a / b, ca / cb)
        print(f"  {name:9s} {a * 1e3:7.1f} ({min(t['db']) * 1e3:7.1f}) {b * 1e3:7.1f} "
              f"({min(t['torch']) * 1e3:7.1f}) {a / b:5.2f}   {ca * 1e3:17.1f} {cb * 1e3:7.1f} "
              f"{ca / cb:5.2f}   (scores agree to {err:.1e})")
    print("  (CPU ms: the process's CPU time per step, all its threads, spinning included)")
    avail_after = available_cores(cores)
    print(f"  available after the timings: {avail_after:.1f} of {cores} cores")
    busy = busy or avail_after < cores - 0.3
    caveat = (" -- the machine is busy and several threads were used: not a valid verdict, "
              "rerun when it is idle or with --threads 1" if busy and args.threads > 1 else "")
    for name, (ratio, cpu_ratio) in ratios.items():
        print(f"  target deepbasic / PyTorch <= {STEP_TARGET}: {name} "
              f"{'met' if ratio <= STEP_TARGET else 'NOT met'} in wall time ({ratio:.2f}), "
              f"{'met' if cpu_ratio <= STEP_TARGET else 'NOT met'} in CPU time ({cpu_ratio:.2f})"
              f"{caveat}")
    if not args.no_breakdown:
        for name, (db_opt, db_step, t_step) in results.items():
            db_rows, flops = deepbasic_breakdown(db_opt, db_step, psteps, args.clock)
            t_rows = torch_breakdown(t_step, psteps)
            print_breakdown(name, db_rows, flops, t_rows, np_rate, torch_rate, args.clock)
    if not args.no_memory and "resnet20" in args.models:
        memory_table("resnet20", args.threads)


if __name__ == "__main__":
    main()
