"""``deepbasic summary`` (registered here as the lead will): the table, its numbers against
references computed by hand and by the torch models of torch_reference.py, and its errors."""
from __future__ import annotations

import re

import pytest
import torch

import deepbasic.cli as cli
from deepbasic.init import skip_init
from deepbasic.models import build_model, summary

import torch_reference as ref


@pytest.fixture(autouse=True)
def commands(monkeypatch):
    names = [n for n in ("deepbasic.commands.summary",) if n not in cli.COMMAND_MODULES]
    monkeypatch.setattr(cli, "COMMAND_MODULES", list(cli.COMMAND_MODULES) + names)


def _totals(out: str) -> tuple[int, int]:
    """(total parameters, multiply-adds) from the printed table."""
    params = int(re.search(r"total parameters:\s+([\d,]+)", out).group(1).replace(",", ""))
    macs = int(re.search(r"multiply-adds:.*\(([\d,]+)\)", out).group(1).replace(",", ""))
    return params, macs


def _vgg16_macs_by_hand(side: int = 224, classes: int = 1000) -> int:
    """3x3 'same' convolutions: H W C_in C_out 9 each; 2x2 pooling after each stage; then the
    classifier on 512x7x7 (adaptive pooling to 7x7): 25088x4096, 4096x4096, 4096xclasses."""
    macs, c = 0, 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            macs += side * side * c * width * 9
            c = width
        side //= 2
    return macs + 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * classes


