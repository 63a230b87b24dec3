"""The FCN: output shapes for every upsampling choice, clear errors, gradients, the loss."""
import numpy as np
import pytest

from deepbasic import backend, nn
from deepbasic.gradcheck import gradcheck
from deepbasic.models.fcn import FCN, UPSAMPLE_CHOICES, UpStep, segmentation_loss
from deepbasic.tensor import Tensor

SMALL = (4, 6, 8, 8)


def _images(n, h, w, seed=0):
    return Tensor(np.random.default_rng(seed).random((n, 3, h, w), dtype=np.float32))


@pytest.mark.parametrize("upsample", UPSAMPLE_CHOICES)
@pytest.mark.parametrize("hw", [(16, 16), (24, 32)])
def test_scores_have_the_input_resolution(upsample, hw):
    backend.manual_seed(0)
    model = FCN(7, channels=SMALL, upsample=upsample)
    out = model(_images(2, *hw))
    assert out.shape == (2, 7) + hw
    pred = model.predict(_images(2, *hw).data)
    assert pred.shape == (2,) + hw and pred.dtype == np.int64


def test_each_choice_uses_its_layers():
    kinds = {u: {type(m) for m in FCN(3, channels=SMALL, upsample=u).modules()}
             for u in UPSAMPLE_CHOICES}
    assert nn.MaxUnpool2d in kinds["unpool"] and nn.MaxUnpool2d not in kinds["transpose"]
    assert nn.Upsample in kinds["bilinear"] and nn.ConvTranspose2d not in kinds["bilinear"]
    assert nn.ConvTranspose2d in kinds["transpose"] and nn.Upsample not in kinds["transpose"]
    # the step mirroring the stride-2 convolution has no indices: a transposed conv in unpool mode
    assert FCN(3, channels=SMALL, upsample="unpool").up3.mode == "transpose"
    for u in UPSAMPLE_CHOICES:   # both kinds of downsampling in every variant
        m = FCN(3, channels=SMALL, upsample=u)
        assert isinstance(m.pool1, nn.MaxPool2d) and m.stage3[0][0].stride == (2, 2)


def test_unpool_puts_values_where_the_maxima_were():
    """With identity-like weights, an unpooled map is nonzero only at pooled argmax positions."""
    backend.manual_seed(0)
    model = FCN(3, channels=SMALL, upsample="unpool").eval()
    x = _images(1, 16, 16)
    s0 = model.stage0(x)
    _, i1 = model.pool1(s0)
    up = model.up1(Tensor(np.ones((1, SMALL[1], 8, 8), np.float32)), i1)
    nz = np.flatnonzero(up.data[0, 0] != 0)
    assert set(nz) <= set(i1.data[0, 0].ravel())


@pytest.mark.parametrize("upsample", UPSAMPLE_CHOICES)
@pytest.mark.parametrize("skips", [True, False])
def test_every_parameter_gets_a_gradient(upsample, skips):
    backend.manual_seed(1)
    model = FCN(5, channels=SMALL, upsample=upsample, skips=skips)
    x = _images(2, 16, 16)
    y = Tensor(np.random.default_rng(0).integers(0, 5, (2, 16, 16)))
    segmentation_loss(model(x), y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad).all(), name
    assert np.abs(model.stage0[0][0].weight.grad).sum() > 0


@pytest.mark.parametrize("hw", [(20, 16), (16, 12), (4, 4)])
def test_sizes_not_divisible_by_8_are_refused(hw):
    model = FCN(3, channels=SMALL)
    with pytest.raises(ValueError, match="multiples of 8"):
        model(_images(1, *hw))


def test_bad_inputs_and_options_say_what_was_expected():
    model = FCN(3, channels=SMALL)
    with pytest.raises(ValueError, match=r"expected images \(N, 3, H, W\)"):
        model(Tensor(np.zeros((1, 1, 16, 16), np.float32)))
    with pytest.raises(ValueError, match="upsample must be one of"):
        FCN(3, upsample="nearest")
    with pytest.raises(ValueError, match="four positive widths"):
        FCN(3, channels=(8, 8))
    with pytest.raises(ValueError, match="num_classes"):
        FCN(1)
    with pytest.raises(ValueError, match="indices"):
        UpStep(4, 2, "unpool")(Tensor(np.zeros((1, 4, 2, 2), np.float32)))


def test_segmentation_loss_value_and_gradient():
    rng = np.random.default_rng(0)
    scores = Tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    masks = Tensor(rng.integers(0, 3, (2, 2, 2)))
    s = scores.data
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    want = -np.mean(np.take_along_axis(logp, masks.data[:, None], axis=1))
    assert segmentation_loss(scores, masks).item() == pytest.approx(want, rel=1e-10)
    assert gradcheck(lambda t: segmentation_loss(t, masks), [scores])


def test_matches_torch_cross_entropy_over_pixels():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    s = rng.standard_normal((2, 4, 3, 5))
    m = rng.integers(0, 4, (2, 3, 5))
    scores = Tensor(s, requires_grad=True)
    loss = segmentation_loss(scores, Tensor(m))
    loss.backward()
    ts = torch.tensor(s, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(ts, torch.tensor(m))
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-10)
    np.testing.assert_allclose(scores.grad, ts.grad.numpy(), rtol=1e-8, atol=1e-12)
