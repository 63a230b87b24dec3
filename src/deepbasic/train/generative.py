"""Generative-model experiments on Fashion-MNIST (or the 8x8 digits for quick runs).

    r = autoencoder_experiment(dataset="fashion-mnist", epochs=5, labels_per_class=100)
    r["feature_accuracy"], r["pixel_accuracy"]   # softmax on encoder codes vs on raw pixels
    r = vae_experiment(dataset="fashion-mnist", latent=2, out_dir="runs/vae")
    r["test_elbo"]                               # nats per image, held-out
    r = gan_experiment(dataset="fashion-mnist", epochs=5, out_dir="runs/gan")
    r["history"][-1]["frechet"]                  # FID-style distance per epoch
    r = pixelcnn_experiment(dataset="digits")
    r["test_bits_per_dim"], r["baseline_bits_per_dim"]
    r = pixelrnn_experiment(dataset="digits")     # the same numbers for a (Row-LSTM) PixelRNN

Each trains with Adam on minibatches in a seeded order, evaluates on the test split, and (with
``out_dir``) writes PNGs, a ``model.safetensors`` with its configuration in the metadata (read back
by :func:`load_generative`) and ``result.json``. Models: :mod:`deepbasic.models.generative`.
"""
from __future__ import annotations

import json
import math
import os
import time
from statistics import NormalDist

import numpy as np

from deepbasic import backend
from deepbasic.creation import randn
from deepbasic.models import generative as gm
from deepbasic.nn.layers.activation import ReLU
from deepbasic.nn.layers.container import Flatten, Sequential
from deepbasic.nn.layers.conv import Conv2d
from deepbasic.nn.layers.linear import Linear
from deepbasic.nn import functional as F
from deepbasic.optim import Adam
from deepbasic.serialization import atomic_write, load_file, save_state_dict
from deepbasic.tensor import Tensor, no_grad
from deepbasic.train.plots import _pyplot, _save

KINDS = ("ae", "vae", "gan", "pixelcnn", "pixelrnn")


# --- data and loops -----------------------------------------------------------------------------
def load_images(dataset: str = "digits", train_limit: int | None = None,
                test_limit: int | None = None, seed: int = 0):
    """(train x, train y, test x, test y) of ``dataset``, the first ``*_limit`` of a seeded
    shuffle of each split (None: all). x: float32 (N, 1, H, W) in [0, 1]."""
    from deepbasic.data import load_dataset

    d = load_dataset(dataset, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for split, limit in ((d.train, train_limit), (d.test, test_limit)):
        idx = rng.permutation(len(split.x))[:limit]
        out += [np.ascontiguousarray(split.x[idx]), split.y[idx]]
    return tuple(out)


def _check_positive(**kw) -> None:
    for k, v in kw.items():
        if not v > 0:
            raise ValueError(f"{k} must be positive, got {v}")


def _fit(model, loss_fn, x, epochs: int, batch_size: int, lr: float, seed: int,
         progress: bool, name: str, on_epoch=None) -> list[dict]:
    """Minimise ``loss_fn(model, xb)`` with Adam for ``epochs`` passes; returns the history."""
    opt = Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        t0, total, n = time.perf_counter(), 0.0, 0
        model.train()
        for idx in np.array_split(rng.permutation(len(x)), max(1, math.ceil(len(x) / batch_size))):
            xb = Tensor(x[idx])
            opt.zero_grad()
            loss = loss_fn(model, xb)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(idx), n + len(idx)
        row = {"epoch": epoch, "loss": total / n, "time_s": time.perf_counter() - t0}
        if on_epoch is not None:
            row.update(on_epoch(epoch))
        history.append(row)
        if progress:
            print(f"{name} epoch {epoch}/{epochs}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"), flush=True)
    return history


