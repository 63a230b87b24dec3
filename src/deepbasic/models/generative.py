"""Generative models for small grey images: autoencoder, VAE, DCGAN and PixelCNN.

Every model takes images ``x: (N, C, H, W)`` with values in [0, 1] and H, W divisible by 4
(8x8 digits, 28x28 Fashion-MNIST). The convolutional encoder halves the image twice
(stride-2 3x3 convolutions) and the decoder doubles it back twice (stride-2 4x4 transposed
convolutions), so the two are mirror images:

    encoder  x (N, C, H, W) -> (N, c1, H/2, W/2) -> (N, c2, H/4, W/4) -> flatten -> Linear -> (N, D)
    decoder  z (N, D) -> Linear -> (N, c2, H/4, W/4) -> (N, c1, H/2, W/2) -> (N, C, H, W) logits

- :class:`ConvAutoencoder`: ``x_hat = sigmoid(decoder(encoder(x)))``, trained with the L2
  (mean squared error) reconstruction loss; ``encode(x)`` gives the code used as features.
- :class:`VAE`: the encoder gives ``mu`` and ``logvar`` of q(z|x) = N(mu, diag(exp(logvar))),
  :func:`reparameterize` draws ``z = mu + exp(logvar / 2) * eps`` with eps ~ N(0, I) so gradients
  flow to mu and logvar, the decoder gives the logits of p(x|z). :func:`vae_loss` is the negative
  ELBO per example: reconstruction (Bernoulli: binary cross-entropy summed over pixels; Gaussian
  with unit variance: 0.5 * sum (x - sigmoid(logits))^2) plus the analytic
  KL(q(z|x) || N(0, I)) = 0.5 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j).
- :class:`DCGANGenerator` / :class:`DCGANDiscriminator` and :func:`gan_step` (alternating Adam
  updates, the non-saturating generator loss -log D(G(z))).
- :class:`MaskedConv2d` and :class:`PixelCNN`: an autoregressive model of binary images,
  p(x) = prod_i p(x_i | x_<i) in raster order; mask 'A' (first layer) hides the current pixel,
  mask 'B' (later layers) lets a position see its own features, never later pixels.
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic import backend
from deepbasic.creation import randn
from deepbasic.nn import functional as F
from deepbasic.nn.layers.activation import LeakyReLU, ReLU
from deepbasic.nn.layers.container import Flatten, Sequential
from deepbasic.nn.layers.conv import Conv2d, ConvTranspose2d
from deepbasic.nn.layers.linear import Linear
from deepbasic.nn.layers.normalization import BatchNorm2d
from deepbasic.nn.module import Module
from deepbasic.ops.conv import conv2d
from deepbasic.tensor import Tensor, no_grad

LN2 = math.log(2.0)


def _check_image_shape(shape, what: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{what}: image_shape must be (C, H, W), got {shape}")
    c, h, w = shape
    if h % 4 or w % 4:
        raise ValueError(f"{what}: image height and width must be divisible by 4 (two stride-2 "
                         f"stages), got {h}x{w}")
    return c, h, w


def _check_input(x: Tensor, image_shape, what: str) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{what}: expected images (N, {', '.join(map(str, image_shape))}), got "
                         f"shape {tuple(x.shape)}")


class ConvEncoder(Module):
    """x (N, C, H, W) -> (N, out_features): two stride-2 3x3 conv + ReLU stages, flatten, Linear."""

    def __init__(self, image_shape=(1, 28, 28), out_features: int = 32, channels=(32, 64)):
        super().__init__()
        c, h, w = _check_image_shape(image_shape, "ConvEncoder")
        c1, c2 = (int(v) for v in channels)
        self.image_shape = (c, h, w)
        self.features = Sequential(
            Conv2d(c, c1, 3, stride=2, padding=1), ReLU(),
            Conv2d(c1, c2, 3, stride=2, padding=1), ReLU(),
            Flatten(),
        )
        self.fc = Linear(c2 * (h // 4) * (w // 4), out_features)

    def forward(self, x):
        _check_input(x, self.image_shape, "ConvEncoder")
        return self.fc(self.features(x))


class ConvDecoder(Module):
    """z (N, in_features) -> logits (N, C, H, W): Linear + ReLU, reshape to (c2, H/4, W/4), two
    stride-2 4x4 transposed convolutions (ReLU between). The encoder's mirror image."""

    def __init__(self, image_shape=(1, 28, 28), in_features: int = 32, channels=(32, 64)):
        super().__init__()
        c, h, w = _check_image_shape(image_shape, "ConvDecoder")
        c1, c2 = (int(v) for v in channels)
        self.image_shape = (c, h, w)
        self._grid = (c2, h // 4, w // 4)
        self.fc = Linear(in_features, c2 * (h // 4) * (w // 4))
        self.up1 = ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.up2 = ConvTranspose2d(c1, c, 4, stride=2, padding=1)

    def forward(self, z):
        h = F.relu(self.fc(z)).reshape(z.shape[0], *self._grid)
        return self.up2(F.relu(self.up1(h)))


class ConvAutoencoder(Module):
    """Convolutional autoencoder: ``forward(x)`` = sigmoid(decoder(encoder(x))), same shape as x.

    image_shape: (C, H, W); latent: code size D; channels: (c1, c2) of the two conv stages.
    ``encode(x)`` -> (N, D) codes (the features for a downstream classifier);
    ``decode(z)`` -> (N, C, H, W) images in (0, 1); :func:`autoencoder_loss` is the L2 loss.
    """

    def __init__(self, image_shape=(1, 28, 28), latent: int = 32, channels=(32, 64)):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape, "ConvAutoencoder")
        self.latent = int(latent)
        self.encoder = ConvEncoder(image_shape, latent, channels)
        self.decoder = ConvDecoder(image_shape, latent, channels)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return F.sigmoid(self.decoder(z))

    def forward(self, x):
        return self.decode(self.encode(x))


def autoencoder_loss(model: ConvAutoencoder, x) -> Tensor:
    """The L2 reconstruction loss: mean over all pixels of (model(x) - x)^2."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return F.mse_loss(model(x), x)


def reparameterize(mu, logvar, eps=None) -> Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (drawn when not given): a sample of
    N(mu, diag(exp(logvar))) that is a differentiable function of mu and logvar, with
    dz/dmu = 1 and dz/dlogvar = 0.5 * eps * exp(logvar / 2). mu, logvar, eps: (N, D)."""
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ValueError(f"reparameterize: mu shape {tuple(mu.shape)} and logvar shape "
                         f"{tuple(logvar.shape)} differ")
    if eps is None:
        eps = randn(*mu.shape, dtype=mu.dtype)
    elif not isinstance(eps, Tensor):
        eps = Tensor(np.asarray(eps, dtype=mu.dtype))
    return mu + (logvar * 0.5).exp() * eps


def gaussian_kl(mu, logvar) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per example: (N, D) -> (N,),
    0.5 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)."""
    return ((mu * mu + logvar.exp() - 1.0 - logvar) * 0.5).sum(dim=1)


LIKELIHOODS = ("bernoulli", "gaussian")


def reconstruction_nll(logits, x, likelihood: str = "bernoulli") -> Tensor:
    """-log p(x|z) per example, (N, C, H, W) -> (N,), up to a constant for 'gaussian'.

    'bernoulli': binary cross-entropy of sigmoid(logits) against x in [0, 1], summed over pixels;
    'gaussian': unit-variance Gaussian with mean sigmoid(logits): 0.5 * sum (x - mean)^2.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    x = x if isinstance(x, Tensor) else Tensor(x)
    n = logits.shape[0]
    if likelihood == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        d = F.sigmoid(logits) - x
        per_pixel = d * d * 0.5
    return per_pixel.reshape(n, -1).sum(dim=1)


def vae_loss(logits, x, mu, logvar, likelihood: str = "bernoulli", beta: float = 1.0):
    """Negative ELBO: returns (mean loss over the batch, reconstruction (N,), KL (N,)).

    loss_i = reconstruction_nll(logits_i, x_i) + beta * KL(q(z|x_i) || N(0, I)), in nats.
    """
    rec = reconstruction_nll(logits, x, likelihood)
    kl = gaussian_kl(mu, logvar)
    return (rec + kl * float(beta)).mean(), rec, kl


class VAE(Module):
    """Variational autoencoder with a Gaussian q(z|x) and a Bernoulli (or Gaussian) p(x|z).

    ``forward(x)`` -> (logits (N, C, H, W), mu (N, D), logvar (N, D)) with one reparameterized z
    per example. ``encode(x)`` -> (mu, logvar); ``decode(z)`` -> pixel means in (0, 1);
    ``sample(n)`` decodes z ~ N(0, I).
    """

    def __init__(self, image_shape=(1, 28, 28), latent: int = 16, channels=(32, 64),
                 likelihood: str = "bernoulli"):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"VAE: likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.image_shape = _check_image_shape(image_shape, "VAE")
        self.latent = int(latent)
        self.likelihood = likelihood
        self.encoder = ConvEncoder(image_shape, 2 * self.latent, channels)
        self.decoder = ConvDecoder(image_shape, self.latent, channels)

    def encode(self, x):
        h = self.encoder(x)
        return h[:, :self.latent], h[:, self.latent:]

    def decode(self, z):
        return F.sigmoid(self.decoder(z))

    def forward(self, x, eps=None):
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, eps)
        return self.decoder(z), mu, logvar

    def loss(self, x, beta: float = 1.0):
        """vae_loss of one forward pass: (mean loss, reconstruction (N,), KL (N,))."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        logits, mu, logvar = self(x)
        return vae_loss(logits, x, mu, logvar, self.likelihood, beta)

    def sample(self, n: int) -> np.ndarray:
        """n images (n, C, H, W) in (0, 1): pixel means of p(x|z), z ~ N(0, I)."""
        dtype = self.decoder.fc.weight.dtype
        with no_grad():
            return backend.to_numpy(self.decode(randn(n, self.latent, dtype=dtype)).data)


def elbo(model: VAE, x, batch_size: int = 500, samples: int = 1) -> np.ndarray:
    """The evidence lower bound log p(x) >= E_q[log p(x|z)] - KL per example, (N,) in nats.

    The expectation is estimated with ``samples`` reparameterized draws per example; the model is
    put in eval mode and restored. For 'gaussian' the constant of log p(x|z) is left out.
    """
    x = np.asarray(backend.to_numpy(x.data if isinstance(x, Tensor) else x))
    was_training = model.training
    model.eval()
    out = np.empty(len(x), dtype=np.float64)
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                xb = Tensor(x[i:i + batch_size].astype(model.decoder.fc.weight.dtype))
                mu, logvar = model.encode(xb)
                kl = backend.to_numpy(gaussian_kl(mu, logvar).data).astype(np.float64)
                rec = 0.0
                for _ in range(samples):
                    z = reparameterize(mu, logvar)
                    rec = rec + backend.to_numpy(
                        reconstruction_nll(model.decoder(z), xb, model.likelihood).data)
                out[i:i + batch_size] = -(rec / samples) - kl
    finally:
        model.train(was_training)
    return out


# --- DCGAN --------------------------------------------------------------------------------------
class DCGANGenerator(Module):
    """z (N, latent) -> images (N, C, H, W) in (0, 1).

    Linear -> (c2, H/4, W/4), BatchNorm, ReLU -> 4x4 stride-2 ConvTranspose (c1), BatchNorm, ReLU
    -> 4x4 stride-2 ConvTranspose (C) -> sigmoid (DCGAN's pattern; sigmoid since data is in [0, 1]).
    """

    def __init__(self, image_shape=(1, 28, 28), latent: int = 32, channels=(32, 64)):
        super().__init__()
        c, h, w = _check_image_shape(image_shape, "DCGANGenerator")
        c1, c2 = (int(v) for v in channels)
        self.image_shape, self.latent = (c, h, w), int(latent)
        self._grid = (c2, h // 4, w // 4)
        self.fc = Linear(self.latent, c2 * (h // 4) * (w // 4))
        self.bn0 = BatchNorm2d(c2)
        self.up1 = ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.bn1 = BatchNorm2d(c1)
        self.up2 = ConvTranspose2d(c1, c, 4, stride=2, padding=1)

    def forward(self, z):
        h = F.relu(self.bn0(self.fc(z).reshape(z.shape[0], *self._grid)))
        return F.sigmoid(self.up2(F.relu(self.bn1(self.up1(h)))))


class DCGANDiscriminator(Module):
    """x (N, C, H, W) -> real-vs-fake logits (N,): two 3x3 stride-2 convolutions with LeakyReLU
    (0.2), flatten, Linear (no BatchNorm, so a sample's score does not depend on its batch)."""

    def __init__(self, image_shape=(1, 28, 28), channels=(32, 64)):
        super().__init__()
        c, h, w = _check_image_shape(image_shape, "DCGANDiscriminator")
        c1, c2 = (int(v) for v in channels)
        self.image_shape = (c, h, w)
        self.net = Sequential(
            Conv2d(c, c1, 3, stride=2, padding=1), LeakyReLU(0.2),
            Conv2d(c1, c2, 3, stride=2, padding=1), LeakyReLU(0.2),
            Flatten(), Linear(c2 * (h // 4) * (w // 4), 1),
        )

    def forward(self, x):
        _check_input(x, self.image_shape, "DCGANDiscriminator")
        return self.net(x).reshape(x.shape[0])


def discriminator_loss(D, real, fake) -> Tensor:
    """-[mean log D(real) + mean log(1 - D(fake))] with D = sigmoid(logits): binary
    cross-entropy with target 1 on real and 0 on fake images (each half averaged)."""
    lr, lf = D(real), D(fake)
    ones = Tensor(np.ones(lr.shape, dtype=lr.dtype))
    zeros = Tensor(np.zeros(lf.shape, dtype=lf.dtype))
    return (F.binary_cross_entropy_with_logits(lr, ones)
            + F.binary_cross_entropy_with_logits(lf, zeros))


def generator_loss(D, fake) -> Tensor:
    """The non-saturating generator loss -mean log D(fake) (BCE with target 1): strong
    gradients when D confidently rejects the fakes, unlike minimizing log(1 - D(fake))."""
    lf = D(fake)
    return F.binary_cross_entropy_with_logits(lf, Tensor(np.ones(lf.shape, dtype=lf.dtype)))


def gan_step(G, D, opt_g, opt_d, real, z=None) -> dict:
    """One alternating update: first the discriminator on (real, G(z) detached), then the
    generator on the same z against the updated discriminator. real: (N, C, H, W);
    z: (N, latent) noise (drawn when None). Returns the losses measured before each update:
    ``{"d_loss", "g_loss", "d_real", "d_fake"}`` (d_real / d_fake: mean D on real / fake)."""
    real = real if isinstance(real, Tensor) else Tensor(real)
    if z is None:
        z = randn(real.shape[0], G.latent, dtype=real.dtype)
    elif not isinstance(z, Tensor):
        z = Tensor(np.asarray(z, dtype=real.dtype))
    with no_grad():
        fake = G(z).detach()
    opt_d.zero_grad()
    d_loss = discriminator_loss(D, real, fake)
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = generator_loss(D, G(z))
    g_loss.backward()
    opt_g.step()
    D.zero_grad()  # the generator's backward also filled D's gradients
    with no_grad():
        d_real = float(F.sigmoid(D(real)).mean().item())
        d_fake = float(F.sigmoid(D(fake)).mean().item())
    return {"d_loss": float(d_loss.item()), "g_loss": float(g_loss.item()),
            "d_real": d_real, "d_fake": d_fake}


# --- PixelCNN -----------------------------------------------------------------------------------
def causal_mask(kernel_size: int, mask_type: str) -> np.ndarray:
    """(k, k) 0/1 mask: rows above the centre and the centre row left of the centre are 1; the
    centre itself is 1 for mask 'B' and 0 for mask 'A'; everything after it is 0."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    k = int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"masked convolution needs an odd kernel size, got {kernel_size}")
    m = np.zeros((k, k), dtype=np.float32)
    c = k // 2
    m[:c, :] = 1
    m[c, :c] = 1
    if mask_type == "B":
        m[c, c] = 1
    return m


class MaskedConv2d(Conv2d):
    """A Conv2d (stride 1, 'same' padding, odd square kernel) whose weight is multiplied by a
    fixed causal mask (:func:`causal_mask`) in every forward pass, so output (i, j) depends only
    on input pixels before (i, j) in raster order (mask 'A') or up to and including it ('B')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str,
                 bias: bool = True):
        mask = causal_mask(kernel_size, mask_type)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                         bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", Tensor(mask[None, None].astype(self.weight.dtype)))

    def forward(self, x):
        w = self.weight * self.mask
        return conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


class _PixelModel(Module):
    """A model of binary images whose forward gives per-pixel Bernoulli logits (N, 1, H, W), each
    pixel conditioned only on the pixels before it in raster order (PixelCNN, PixelRNN): the
    likelihood loss and pixel-by-pixel sampling they share."""

    def loss(self, x) -> Tensor:
        """Mean negative log-likelihood in nats per pixel."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        return F.binary_cross_entropy_with_logits(self(x), x)

    def sample(self, n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
        """n binary images (n, 1, H, W), pixel by pixel in raster order (H*W forward passes)."""
        rng = np.random.default_rng(seed)
        dtype = next(iter(self.parameters())).dtype
        x = np.zeros((n, 1, height, width), dtype=dtype)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for i in range(height):
                    for j in range(width):
                        logits = backend.to_numpy(self(Tensor(x)).data)[:, 0, i, j]
                        p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
                        x[:, 0, i, j] = (rng.random(n) < p).astype(dtype)
        finally:
            self.train(was_training)
        return x


class PixelCNN(_PixelModel):
    """PixelCNN for binary images: x (N, 1, H, W) in {0, 1} -> logits (N, 1, H, W) of
    p(x_ij = 1 | pixels before (i, j)).

    A 7x7 mask-'A' convolution, ``layers`` 3x3 mask-'B' convolutions (ReLU), then two 1x1
    convolutions. ``nll_bits(x)`` gives bits per pixel; ``sample(n)`` draws pixels one at a time.
    """

    def __init__(self, channels: int = 32, layers: int = 4, first_kernel: int = 7,
                 in_channels: int = 1):
        super().__init__()
        if in_channels != 1:
            raise ValueError(f"PixelCNN: only single-channel images are supported, got "
                             f"{in_channels} channels")
        mods = [MaskedConv2d(1, channels, first_kernel, "A"), ReLU()]
        for _ in range(int(layers)):
            mods += [MaskedConv2d(channels, channels, 3, "B"), ReLU()]
        mods += [Conv2d(channels, channels, 1), ReLU(), Conv2d(channels, 1, 1)]
        self.net = Sequential(*mods)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"PixelCNN: expected images (N, 1, H, W), got shape {tuple(x.shape)}")
        return self.net(x)



def binarize(x, threshold: float = 0.5) -> np.ndarray:
    """Images in [0, 1] -> float32 {0, 1} (pixel > threshold)."""
    return (np.asarray(x) > threshold).astype(np.float32)


def independent_bits_per_dim(train_x, test_x, alpha: float = 1.0) -> float:
    """Baseline: every pixel an independent Bernoulli with its own training frequency
    (Laplace-smoothed by alpha); mean -log2 p per pixel of the binary test images."""
    train_x, test_x = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    p = (train_x.sum(axis=0) + alpha) / (len(train_x) + 2 * alpha)
    ll = test_x * np.log2(p) + (1 - test_x) * np.log2(1 - p)
    return float(-ll.mean())


# --- PixelRNN (a simplified Row LSTM) -----------------------------------------------------------
class PixelRNN(_PixelModel):
    """PixelRNN for binary images, a simplified Row LSTM: x (N, 1, H, W) in {0, 1} -> logits
    (N, 1, H, W) of p(x_ij = 1 | pixels before (i, j) in raster order).

    - vertical (rows above): the image shifted down one row (row 0 sees zeros) goes through a
      1 x ``row_kernel`` convolution along the row, so step r's input is row r-1 encoded; an
      :class:`~deepbasic.nn.LSTM` runs down the rows, one independent sequence per column
      (batch N * W), so its state at row r sums up rows 0 .. r-1 (the row convolution widens
      the receptive field by row_kernel // 2 columns a row);
    - horizontal (left in the current row): a causal 1 x ``left_kernel`` convolution of the
      ``left_kernel`` pixels strictly left of (i, j) (pad left by k, valid conv, drop the last
      output column: the mask-'A' case of a 1-D convolution);
    - the two are added, then ReLU, a 1x1 convolution, ReLU, a 1x1 convolution to one logit.

    ``loss(x)``: mean BCE in nats per pixel; ``sample(n, H, W)`` draws pixels one at a time.
    """

    def __init__(self, hidden: int = 32, row_kernel: int = 3, left_kernel: int = 7,
                 in_channels: int = 1):
        super().__init__()
        if in_channels != 1:
            raise ValueError(f"PixelRNN: only single-channel images are supported, got "
                             f"{in_channels} channels")
        hidden, row_kernel, left_kernel = int(hidden), int(row_kernel), int(left_kernel)
        if hidden < 1 or left_kernel < 1 or row_kernel < 1 or row_kernel % 2 == 0:
            raise ValueError(f"PixelRNN: needs hidden >= 1, left_kernel >= 1 and an odd "
                             f"row_kernel, got {hidden}, {left_kernel}, {row_kernel}")
        from deepbasic.nn.layers.recurrent import LSTM

        self.hidden, self.row_kernel, self.left_kernel = hidden, row_kernel, left_kernel
        self.row_in = Conv2d(1, hidden, (1, row_kernel), padding=(0, row_kernel // 2))
        self.lstm = LSTM(hidden, hidden)
        self.left = Conv2d(1, hidden, (1, left_kernel))
        self.out1 = Conv2d(hidden, hidden, 1)
        self.out2 = Conv2d(hidden, 1, 1)

    def forward(self, x):
        from deepbasic.ops.shape import pad

        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"PixelRNN: expected images (N, 1, H, W), got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        above = pad(x, (0, 0, 1, 0))[:, :, :h, :]                 # row r holds row r - 1
        v = self.row_in(above)                                    # (N, hid, H, W)
        seq = v.permute(2, 0, 3, 1).reshape(h, n * w, self.hidden)  # (H, N*W, hid)
        out, _ = self.lstm(seq)
        v = out.reshape(h, n, w, self.hidden).permute(1, 3, 0, 2)   # (N, hid, H, W)
        k = self.left_kernel
        left = self.left(pad(x, (k, 0)))[:, :, :, :w]             # columns j-k .. j-1
        return self.out2(F.relu(self.out1(F.relu(v + left))))



def bits_per_dim(model, x, batch_size: int = 500) -> float:
    """Mean negative log2-likelihood per pixel of binary images x (N, 1, H, W) under any model
    whose forward gives per-pixel Bernoulli logits (PixelCNN, PixelRNN)."""
    x = np.asarray(x)
    dtype = next(iter(model.parameters())).dtype
    total = 0.0
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                xb = Tensor(x[i:i + batch_size].astype(dtype))
                nll = F.binary_cross_entropy_with_logits(model(xb), xb, reduction="sum")
                total += float(nll.item())
    finally:
        model.train(was_training)
    return total / (x.size * LN2)
