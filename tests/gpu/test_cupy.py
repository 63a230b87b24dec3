"""The CuPy path: every layer of the CNN chapter, a loss, the optimizers and whole training steps
give on the GPU what they give with NumPy on the CPU (float32; CuPy's kernels sum in other orders,
so the tolerances are float32's). Skipped where CuPy sees no GPU; the CPU-only behaviour of
``cpu()`` / ``cuda()`` is tested at the end.
"""
import numpy as np
import pytest

import deepbasic as db
from deepbasic import backend, nn, optim
from deepbasic.models import build_model
from deepbasic.serialization import load_state_dict, save_state_dict

gpu = pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a GPU")
RTOL, ATOL = 2e-4, 2e-5


def close(a, b, rtol=RTOL, atol=ATOL):
    a = a.numpy() if isinstance(a, db.Tensor) else backend.to_numpy(a)
    b = b.numpy() if isinstance(b, db.Tensor) else backend.to_numpy(b)
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale)


def on_gpu(a) -> bool:
    """Whether a tensor, or a gradient (an array), lives on the GPU."""
    return backend.get_array_module(a.data if isinstance(a, db.Tensor) else a) is not np


def both(make_layer):
    """The same layer (same weights) on the CPU and on the GPU."""
    db.manual_seed(0)
    cpu = make_layer()
    gpu_layer = make_layer()
    gpu_layer.load_state_dict(cpu.state_dict())
    return cpu, gpu_layer.cuda()


LAYERS = {  # name -> (layer factory, input shape)
    "conv 3x3 pad 1": (lambda: nn.Conv2d(4, 6, 3, padding=1), (5, 4, 9, 9)),
    "conv strided dilated": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2),
                             (5, 4, 11, 10)),
    "conv grouped": (lambda: nn.Conv2d(4, 8, 3, padding="same", groups=2), (3, 4, 7, 7)),
    "conv 1x1": (lambda: nn.Conv2d(4, 8, 1), (3, 4, 6, 6)),
    "conv large batch": (lambda: nn.Conv2d(16, 32, 3, padding=1), (256, 16, 32, 32)),
    "conv transpose": (lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
                       (2, 4, 5, 5)),
    "max pool 2x2": (lambda: nn.MaxPool2d(2, 2), (3, 4, 8, 8)),
    "max pool 3x3 stride 2 pad 1": (lambda: nn.MaxPool2d(3, 2, padding=1), (3, 4, 9, 9)),
    "avg pool": (lambda: nn.AvgPool2d(3, 2, padding=1), (3, 4, 9, 9)),
    "adaptive avg pool": (lambda: nn.AdaptiveAvgPool2d((3, 2)), (3, 4, 7, 5)),
    "batch norm 2d": (lambda: nn.BatchNorm2d(4), (6, 4, 5, 5)),
    "batch norm 1d": (lambda: nn.BatchNorm1d(7), (6, 7)),
    "layer norm": (lambda: nn.LayerNorm(7), (6, 7)),
    "local response norm": (lambda: nn.LocalResponseNorm(3), (2, 6, 4, 4)),
    "upsample nearest": (lambda: nn.Upsample(scale_factor=2, mode="nearest"), (2, 3, 4, 5)),
    "upsample bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 5)),
    "linear": (lambda: nn.Linear(7, 5), (6, 7)),
    "relu": (lambda: nn.ReLU(), (4, 9)),
    "leaky relu": (lambda: nn.LeakyReLU(0.1), (4, 9)),
    "elu": (lambda: nn.ELU(), (4, 9)),
    "tanh": (lambda: nn.Tanh(), (4, 9)),
    "sigmoid": (lambda: nn.Sigmoid(), (4, 9)),
    "softplus": (lambda: nn.Softplus(), (4, 9)),
    "log softmax": (lambda: nn.LogSoftmax(dim=1), (4, 9)),
    "flatten": (lambda: nn.Flatten(), (2, 3, 4, 5)),
}


@gpu
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_forward_and_backward_match_numpy(name):
    make, shape = LAYERS[name]
    cpu, dev = both(make)
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal(shape, dtype=np.float32)
    x = db.tensor(x_np, requires_grad=True)
    xg = db.tensor(x_np, requires_grad=True).cuda()
    y, yg = cpu(x), dev(xg)
    assert on_gpu(yg) and yg.device == "cuda" and yg.shape == y.shape and yg.dtype == y.dtype
    close(yg, y)
    g = rng.standard_normal(y.shape, dtype=np.float32)
    y.backward(db.tensor(g))
    yg.backward(db.tensor(g).cuda())
    assert on_gpu(xg.grad)
    close(xg.grad, x.grad)
    for (pname, p), (_, pg) in zip(cpu.named_parameters(), dev.named_parameters()):
        assert pg.grad is not None and on_gpu(pg.grad), pname
        close(pg.grad, p.grad)
    for (bname, b), (_, bg) in zip(cpu.named_buffers(), dev.named_buffers()):
        close(bg, b)  # running statistics