def _finish(result: dict, model, config: dict, out_dir: str | None) -> dict:
    if out_dir:
        path = os.path.join(out_dir, "model.safetensors")
        save_state_dict(model, path, metadata={"deepbasic-generative": json.dumps(config)})
        result["checkpoint"] = path
        with atomic_write(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(result, f, indent=2)
    return result


def build_model(config: dict):
    """The (untrained) model that ``config`` (as saved by an experiment) describes."""
    kind, shape = config["kind"], tuple(config["image_shape"])
    if kind == "pixelcnn":
        return gm.PixelCNN(config["channels"], config["layers"], config["first_kernel"])
    if kind == "pixelrnn":
        return gm.PixelRNN(config["hidden"], config["row_kernel"], config["left_kernel"])
    ch = tuple(config.get("channels", (32, 64)))
    if kind == "ae":
        return gm.ConvAutoencoder(shape, config["latent"], ch)
    if kind == "vae":
        return gm.VAE(shape, config["latent"], ch, config.get("likelihood", "bernoulli"))
    if kind == "gan":
        return gm.DCGANGenerator(shape, config["latent"], ch)
    raise ValueError(f"unknown generative model kind {kind!r}; expected one of {KINDS}")


def load_generative(path: str):
    """(model, config) from a ``model.safetensors`` written by an experiment here."""
    tensors, meta = load_file(path)
    if "deepbasic-generative" not in meta:
        raise ValueError(f"{path}: not a generative-model file written by deepbasic generate")
    config = json.loads(meta["deepbasic-generative"])
    model = build_model(config)
    model.load_state_dict(tensors)
    model.eval()
    return model, config


# --- figures ------------------------------------------------------------------------------------
def save_image_grid(images, path: str, cols: int = 8, title: str | None = None) -> str:
    """Images (N, 1, H, W) or (N, H, W) in [0, 1] as a grey grid PNG, ``cols`` per row."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    n, h, w = images.shape
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1), dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = images[k]
    plt = _pyplot()
    scale = min(1.0, 12.0 / (0.6 * max(cols * w, rows * h) / 8))  # at most 12 inches a side
    fig, ax = plt.subplots(figsize=(max(2.0, scale * 0.6 * cols * w / 8),
                                    max(2.0, scale * 0.6 * rows * h / 8)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


# --- autoencoder --------------------------------------------------------------------------------
def few_labels(y, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of each class (a seeded choice; fewer if a class has
    fewer)."""
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class]
                                   for c in np.unique(y)]))


def encode(model, x, batch_size: int = 500) -> np.ndarray:
    """Codes (N, D) of images x under an autoencoder (or a VAE's means), without gradients."""
    model.eval()
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            z = model.encode(Tensor(x[i:i + batch_size]))
            z = z[0] if isinstance(z, tuple) else z
            out.append(backend.to_numpy(z.data))
    return np.concatenate(out)


def _linear_accuracy(train_x, train_y, test_x, test_y, epochs: int, seed: int) -> float:
    from deepbasic.classic.linear import LinearClassifier

    clf = LinearClassifier(loss="softmax", optimizer="adam", lr=1e-2, reg=1e-3, epochs=epochs,
                           batch_size=64, preprocess="standardize", seed=seed)
    return float(clf.fit(train_x, train_y).score(test_x, test_y))


