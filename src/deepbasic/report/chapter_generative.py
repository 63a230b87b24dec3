"""Chapters: generative models, one each: an autoencoder whose codes train a classifier from few
labels, a variational autoencoder, a DCGAN judged by a Frechet distance in a classifier's
feature space, a PixelCNN and a PixelRNN (row LSTM) against independent pixels.

Quick: the 8x8 digits, a few epochs each. Full: Fashion-MNIST (the digits when it is not on
disk) for the autoencoder, VAE and GAN, 5 epochs each; the pixel models on binarized digits.
"""
from __future__ import annotations

import os

from deepbasic.report.chapters import Chapter, ChapterResult, on_disk, register

QUICK = dict(dataset="digits", ae_epochs=10, vae_epochs=15, gan_epochs=8, pixel_epochs=8,
             labels_per_class=10)
FULL = dict(dataset="fashion-mnist", ae_epochs=5, vae_epochs=5, gan_epochs=5, pixel_epochs=10,
            labels_per_class=100)
QUICK_NOTE = "Quick version: seconds of training on 8x8 digits; docs/RESULTS.md has longer runs."


def _settings(quick: bool) -> dict:
    return dict(QUICK if quick or not on_disk() else FULL)


def _result(numbers, figures, quick):
    return ChapterResult(numbers=numbers, figures=figures, notes=[QUICK_NOTE] if quick else [])


def run_ae(out_dir: str, quick: bool) -> ChapterResult:
    from deepbasic.train.generative import autoencoder_experiment

    s = _settings(quick)
    ae = autoencoder_experiment(dataset=s["dataset"], epochs=s["ae_epochs"],
                                labels_per_class=s["labels_per_class"],
                                out_dir=os.path.join(out_dir, "generative", "ae"))
    return _result([
        ("data", s["dataset"]),
        ("test reconstruction MSE", f"{ae['test_mse']:.5f} ({ae['train_time_s']:.0f} s)"),
        (f"classifier from {ae['labels_per_class']} labels per class: encoder codes vs raw "
         f"pixels", f"{ae['feature_accuracy']:.4f} vs {ae['pixel_accuracy']:.4f}"),
    ], [("generative/ae/reconstructions.png", "Test images and their reconstructions")], quick)


def run_vae(out_dir: str, quick: bool) -> ChapterResult:
    from deepbasic.train.generative import vae_experiment

    s = _settings(quick)
    vae = vae_experiment(dataset=s["dataset"], epochs=s["vae_epochs"], latent=2,
                         out_dir=os.path.join(out_dir, "generative", "vae"))
    return _result([
        ("data", s["dataset"]),
        ("held-out ELBO (2-D latent)", f"{vae['test_elbo']:.1f} nats per image "
                                       f"({vae['test_bits_per_dim']:.3f} bits per pixel)"),
    ], [("generative/vae/samples.png", "VAE samples"),
        ("generative/vae/interpolation.png", "Decoded along a line between two codes"),
        ("generative/vae/latent_map.png", "The 2-D latent space, decoded on a grid")], quick)


def run_gan(out_dir: str, quick: bool) -> ChapterResult:
    from deepbasic.train.generative import gan_experiment

    s = _settings(quick)
    gan = gan_experiment(dataset=s["dataset"], epochs=s["gan_epochs"], lr=1e-3,
                         out_dir=os.path.join(out_dir, "generative", "gan"))
    frechet = [r["frechet"] for r in gan["history"]]
    return _result([
        ("data", s["dataset"]),
        ("Frechet distance per epoch", " -> ".join(f"{f:.1f}" for f in frechet)
         + f" (two halves of the test set: {gan['frechet_test_halves']:.1f})"),
    ], [(os.path.relpath(gan["sample_pngs"][-1], out_dir), "DCGAN samples after the last epoch")],
        quick)


def _pixel(out_dir: str, quick: bool, kind: str) -> ChapterResult:
    from deepbasic.train.generative import pixelcnn_experiment, pixelrnn_experiment

    s = _settings(quick)
    root = os.path.join(out_dir, "generative", kind)
    if kind == "pixelcnn":
        r = pixelcnn_experiment(dataset="digits", epochs=s["pixel_epochs"], channels=16,
                                layers=2, first_kernel=5, out_dir=root)
    else:
        r = pixelrnn_experiment(dataset="digits", epochs=s["pixel_epochs"], hidden=32,
                                out_dir=root)
    return _result([
        ("data", "8x8 digits, binarized (pixel > 0.5)"),
        ("test bits per pixel", f"{r['test_bits_per_dim']:.3f} vs {r['baseline_bits_per_dim']:.3f} "
                                f"for independent pixels"),
        ("sampling", f"{1000 * r['sample_s_per_image']:.0f} ms per image, one pixel at a time "
                     f"({r['parameters']:,} parameters)"),
    ], [(f"generative/{kind}/samples.png", f"{kind} samples")], quick)


def run_pixelcnn(out_dir: str, quick: bool) -> ChapterResult:
    return _pixel(out_dir, quick, "pixelcnn")


def run_pixelrnn(out_dir: str, quick: bool) -> ChapterResult:
    return _pixel(out_dir, quick, "pixelrnn")


register(Chapter(
    key="autoencoder",
    title="Generative models: an autoencoder",
    idea=("An autoencoder compresses an image to a small code and reconstructs it; the encoder "
          "learns features without labels, which can then train a classifier from few labels."),
    command="deepbasic generate ae train --dataset fashion-mnist --out runs/ae",
    run=run_ae,
))
register(Chapter(
    key="vae",
    title="Generative models: a variational autoencoder",
    idea=("A VAE's encoder gives a distribution over codes; a sample drawn by the "
          "reparameterization trick (mu + sigma * eps) keeps it differentiable. The loss is "
          "reconstruction + KL to the prior (the negative ELBO), and decoding prior samples makes "
          "new images."),
    command="deepbasic generate vae train --dataset fashion-mnist --latent 2 --out runs/vae",
    run=run_vae,
))
register(Chapter(
    key="gan",
    title="Generative models: a GAN",
    idea=("A generator turns noise into images; a discriminator tells them from real ones; "
          "they train in turns with two optimizers, the generator on the non-saturating loss. "
          "The Frechet distance between real and generated images in a classifier's feature "
          "space measures the samples."),
    command="deepbasic generate gan train --dataset fashion-mnist --out runs/gan",
    run=run_gan,
))
register(Chapter(
    key="pixelcnn",
    title="Generative models: PixelCNN",
    idea=("A PixelCNN writes an image one pixel at a time from the top-left corner; masked "
          "convolutions (mask A first, then B) let each output see only earlier pixels, so the "
          "likelihood is exact."),
    command="deepbasic generate pixelcnn train --dataset digits --out runs/pixelcnn",
    run=run_pixelcnn,
))
register(Chapter(
    key="pixelrnn",
    title="Generative models: PixelRNN",
    idea=("A PixelRNN carries what it has seen in an LSTM: here a row LSTM runs down the image "
          "over the rows above, and a causal convolution along the current row adds the pixels "
          "to the left."),
    command="deepbasic generate pixelrnn train --dataset digits --out runs/pixelrnn",
    run=run_pixelrnn,
))