def test_small_convnet_table_matches_hand_counts(capsys):
    assert cli.main(["summary", "convnet", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("convnet, input 1x28x28")      # the small models' default input
    # conv 1->32 3x3 at 28x28, conv 32->64 3x3 at 14x14, Linear 64*7*7 -> 10
    macs = 32 * 28 * 28 * 9 + 64 * 14 * 14 * 32 * 9 + 64 * 7 * 7 * 10
    params = 32 * 9 + 2 * 32 + 64 * 32 * 9 + 2 * 64 + 64 * 7 * 7 * 10 + 10
    assert _totals(out) == (params, macs)
    assert "features.4 (Conv2d)" in out and "64x7x7" in out and "classifier.2 (Linear)" in out


def test_resnet18_default_imagenet_input_like_torchinfo(capsys):
    assert cli.main(["summary", "resnet18", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("resnet18, input 3x224x224")
    params, macs = _totals(out)
    assert params == 11_689_512
    assert abs(macs - 1.814e9) / 1.814e9 < 0.005            # torchinfo: 1.81 G
    assert "layer4 (Sequential)" in out and "512x7x7" in out
    assert "layer4.0" not in out                             # --depth 1 folds the blocks


def test_options_change_the_model(capsys):
    assert cli.main(["summary", "resnet18", "--input", "1,64,64", "--classes", "7",
                     "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "input 1x64x64" in out
    params, macs = _totals(out)
    assert params == 11_689_512 - 2 * 64 * 49 - 993 * 513    # 1 input channel, 7 classes
    assert "fc (Linear)" in out and re.search(r"fc \(Linear\)\s+7\s", out)
    assert cli.main(["summary", "mlp", "--input", "784", "--classes", "10"]) == 0
    params, macs = _totals(capsys.readouterr().out)
    assert params == build_model("mlp", (784,), 10).num_parameters()


def _torch_leaf_counts(model, shape):
    """{leaf module name: (output shape without the batch dim, multiply-adds)} of a torch model
    on one zero example: Conv2d C_out H_out W_out (C_in / groups) kH kW, Linear in * out."""
    counts, handles = {}, []
    for name, m in model.named_modules():
        if name and not list(m.children()):
            def hook(m, args, out, name=name):
                macs = 0
                if isinstance(m, torch.nn.Conv2d):
                    macs = out[0].numel() * m.weight[0].numel()
                elif isinstance(m, torch.nn.Linear):
                    macs = out[0].numel() * m.in_features
                old = counts.get(name, (None, 0))[1]
                counts[name] = (tuple(out.shape[1:]), old + macs)
            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(torch.zeros((1,) + shape))
    for h in handles:
        h.remove()
    return counts


@pytest.mark.parametrize("name,make_torch,expected_gmacs", [
    ("alexnet", lambda: ref.alexnet(1000), 0.714),           # torchinfo's numbers at 224
    ("googlenet", lambda: ref.GoogLeNet(1000), 1.50),
    ("resnet50", lambda: ref.ResNet(ref.Bottleneck, [3, 4, 6, 3], 1000), 4.09),
])
def test_layer_shapes_and_macs_equal_the_torch_models(name, make_torch, expected_gmacs):
    shape = (3, 224, 224)
    theirs = _torch_leaf_counts(make_torch(), shape)
    with skip_init():                                       # weights do not matter here
        model = build_model(name, shape, 1000)
    s = summary(model, shape, depth=99)
    ours = {r.name: (tuple(r.output_shape[1:]), r.macs) for r in s.rows}
    weighted = {k for k, (_, macs) in theirs.items() if macs}
    assert weighted and weighted <= set(ours)
    for key in weighted:
        assert ours[key] == theirs[key], key
    assert s.total_macs == sum(macs for _, macs in theirs.values())
    assert abs(s.total_macs / 1e9 - expected_gmacs) / expected_gmacs < 0.01


def test_vgg16_at_224_matches_the_hand_count(capsys):
    """The one big model (building VGG-16's 138M parameters takes several seconds)."""
    assert cli.main(["summary", "vgg16", "--depth", "1"]) == 0
    params, macs = _totals(capsys.readouterr().out)
    assert params == 138_357_544
    assert macs == _vgg16_macs_by_hand()
    assert abs(macs - 15.47e9) / 15.47e9 < 0.002            # torchinfo: 15.47 G


@pytest.mark.parametrize("argv,messages", [
    (["alexnet", "--input", "3,32,32"],
     ["alexnet cannot take an input of 3x32x32: layer features.12 (MaxPool2d) failed: "
      "max_pool2d: input of size 1x1 is too small",
      "the smallest square input it takes is 3x63x63"]),
    (["googlenet", "--input", "3,8,8"], ["layer maxpool3 (MaxPool2d) failed",
                                         "the smallest square input it takes is 3x15x15"]),
    (["convnet", "--input", "1,2,2"], ["cannot build convnet for input 1x2x2"]),
    (["resnet18", "--input", "3,224"], ["must be (C, H, W), got (3, 224)"]),
    ([], ["expected a model name (mlp, threelayer"]),
    (["--checkpoint", "no/such.safetensors"], ["no checkpoint at no/such.safetensors"]),
])
def test_user_errors_are_one_line(argv, messages, capsys):
    assert cli.main(["summary"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepbasic: error: ") and err.count("\n") == 1
    for message in messages:
        assert message in err


@pytest.mark.parametrize("argv,message", [
    (["resnet18", "--input", "3,0,224"], "expected an input shape C,H,W of positive sizes"),
    (["resnet18", "--input", "three"], "expected an input shape C,H,W like 3,224,224"),
    (["resnet18", "--depth", "0"], "expected a positive integer, got 0"),
    (["lenet"], "invalid choice: 'lenet'"),
])
def test_bad_arguments_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["summary"] + argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_checkpoint_of_a_training_run(tmp_path, capsys):
    from deepbasic.train.recipes import train_classifier

    run = tmp_path / "run"
    train_classifier("convnet", "digits", epochs=1, batch_size=256, out_dir=str(run),
                     model_kwargs={"channels": [4, 8]}, progress=False, verbose=False)
    ckpt = str(run / "last.safetensors")
    assert cli.main(["summary", "--checkpoint", ckpt, "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"convnet from {ckpt} (epoch 1, digits), input 1x8x8")
    # conv 1->4 at 8x8, conv 4->8 at 4x4, Linear 8*2*2 -> 10 classes
    assert _totals(out)[1] == 4 * 64 * 9 + 8 * 16 * 4 * 9 + 8 * 4 * 10
    assert cli.main(["summary", "convnet", "--checkpoint", ckpt]) == 0
    capsys.readouterr()
    for argv, message in [
        (["resnet18", "--checkpoint", ckpt], f"{ckpt} holds a convnet model, not resnet18"),
        (["--checkpoint", ckpt, "--classes", "3"], "--classes does not apply to --checkpoint"),
        (["--checkpoint", ckpt, "--input", "1,16,16"],
         "the checkpoint's model was trained on inputs 1x8x8"),
    ]:
        assert cli.main(["summary"] + argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_skip_init_builds_without_drawing_random_weights():
    import numpy as np

    from deepbasic import backend, init, nn

    backend.manual_seed(3)
    expected = backend.generator().standard_normal(4)
    backend.manual_seed(3)
    with init.skip_init():
        with init.skip_init():                         # nests
            conv = nn.Conv2d(3, 8, 3)
        bn = nn.BatchNorm2d(8)
        model = build_model("resnet18", (3, 32, 32), 10)
    np.testing.assert_array_equal(backend.generator().standard_normal(4), expected)
    assert not conv.weight.numpy().any() and not conv.bias.numpy().any()
    assert (bn.weight.numpy() == 1).all()               # constant fills still happen
    assert model.num_parameters() == 11_689_512 - 990 * 513
    assert not model.conv1.weight.numpy().any()          # still skipping after the inner block
    assert nn.Linear(4, 4).weight.numpy().any()         # switched off after the block