def autoencoder_experiment(*, dataset: str = "fashion-mnist", epochs: int = 5, latent: int = 32,
                           channels=(32, 64), lr: float = 2e-3, batch_size: int = 64,
                           labels_per_class: int = 100, classifier_epochs: int = 100,
                           train_limit: int | None = None, test_limit: int | None = None,
                           seed: int = 0, out_dir: str | None = None,
                           progress: bool = False) -> dict:
    """Train a ConvAutoencoder (L2 loss) on every training image, then a softmax classifier on
    ``labels_per_class`` labelled images per class, once on the encoder's codes and once on the
    raw pixels (same images, same classifier settings); report both test accuracies."""
    _check_positive(epochs=epochs, latent=latent, lr=lr, batch_size=batch_size,
                    labels_per_class=labels_per_class, classifier_epochs=classifier_epochs)
    xtr, ytr, xte, yte = load_images(dataset, train_limit, test_limit, seed)
    backend.manual_seed(seed)
    model = gm.ConvAutoencoder(xtr.shape[1:], latent, channels)
    t0 = time.perf_counter()
    history = _fit(model, gm.autoencoder_loss, xtr, epochs, batch_size, lr, seed, progress, "ae")
    train_time = time.perf_counter() - t0
    model.eval()
    with no_grad():
        recon = backend.to_numpy(model(Tensor(xte[:500])).data)
    test_mse = float(((recon - xte[:500]) ** 2).mean())
    idx = few_labels(ytr, labels_per_class, seed)
    ftr, fte = encode(model, xtr[idx]), encode(model, xte)
    feature_acc = _linear_accuracy(ftr, ytr[idx], fte, yte, classifier_epochs, seed)
    pixel_acc = _linear_accuracy(xtr[idx], ytr[idx], xte, yte, classifier_epochs, seed)
    result = {"kind": "ae", "dataset": dataset, "image_shape": list(xtr.shape[1:]),
              "latent": latent, "epochs": epochs, "history": history, "train_time_s": train_time,
              "test_mse": test_mse, "labels_per_class": labels_per_class,
              "labelled_examples": int(len(idx)), "feature_accuracy": feature_acc,
              "pixel_accuracy": pixel_acc, "parameters": model.num_parameters()}
    if out_dir:
        k = min(8, len(xte))
        result["reconstructions_png"] = save_image_grid(
            np.concatenate([xte[:k], recon[:k]]), os.path.join(out_dir, "reconstructions.png"),
            cols=k, title="test images (top) and reconstructions (bottom)")
    config = {"kind": "ae", "image_shape": list(xtr.shape[1:]), "latent": latent,
              "channels": list(channels), "dataset": dataset}
    return _finish(result, model, config, out_dir)


# --- VAE ----------------------------------------------------------------------------------------
def interpolate(model: gm.VAE, a, b, steps: int = 10) -> np.ndarray:
    """Decoded images along the straight line between the posterior means of images a and b:
    (steps, C, H, W), the first and last the decodings of the two means."""
    mu = encode(model, np.stack([a, b]))
    t = np.linspace(0, 1, steps, dtype=mu.dtype)[:, None]
    with no_grad():
        return backend.to_numpy(model.decode(Tensor((1 - t) * mu[0] + t * mu[1])).data)


def latent_map(model: gm.VAE, n: int = 15) -> np.ndarray:
    """For a 2-D latent space: decodings of an n x n grid of z at the Gaussian quantiles
    (0.5 .. n - 0.5) / n of each axis, (n * n, C, H, W), row-major (z2 down, z1 across)."""
    if model.latent != 2:
        raise ValueError(f"latent_map needs a 2-D latent space, the model has {model.latent}")
    q = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    z1, z2 = np.meshgrid(q, q[::-1])
    z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(model.decoder.fc.weight.dtype)
    with no_grad():
        return backend.to_numpy(model.decode(Tensor(z)).data)