@gpu
def test_max_pool_indices_and_unpool_match_numpy():
    rng = np.random.default_rng(2)
    x_np = rng.standard_normal((2, 3, 8, 8), dtype=np.float32)
    pool, unpool = nn.MaxPool2d(2, 2, return_indices=True), nn.MaxUnpool2d(2, 2)
    y, idx = pool(db.tensor(x_np))
    yg, idxg = pool(db.tensor(x_np).cuda())
    np.testing.assert_array_equal(idxg.numpy(), idx.numpy())
    close(unpool(yg, idxg), unpool(y, idx))


@gpu
def test_losses_match_numpy():
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((8, 5), dtype=np.float32)
    target = rng.integers(0, 5, 8)
    for loss_fn in (nn.CrossEntropyLoss(), nn.MultiClassHingeLoss()):
        s, sg = db.tensor(scores, requires_grad=True), db.tensor(scores, requires_grad=True).cuda()
        loss, lossg = loss_fn(s, db.tensor(target)), loss_fn(sg, db.tensor(target).cuda())
        close(lossg, loss)
        loss.backward(), lossg.backward()
        close(sg.grad, s.grad)
    x = rng.standard_normal((8, 5), dtype=np.float32)
    for loss_fn in (nn.MSELoss(), nn.L1Loss()):
        close(loss_fn(db.tensor(scores).cuda(), db.tensor(x).cuda()),
              loss_fn(db.tensor(scores), db.tensor(x)))


@gpu
def test_dropout_on_the_gpu_keeps_the_expected_share_and_scales():
    x = db.ones(64, 32, 8, 8, requires_grad=True, device="cuda")
    for layer, p in ((nn.Dropout(0.3), 0.3), (nn.Dropout2d(0.5), 0.5)):
        layer.train()
        y = layer(x)
        assert on_gpu(y)
        kept = y.numpy() != 0
        assert abs(kept.mean() - (1 - p)) < 0.03
        np.testing.assert_allclose(y.numpy()[kept], 1 / (1 - p), rtol=1e-6)
        y.sum().backward()
        np.testing.assert_array_equal(backend.to_numpy(x.grad) != 0, kept)
        x.grad = None


@gpu
@pytest.mark.parametrize("model_name,opt_name", [("resnet20", "sgd"), ("resnet20", "adam"),
                                                 ("mlp", "adam")])
def test_training_steps_match_numpy(model_name, opt_name):
    """In float64, so that the two devices' different summation orders stay far below what a
    wrong gradient or update would show (in float32 Adam turns the rounding noise of tiny
    gradients into steps of size lr, and batch norm amplifies differences over steps)."""
    shape = (3, 32, 32) if model_name == "resnet20" else (1, 8, 8)
    db.manual_seed(0)
    cpu = build_model(model_name, shape, 10).double()
    dev = build_model(model_name, shape, 10).double()
    dev.load_state_dict(cpu.state_dict())
    dev.cuda()

    def make_opt(m):
        if opt_name == "sgd":
            return optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                             weight_decay=5e-4)
        return optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-4)

    opt, optg = make_opt(cpu), make_opt(dev)
    rng = np.random.default_rng(4)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        x_np = rng.standard_normal((16,) + shape)
        y_np = rng.integers(0, 10, 16)
        losses = []
        for model, o, move in ((cpu, opt, lambda t: t), (dev, optg, lambda t: t.cuda())):
            o.zero_grad()
            loss = loss_fn(model(move(db.tensor(x_np))), move(db.tensor(y_np)))
            loss.backward()
            o.step()
            losses.append(loss.item())
        assert abs(losses[0] - losses[1]) < 1e-10 * max(1.0, abs(losses[0]))
    for (name, p), (_, pg) in zip(cpu.named_parameters(), dev.named_parameters()):
        assert on_gpu(pg) and pg.dtype == np.float64, name
        close(pg, p, rtol=1e-8, atol=1e-10)


@gpu
def test_a_gpu_model_saves_to_host_arrays_and_loads_back(tmp_path):
    db.manual_seed(0)
    model = build_model("convnet", (1, 28, 28), 10).cuda()
    state = model.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    save_state_dict(model, str(tmp_path / "convnet.safetensors"))
    other = build_model("convnet", (1, 28, 28), 10)
    load_state_dict(other, str(tmp_path / "convnet.safetensors"))
    x = db.randn(2, 1, 28, 28)
    model.eval(), other.eval()
    close(model(x.cuda()), other(x))
    assert other.cuda().cpu() is other and next(other.parameters()).device == "cpu"


