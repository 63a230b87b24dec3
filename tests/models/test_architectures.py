"""The classic architectures: torchvision's parameter counts, torchvision's names (weights exported
from PyTorch in safetensors load and give the same outputs), shapes, and the summary table."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file as torch_save_file

import deepbasic as db
from deepbasic import models
from deepbasic.models import build_model, summary
from deepbasic.models.pretrained import load_pretrained
from deepbasic.nn import StateDictError

import torch_reference as ref

# torchvision's counts at 224x224 and 1000 classes (GoogLeNet without the auxiliary heads)
PARAMETER_COUNTS = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


@pytest.mark.parametrize("name", list(PARAMETER_COUNTS))
def test_parameter_counts_equal_torchvision(name):
    model = build_model(name, (3, 224, 224), 1000)
    assert model.num_parameters() == PARAMETER_COUNTS[name]


def _export_and_load(torch_model, ours, tmp_path):
    path = tmp_path / "exported.safetensors"
    state = {k: v.detach().contiguous() for k, v in torch_model.state_dict().items()}
    torch_save_file(state, str(path))
    load_pretrained(ours, str(path))
    return path


def _randomize_batchnorm(torch_model, seed=0):
    """Non-trivial running statistics and affine parameters, so eval mode tests them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


CASES = {
    "resnet18": (lambda: ref.ResNet(ref.BasicBlock, [2, 2, 2, 2], 10),
                 lambda: models.resnet18(10), (2, 3, 64, 64)),
    "resnet50": (lambda: ref.ResNet(ref.Bottleneck, [3, 4, 6, 3], 10),
                 lambda: models.resnet50(10), (1, 3, 64, 64)),
    "resnet20": (lambda: ref.ResNet(ref.BasicBlock, [3, 3, 3], 10, 3, (16, 32, 64), True),
                 lambda: models.resnet20(10), (2, 3, 32, 32)),
    "vgg16": (lambda: ref.vgg(models.vgg.CONFIGS["D"], 10, hidden=64),
              lambda: models.vgg16(10, hidden=64), (2, 3, 32, 32)),
    "vgg11_bn": (lambda: ref.vgg(models.vgg.CONFIGS["A"], 10, batch_norm=True, hidden=32),
                 lambda: models.VGG("A", 10, batch_norm=True, hidden=32), (2, 3, 32, 32)),
    "alexnet": (lambda: ref.alexnet(10), lambda: models.AlexNet(10), (2, 3, 64, 64)),
    "googlenet": (lambda: ref.GoogLeNet(10), lambda: models.GoogLeNet(10), (1, 3, 64, 64)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_weights_exported_from_pytorch_load_and_agree(case, tmp_path):
    make_torch, make_ours, shape = CASES[case]
    torch.manual_seed(0)
    theirs = make_torch().eval()
    _randomize_batchnorm(theirs)
    ours = make_ours().eval()
    theirs_keys = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours_keys = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert ours_keys == theirs_keys
    _export_and_load(theirs, ours, tmp_path)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    with db.no_grad():
        got = ours(db.tensor(x)).numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, atol=2e-4 * scale + 1e-5, rtol=1e-3)


def test_load_pretrained_can_skip_a_classifier_of_another_size(tmp_path):
    torch.manual_seed(0)
    theirs = ref.ResNet(ref.BasicBlock, [2, 2, 2, 2], 1000)
    path = tmp_path / "r18.safetensors"
    torch_save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(path))
    ours = models.resnet18(5)
    with pytest.raises(StateDictError, match="fc.weight"):
        load_pretrained(ours, str(path))
    load_pretrained(ours, str(path), exclude=("fc.",))
    np.testing.assert_array_equal(ours.conv1.weight.numpy(), theirs.conv1.weight.detach().numpy())
    assert ours.fc.weight.shape == (5, 512)


def test_small_variants_forward_shapes():
    x = db.tensor(np.zeros((2, 1, 28, 28), dtype=np.float32))
    for name in ("threelayer", "convnet", "vgg-small", "resnet20"):
        model = build_model(name, (1, 28, 28), 10)
        assert model(x).shape == (2, 10), name
    assert build_model("convnet", (1, 28, 28), 10).num_parameters() < 100_000
    assert 250_000 < build_model("resnet20", (3, 32, 32), 10).num_parameters() < 300_000


def test_googlenet_auxiliary_heads_in_training_mode_only():
    model = models.GoogLeNet(7, aux_logits=True)
    x = db.tensor(np.zeros((2, 3, 64, 64), dtype=np.float32))
    out = model(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 7)] * 3
    model.eval()
    assert model(x).shape == (2, 7)


def test_image_models_reject_flat_input_shapes():
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        build_model("resnet20", (784,), 10)


def test_summary_counts_resnet18_like_torchinfo():
    s = summary(models.resnet18(1000), (3, 224, 224))
    assert s.total_params == 11_689_512
    assert sum(r.params for r in s.rows) == s.total_params
    # torchinfo: 1.81 G mult-adds for ResNet-18 at 224x224
    assert abs(s.total_macs - 1.814e9) / 1.814e9 < 0.01
    assert s.output_shape == (1, 1000)
    text = str(s)
    assert "layer4" in text and "11,689,512" in text and "1.8" in text


def test_summary_of_a_small_convnet_lists_every_layer():
    model = build_model("convnet", (1, 28, 28), 10)
    s = summary(model, (1, 28, 28), depth=2)
    conv = s.rows[0]
    assert conv.kind == "Conv2d" and conv.output_shape == (1, 32, 28, 28)
    assert conv.macs == 32 * 28 * 28 * 9
    assert model.training  # restored
