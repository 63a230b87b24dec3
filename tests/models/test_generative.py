"""Generative models: autoencoder, VAE (reparameterization, KL, ELBO), DCGAN step, PixelCNN masks."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic.data import load_dataset
from deepbasic.gradcheck import gradcheck
from deepbasic.models import generative as g
from deepbasic.optim import Adam


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_reparameterize_gradient_matches_formula():
    rng = np.random.default_rng(0)
    mu = db.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    logvar = db.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    eps = rng.standard_normal((5, 3))
    up = rng.standard_normal((5, 3))
    z = g.reparameterize(mu, logvar, db.tensor(eps))
    np.testing.assert_allclose(z.numpy(), mu.numpy() + np.exp(0.5 * logvar.numpy()) * eps)
    z.backward(db.tensor(up))
    # dz/dmu = 1, dz/dlogvar = 0.5 * eps * exp(0.5 logvar), times the upstream gradient
    np.testing.assert_allclose(mu.grad, up, rtol=1e-12)
    np.testing.assert_allclose(logvar.grad, up * 0.5 * eps * np.exp(0.5 * logvar.numpy()),
                               rtol=1e-12)


def test_reparameterize_draws_from_the_gaussian():
    db.manual_seed(0)
    mu = db.tensor(np.full((20000, 2), [1.5, -2.0]))
    logvar = db.tensor(np.full((20000, 2), np.log([0.25, 4.0])))
    z = g.reparameterize(mu, logvar).numpy()
    np.testing.assert_allclose(z.mean(axis=0), [1.5, -2.0], atol=0.05)
    np.testing.assert_allclose(z.var(axis=0), [0.25, 4.0], rtol=0.05)
    with pytest.raises(ValueError, match="shape"):
        g.reparameterize(mu, logvar[:, :1])


def test_kl_matches_closed_form_numeric_integral_and_gradcheck():
    mu, logvar = np.array([[0.7, -1.2]]), np.array([[-0.5, 0.8]])
    kl = g.gaussian_kl(db.tensor(mu), db.tensor(logvar)).numpy()
    # numeric: KL = integral q log(q / p) dz, per dimension, on a fine grid
    t = np.linspace(-15, 15, 200001)
    total = 0.0
    for m, lv in zip(mu[0], logvar[0]):
        s = np.exp(0.5 * lv)
        logq = -0.5 * ((t - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
        logp = -0.5 * t ** 2 - 0.5 * np.log(2 * np.pi)
        total += np.trapezoid(np.exp(logq) * (logq - logp), t)
    np.testing.assert_allclose(kl, [total], rtol=1e-6)
    assert g.gaussian_kl(db.zeros(3, 4, dtype="float64"), db.zeros(3, 4, dtype="float64")).numpy() \
        == pytest.approx(np.zeros(3))
    a = db.tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    b = db.tensor(np.random.default_rng(2).standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(g.gaussian_kl, [a, b])


def test_vae_loss_is_bce_plus_kl_per_example():
    rng = np.random.default_rng(3)
    logits, x = rng.standard_normal((4, 1, 8, 8)), rng.random((4, 1, 8, 8))
    mu, logvar = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    loss, rec, kl = g.vae_loss(db.tensor(logits), db.tensor(x), db.tensor(mu), db.tensor(logvar))
    p = 1 / (1 + np.exp(-logits))
    want_rec = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(4, -1).sum(1)
    want_kl = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar).sum(1)
    np.testing.assert_allclose(rec.numpy(), want_rec, rtol=1e-9)
    np.testing.assert_allclose(kl.numpy(), want_kl, rtol=1e-12)
    assert loss.item() == pytest.approx((want_rec + want_kl).mean())
    _, rec_g, _ = g.vae_loss(db.tensor(logits), db.tensor(x), db.tensor(mu), db.tensor(logvar),
                             likelihood="gaussian")
    np.testing.assert_allclose(rec_g.numpy(), 0.5 * ((x - p) ** 2).reshape(4, -1).sum(1))
    with pytest.raises(ValueError, match="likelihood"):
        g.vae_loss(db.tensor(logits), db.tensor(x), db.tensor(mu), db.tensor(logvar), "poisson")


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_shapes(shape):
    x = db.rand(3, *shape)
    ae = g.ConvAutoencoder(shape, latent=6, channels=(4, 8))
    assert ae(x).shape == (3,) + shape and ae.encode(x).shape == (3, 6)
    vae = g.VAE(shape, latent=2, channels=(4, 8))
    logits, mu, logvar = vae(x)
    assert logits.shape == (3,) + shape and mu.shape == (3, 2) and logvar.shape == (3, 2)
    assert vae.sample(5).shape == (5,) + shape
    G, D = g.DCGANGenerator(shape, 7, (4, 8)), g.DCGANDiscriminator(shape, (4, 8))
    assert G(db.randn(3, 7)).shape == (3,) + shape and D(x).shape == (3,)
    with pytest.raises(ValueError, match="divisible by 4"):
        g.VAE((1, 10, 10))
    with pytest.raises(ValueError, match="expected images"):
        ae(db.rand(3, 1, 12, 12))


def test_elbo_is_minus_the_loss_with_the_same_noise(digits):
    db.manual_seed(0)
    vae = g.VAE((1, 8, 8), latent=3, channels=(4, 8)).double()
    x = digits.test.x[:6].astype(np.float64)
    db.manual_seed(5)
    e = g.elbo(vae, x)
    db.manual_seed(5)
    mu, logvar = vae.encode(db.tensor(x))
    z = g.reparameterize(mu, logvar)
    _, rec, kl = g.vae_loss(vae.decoder(z), db.tensor(x), mu, logvar)
    np.testing.assert_allclose(e, -(rec.numpy() + kl.numpy()), rtol=1e-10)
    assert e.shape == (6,) and np.all(e < 0)


def _train(model, loss_fn, x, steps=30, lr=3e-3):
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    for s in range(steps):
        xb = db.tensor(x[(s * 64) % 512:(s * 64) % 512 + 64])
        opt.zero_grad()
        loss = loss_fn(model, xb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_training_lowers_ae_and_vae_loss_on_digits(digits):
    x = digits.train.x[:512]
    db.manual_seed(0)
    ae = g.ConvAutoencoder((1, 8, 8), latent=8, channels=(8, 16))
    before = g.autoencoder_loss(ae, db.tensor(x)).item()
    _train(ae, g.autoencoder_loss, x)
    assert g.autoencoder_loss(ae, db.tensor(x)).item() < 0.7 * before
    db.manual_seed(0)
    vae = g.VAE((1, 8, 8), latent=4, channels=(8, 16))
    before = -g.elbo(vae, x).mean()
    _train(vae, lambda m, xb: m.loss(xb)[0], x)
    assert -g.elbo(vae, x).mean() < 0.9 * before


def test_gan_step_lowers_each_players_loss_on_its_batch(digits):
    db.manual_seed(0)
    G = g.DCGANGenerator((1, 8, 8), 4, (4, 8)).double()
    D = g.DCGANDiscriminator((1, 8, 8), (4, 8)).double()
    opt_g, opt_d = Adam(G.parameters(), lr=1e-3), Adam(D.parameters(), lr=1e-3)
    real = db.tensor(digits.train.x[:16].astype(np.float64))
    z = db.randn(16, 4, dtype="float64")
    with db.no_grad():
        fake = G(z)
        d_before = g.discriminator_loss(D, real, fake).item()
    out = g.gan_step(G, D, opt_g, opt_d, real, z)
    assert out["d_loss"] == pytest.approx(d_before, rel=1e-12)
    with db.no_grad():
        d_after = g.discriminator_loss(D, real, fake).item()  # D's step, on the batch it saw
        g_after = g.generator_loss(D, G(z)).item()  # G's step, same noise, the D it played
    assert d_after < d_before
    assert g_after < out["g_loss"]
    assert 0 < out["d_real"] < 1 and 0 < out["d_fake"] < 1
    for p in D.parameters():
        assert p.grad is None


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_causal_mask(mask_type):
    m = g.causal_mask(5, mask_type)
    assert m[:2].all() and m[2, :2].all() and not m[3:].any() and not m[2, 3:].any()
    assert m[2, 2] == (mask_type == "B")
    with pytest.raises(ValueError):
        g.causal_mask(4, "A")


def test_pixelcnn_never_sees_current_or_later_pixels():
    db.manual_seed(0)
    model = g.PixelCNN(channels=6, layers=3, first_kernel=5).double()
    H = W = 6
    x = db.tensor(np.random.default_rng(0).random((1, 1, H, W)), requires_grad=True)
    for i in range(H):
        for j in range(W):
            x.grad = None
            model(x)[0, 0, i, j].backward()
            grad = np.abs(x.grad[0, 0])
            order = np.arange(H * W).reshape(H, W)
            assert not grad[order >= i * W + j].any(), (i, j)
            if (i, j) != (0, 0):
                assert grad[order < i * W + j].any(), (i, j)  # it does see the past
    # a single mask-B layer does see the current pixel
    conv = g.MaskedConv2d(1, 1, 3, "B").double()
    x.grad = None
    conv(x)[0, 0, 2, 2].backward()
    assert x.grad[0, 0, 2, 2] != 0 and not x.grad[0, 0, 2, 3:].any()


def test_pixelcnn_bits_per_dim_and_sampling(digits):
    train, test = g.binarize(digits.train.x[:512]), g.binarize(digits.test.x[:200])
    base = g.independent_bits_per_dim(train, test)
    assert 0 < base < 1
    assert g.independent_bits_per_dim(np.ones((4, 1, 2, 2)), np.ones((2, 1, 2, 2)), alpha=1e-9) \
        == pytest.approx(0, abs=1e-6)
    db.manual_seed(0)
    model = g.PixelCNN(channels=16, layers=2, first_kernel=5)
    before = g.bits_per_dim(model, test)
    assert before == pytest.approx(1.0, abs=0.1)  # near 1 bit at initialisation
    _train(model, lambda m, xb: m.loss(xb), train, steps=100, lr=1e-2)
    assert g.bits_per_dim(model, test) < min(before, base)
    s = model.sample(3, 8, 8, seed=1)
    assert s.shape == (3, 1, 8, 8) and set(np.unique(s)) <= {0.0, 1.0}


def test_pixelrnn_never_sees_current_or_later_pixels():
    db.manual_seed(0)
    model = g.PixelRNN(hidden=6, row_kernel=3, left_kernel=3).double()
    H = W = 6
    x = db.tensor(np.random.default_rng(0).random((2, 1, H, W)), requires_grad=True)
    order = np.arange(H * W).reshape(H, W)
    assert model(x).shape == (2, 1, H, W)
    for i in range(H):
        for j in range(W):
            x.grad = None
            model(x)[1, 0, i, j].backward()
            grad = np.abs(x.grad[1, 0])
            assert not grad[order >= i * W + j].any(), (i, j)
            assert not x.grad[0].any()  # images in a batch stay independent
            if (i, j) != (0, 0):
                assert grad[order < i * W + j].any(), (i, j)  # it does see the past
            if j > 0:
                assert grad[i, j - 1] != 0, (i, j)  # the pixel just left (horizontal path)
            if i > 0:
                assert grad[i - 1, j] != 0, (i, j)  # the pixel just above (the LSTM path)
    with pytest.raises(ValueError, match="PixelRNN"):
        g.PixelRNN(row_kernel=2)


def test_pixelrnn_loss_decreases_and_samples(digits):
    train, test = g.binarize(digits.train.x[:256]), g.binarize(digits.test.x[:100])
    db.manual_seed(0)
    model = g.PixelRNN(hidden=12, row_kernel=3, left_kernel=5)
    xb = db.tensor(train)
    before = model.loss(xb).item()
    np.testing.assert_allclose(g.bits_per_dim(model, train), before / np.log(2), rtol=1e-4)
    opt = Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        opt.zero_grad()
        loss = model.loss(xb)
        loss.backward()
        opt.step()
    assert model.loss(xb).item() < 0.8 * before
    assert np.isfinite(g.bits_per_dim(model, test))
    s = model.sample(2, 8, 8, seed=1)
    assert s.shape == (2, 1, 8, 8) and set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_array_equal(s, model.sample(2, 8, 8, seed=1))