def test_cpu_returns_a_host_tensor_and_module_unchanged():
    t = db.tensor([1.0, 2.0], requires_grad=True)
    assert t.cpu() is t and t.cpu().device == "cpu"
    m = nn.Linear(2, 3)
    assert m.cpu() is m and m.weight.device == "cpu"


@pytest.mark.skipif(backend.cupy_available(), reason="CuPy with a GPU is present")
def test_cuda_without_cupy_is_a_clear_error():
    with pytest.raises(RuntimeError, match="needs CuPy"):
        db.tensor([1.0]).cuda()
    with pytest.raises(RuntimeError, match="needs CuPy"):
        nn.Linear(2, 3).cuda()


@gpu
def test_trainer_on_the_gpu_matches_the_cpu_and_saves_the_same_checkpoint(tmp_path):
    from deepbasic.data.loader import DataLoader
    from deepbasic.train.checkpoint import load_checkpoint
    from deepbasic.train.trainer import Trainer

    rng = np.random.default_rng(5)
    x = rng.standard_normal((256, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(axis=(1, 2)) > 0).astype(np.int64)
    histories = {}
    for device in ("cpu", "cuda"):
        db.manual_seed(0)
        model = build_model("threelayer", (1, 8, 8), 2).double()
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        trainer = Trainer(model, nn.CrossEntropyLoss(), opt, out_dir=tmp_path / device,
                          progress=False, verbose=False, device=device)
        loader = DataLoader((x.astype(np.float64), y), batch_size=64, shuffle=True, seed=0)
        histories[device] = trainer.fit(loader, DataLoader((x[:64].astype(np.float64), y[:64]),
                                                           batch_size=64), epochs=2)
        assert on_gpu(next(model.parameters())) == (device == "cuda")
    for a, b in zip(histories["cpu"], histories["cuda"]):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-9
        assert abs(a["val_loss"] - b["val_loss"]) < 1e-9
    cpu_ckpt = load_checkpoint(str(tmp_path / "cpu" / "last.safetensors"))
    gpu_ckpt = load_checkpoint(str(tmp_path / "cuda" / "last.safetensors"))
    for k, v in cpu_ckpt.model.items():
        np.testing.assert_allclose(gpu_ckpt.model[k], v, rtol=1e-9, atol=1e-12)


@gpu
def test_train_classifier_on_the_gpu(tmp_path):
    from deepbasic.train.recipes import train_classifier

    r = train_classifier("convnet", "digits", epochs=2, lr=3e-3, out_dir=str(tmp_path),
                         progress=False, verbose=False, device="cuda")
    assert r["device"] == "cuda" and r["test_accuracy"] > 0.8


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd dampening wd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1,
                                             weight_decay=1e-2),
    "sgd nesterov maximize": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                                  maximize=True),
    "adam wd": lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
    "adam maximize": lambda ps: optim.Adam(ps, lr=1e-2, maximize=True),
    "adam amsgrad": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
}


@gpu
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_match_numpy(name):
    """Every optimizer's update on the GPU (fused kernels for SGD with momentum and Adam) equals
    the CPU's in float64, and its state dict holds host arrays that load back."""
    rng = np.random.default_rng(6)
    start = rng.standard_normal((7, 5))
    grads = [rng.standard_normal((7, 5)) for _ in range(4)]
    results = {}
    for device in ("cpu", "cuda"):
        p = nn.Parameter(db.tensor(start, dtype="float64").to(device).data)
        opt = OPTIMIZERS[name]([p])
        for g in grads:
            p.grad = backend.device_module(device).asarray(g)
            opt.step()
        results[device] = (p, opt)
    (p_cpu, opt_cpu), (p_gpu, opt_gpu) = results["cpu"], results["cuda"]
    assert on_gpu(p_gpu)
    close(p_gpu, p_cpu, rtol=1e-12, atol=1e-12)
    state = opt_gpu.state_dict()
    for entry in state["state"].values():
        assert all(not hasattr(v, "shape") or isinstance(v, np.ndarray) for v in entry.values())
    fresh = OPTIMIZERS[name]([nn.Parameter(db.tensor(start, dtype="float64").data)])
    fresh.load_state_dict(state)
    loaded = fresh.state_dict()["state"]
    for key, value in opt_cpu.state_dict()["state"].get(0, {}).items():
        if hasattr(value, "shape"):
            np.testing.assert_allclose(loaded[0][key], value, rtol=1e-12, atol=1e-12)