def vae_experiment(*, dataset: str = "fashion-mnist", epochs: int = 5, latent: int = 2,
                   channels=(32, 64), likelihood: str = "bernoulli", lr: float = 2e-3,
                   batch_size: int = 64, train_limit: int | None = None,
                   test_limit: int | None = None, seed: int = 0, out_dir: str | None = None,
                   progress: bool = False) -> dict:
    """Train a VAE (negative ELBO, one reparameterized sample per image); report the held-out
    ELBO (nats per image and bits per pixel) and, with out_dir, save samples, an interpolation
    strip between two test images and (latent == 2) the 2-D latent map as PNGs."""
    _check_positive(epochs=epochs, latent=latent, lr=lr, batch_size=batch_size)
    xtr, _, xte, yte = load_images(dataset, train_limit, test_limit, seed)
    backend.manual_seed(seed)
    model = gm.VAE(xtr.shape[1:], latent, channels, likelihood)
    t0 = time.perf_counter()
    history = _fit(model, lambda m, xb: m.loss(xb)[0], xtr, epochs, batch_size, lr, seed,
                   progress, "vae")
    train_time = time.perf_counter() - t0
    test_elbo = gm.elbo(model, xte)
    dims = int(np.prod(xte.shape[1:]))
    result = {"kind": "vae", "dataset": dataset, "image_shape": list(xtr.shape[1:]),
              "latent": latent, "likelihood": likelihood, "epochs": epochs, "history": history,
              "train_time_s": train_time, "test_elbo": float(test_elbo.mean()),
              "test_bits_per_dim": float(-test_elbo.mean() / (dims * math.log(2))),
              "parameters": model.num_parameters()}
    if out_dir:
        result["samples_png"] = save_image_grid(model.sample(64), os.path.join(out_dir,
                                                "samples.png"), title="VAE samples, z ~ N(0, I)")
        j = int(np.flatnonzero(yte != yte[0])[0]) if np.any(yte != yte[0]) else min(1, len(xte) - 1)
        result["interpolation_png"] = save_image_grid(
            interpolate(model, xte[0], xte[j], 10), os.path.join(out_dir, "interpolation.png"),
            cols=10, title="decoded along the line between two test images' means")
        if latent == 2:
            result["latent_map_png"] = save_image_grid(latent_map(model, 15), os.path.join(
                out_dir, "latent_map.png"), cols=15, title="decoded 2-D latent grid")
    config = {"kind": "vae", "image_shape": list(xtr.shape[1:]), "latent": latent,
              "channels": list(channels), "likelihood": likelihood, "dataset": dataset}
    return _finish(result, model, config, out_dir)


# --- GAN ----------------------------------------------------------------------------------------
def feature_classifier(image_shape, classes: int = 10, channels=(16, 32), features: int = 64):
    """A small ConvNet whose penultimate layer (``net[:-1]``, ``features`` units after ReLU) is
    the feature space of the Frechet distance: two stride-2 conv + ReLU, Linear + ReLU, Linear."""
    c, h, w = image_shape
    c1, c2 = channels
    return Sequential(Conv2d(c, c1, 3, stride=2, padding=1), ReLU(),
                      Conv2d(c1, c2, 3, stride=2, padding=1), ReLU(), Flatten(),
                      Linear(c2 * (h // 4) * (w // 4), features), ReLU(),
                      Linear(features, classes))


def classifier_features(clf, x, batch_size: int = 500) -> np.ndarray:
    """Penultimate-layer activations (N, features) of :func:`feature_classifier` ``clf``."""
    clf.eval()
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            h = Tensor(np.asarray(x[i:i + batch_size], dtype=np.float32))
            for layer in list(clf.children())[:-1]:
                h = layer(h)
            out.append(backend.to_numpy(h.data).astype(np.float64))
    return np.concatenate(out)


def frechet_distance(a, b) -> float:
    """Frechet distance between Gaussians fitted to feature rows a (N, D) and b (M, D):
    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), the trace of the square root taken as
    the sum of sqrt(eigenvalues) of S_a^(1/2) S_b S_a^(1/2) (symmetric, so eigh is stable)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.linalg.eigvalsh(root_a @ sb @ root_a)
    tr_sqrt = np.sqrt(np.clip(ev, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt)


def train_feature_classifier(xtr, ytr, epochs: int = 3, seed: int = 0):
    """:func:`feature_classifier` trained with cross-entropy (Adam, batches of 64)."""
    backend.manual_seed(seed)
    clf = feature_classifier(xtr.shape[1:], int(ytr.max()) + 1)
    yt = ytr.astype(np.int64)
    opt = Adam(clf.parameters(), lr=2e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(xtr)), max(1, len(xtr) // 64)):
            opt.zero_grad()
            ce = F.cross_entropy(clf(Tensor(xtr[idx])), Tensor(yt[idx]))
            ce.backward()
            opt.step()
    return clf


def gan_experiment(*, dataset: str = "fashion-mnist", epochs: int = 5, latent: int = 32,
                   channels=(32, 64), lr: float = 2e-4, beta1: float = 0.5, batch_size: int = 64,
                   train_limit: int | None = None, test_limit: int | None = None,
                   fid_samples: int = 1000, classifier_epochs: int = 3, seed: int = 0,
                   out_dir: str | None = None, progress: bool = False) -> dict:
    """DCGAN: alternating Adam updates of the discriminator and the generator (non-saturating
    loss) each minibatch; after every epoch a grid of samples (fixed noise) and the Frechet
    distance between classifier features of ``fid_samples`` generated and test images. The
    classifier is a small deepbasic ConvNet trained first on the labelled training images (its
    test accuracy is reported); the test set against itself split in two gives a floor."""
    _check_positive(epochs=epochs, latent=latent, lr=lr, batch_size=batch_size,
                    fid_samples=fid_samples, classifier_epochs=classifier_epochs)
    xtr, ytr, xte, yte = load_images(dataset, train_limit, test_limit, seed)
    clf = train_feature_classifier(xtr, ytr, classifier_epochs, seed)
    with no_grad():
        clf.eval()
        clf_acc = float((backend.to_numpy(clf(Tensor(xte)).data).argmax(1) == yte).mean())
    real_feats = classifier_features(clf, xte[:fid_samples])
    half = len(real_feats) // 2
    floor = frechet_distance(real_feats[:half], real_feats[half:]) if half > 1 else float("nan")
    backend.manual_seed(seed)
    G = gm.DCGANGenerator(xtr.shape[1:], latent, channels)
    D = gm.DCGANDiscriminator(xtr.shape[1:], channels)
    opt_g = Adam(G.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_d = Adam(D.parameters(), lr=lr, betas=(beta1, 0.999))
    fixed_z = randn(64, latent)
    rng = np.random.default_rng(seed)
    history, pngs, t0 = [], [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        G.train(), D.train()
        sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
        batches = np.array_split(rng.permutation(len(xtr)), max(1, len(xtr) // batch_size))
        for idx in batches:
            out = gm.gan_step(G, D, opt_g, opt_d, Tensor(xtr[idx]))
            for k in sums:
                sums[k] += out[k] / len(batches)
        G.eval()
        with no_grad():
            fake = np.concatenate([backend.to_numpy(G(randn(min(500, fid_samples - i),
                                                             latent)).data)
                                   for i in range(0, fid_samples, 500)])
            grid = backend.to_numpy(G(fixed_z).data)
        row = {"epoch": epoch, **sums, "frechet": frechet_distance(
            classifier_features(clf, fake), real_feats), "time_s": time.perf_counter() - t0}
        history.append(row)
        if out_dir:
            pngs.append(save_image_grid(grid, os.path.join(out_dir, f"samples_epoch{epoch:03d}.png"),
                                        title=f"DCGAN samples, epoch {epoch}"))
        if progress:
            print(f"gan epoch {epoch}/{epochs}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"), flush=True)
    result = {"kind": "gan", "dataset": dataset, "image_shape": list(xtr.shape[1:]),
              "latent": latent, "epochs": epochs, "history": history,
              "train_time_s": time.perf_counter() - t0, "classifier_accuracy": clf_acc,
              "frechet_test_halves": floor, "fid_samples": int(min(fid_samples, len(xte))),
              "generator_parameters": G.num_parameters(),
              "discriminator_parameters": D.num_parameters(), "sample_pngs": pngs}
    config = {"kind": "gan", "image_shape": list(xtr.shape[1:]), "latent": latent,
              "channels": list(channels), "dataset": dataset}
    return _finish(result, G, config, out_dir)


# --- PixelCNN and PixelRNN ----------------------------------------------------------------------
def _pixel_experiment(kind: str, title: str, build, config: dict, *, dataset: str, epochs: int,
                      lr: float, batch_size: int, train_limit, test_limit, samples: int,
                      seed: int, out_dir, progress: bool) -> dict:
    """Train the pixel model ``build()`` on binarized images (pixel > 0.5) and report its test
    NLL in bits per pixel against the independent-pixel baseline, and sampling time per image."""
    xtr, _, xte, _ = load_images(dataset, train_limit, test_limit, seed)
    xtr, xte = gm.binarize(xtr), gm.binarize(xte)
    backend.manual_seed(seed)
    model = build()
    t0 = time.perf_counter()
    history = _fit(model, lambda m, xb: m.loss(xb), xtr, epochs, batch_size, lr, seed, progress,
                   kind, on_epoch=lambda e: {"test_bits_per_dim": gm.bits_per_dim(model, xte)})
    train_time = time.perf_counter() - t0
    _, h, w = xtr.shape[1:]
    t0 = time.perf_counter()
    sampled = model.sample(samples, h, w, seed=seed)
    sample_time = (time.perf_counter() - t0) / samples
    result = {"kind": kind, "dataset": dataset, "image_shape": list(xtr.shape[1:]),
              "epochs": epochs, "history": history, "train_time_s": train_time,
              "test_bits_per_dim": history[-1]["test_bits_per_dim"],
              "baseline_bits_per_dim": gm.independent_bits_per_dim(xtr, xte),
              "sample_s_per_image": sample_time, "samples": samples,
              "parameters": model.num_parameters()}
    if out_dir:
        result["samples_png"] = save_image_grid(sampled, os.path.join(out_dir, "samples.png"),
                                                title=f"{title} samples")
    config = {"kind": kind, "image_shape": list(xtr.shape[1:]), **config, "dataset": dataset}
    return _finish(result, model, config, out_dir)


def pixelcnn_experiment(*, dataset: str = "digits", epochs: int = 10, channels: int = 32,
                        layers: int = 4, first_kernel: int = 7, lr: float = 5e-3,
                        batch_size: int = 64, train_limit: int | None = None,
                        test_limit: int | None = None, samples: int = 16, seed: int = 0,
                        out_dir: str | None = None, progress: bool = False) -> dict:
    """PixelCNN on binarized images (pixel > 0.5): test NLL in bits per pixel against the
    independent-pixel baseline (each pixel its own training frequency), sampling time per image."""
    _check_positive(epochs=epochs, channels=channels, lr=lr, batch_size=batch_size,
                    samples=samples)
    return _pixel_experiment(
        "pixelcnn", "PixelCNN", lambda: gm.PixelCNN(channels, layers, first_kernel),
        {"channels": channels, "layers": layers, "first_kernel": first_kernel},
        dataset=dataset, epochs=epochs, lr=lr, batch_size=batch_size, train_limit=train_limit,
        test_limit=test_limit, samples=samples, seed=seed, out_dir=out_dir, progress=progress)


def pixelrnn_experiment(*, dataset: str = "digits", epochs: int = 10, hidden: int = 32,
                        row_kernel: int = 3, left_kernel: int = 7, lr: float = 5e-3,
                        batch_size: int = 64, train_limit: int | None = None,
                        test_limit: int | None = None, samples: int = 16, seed: int = 0,
                        out_dir: str | None = None, progress: bool = False) -> dict:
    """PixelRNN (:class:`~deepbasic.models.generative.PixelRNN`) on binarized images (pixel >
    0.5), as :func:`pixelcnn_experiment`: test NLL in bits per pixel against the independent-pixel
    baseline, sampling time per image."""
    _check_positive(epochs=epochs, hidden=hidden, row_kernel=row_kernel,
                    left_kernel=left_kernel, lr=lr, batch_size=batch_size, samples=samples)
    return _pixel_experiment(
        "pixelrnn", "PixelRNN", lambda: gm.PixelRNN(hidden, row_kernel, left_kernel),
        {"hidden": hidden, "row_kernel": row_kernel, "left_kernel": left_kernel},
        dataset=dataset, epochs=epochs, lr=lr, batch_size=batch_size, train_limit=train_limit,
        test_limit=test_limit, samples=samples, seed=seed, out_dir=out_dir, progress=progress)
