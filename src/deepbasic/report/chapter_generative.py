"""Chapter: generative models: an autoencoder whose codes train a classifier from few labels, a
variational autoencoder, a DCGAN judged by a Frechet distance in a classifier's feature space,
and a PixelCNN and a PixelRNN (row LSTM) against independent pixels.

Quick: the 8x8 digits, a few epochs each. Full: Fashion-MNIST (the digits when it is not on
disk), 5 epochs each; the PixelCNN on binarized digits either way.
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, on_disk, register

QUICK = dict(dataset="digits", ae_epochs=10, vae_epochs=15, gan_epochs=8, pixel_epochs=8,
             labels_per_class=10)
FULL = dict(dataset="fashion-mnist", ae_epochs=5, vae_epochs=5, gan_epochs=5, pixel_epochs=10,
            labels_per_class=100)


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.generative import (autoencoder_experiment, gan_experiment,
                                            pixelcnn_experiment, pixelrnn_experiment,
                                            vae_experiment)

    s = dict(QUICK if quick or not on_disk() else FULL)
    ds = s["dataset"]
    root = os.path.join(out_dir, "generative")
    ae = autoencoder_experiment(dataset=ds, epochs=s["ae_epochs"],
                                labels_per_class=s["labels_per_class"],
                                out_dir=os.path.join(root, "ae"))
    vae = vae_experiment(dataset=ds, epochs=s["vae_epochs"], latent=2,
                         out_dir=os.path.join(root, "vae"))
    gan = gan_experiment(dataset=ds, epochs=s["gan_epochs"], lr=1e-3,
                         out_dir=os.path.join(root, "gan"))
    pix = pixelcnn_experiment(dataset="digits", epochs=s["pixel_epochs"], channels=16, layers=2,
                              first_kernel=5, out_dir=os.path.join(root, "pixelcnn"))
    prnn = pixelrnn_experiment(dataset="digits", epochs=s["pixel_epochs"], hidden=32,
                               out_dir=os.path.join(root, "pixelrnn"))
    frechet = [r["frechet"] for r in gan["history"]]
    numbers = [
        ("data", f"{ds}"),
        ("autoencoder: test MSE", f"{ae['test_mse']:.5f} ({ae['train_time_s']:.0f} s)"),
        (f"classifier from {ae['labels_per_class']} labels per class: encoder codes vs raw "
         f"pixels", f"{ae['feature_accuracy']:.4f} vs {ae['pixel_accuracy']:.4f}"),
        ("VAE (2-D latent): held-out ELBO", f"{vae['test_elbo']:.1f} nats per image "
                                            f"({vae['test_bits_per_dim']:.3f} bits per pixel)"),
        ("DCGAN: Frechet distance per epoch", " -> ".join(f"{f:.1f}" for f in frechet)
         + f" (two halves of the test set: {gan['frechet_test_halves']:.1f})"),
        ("PixelCNN on binarized digits: test bits per pixel",
         f"{pix['test_bits_per_dim']:.3f} vs {pix['baseline_bits_per_dim']:.3f} for independent "
         f"pixels; sampling {1000 * pix['sample_s_per_image']:.0f} ms per image"),
        ("PixelRNN (row LSTM) on the same digits: test bits per pixel",
         f"{prnn['test_bits_per_dim']:.3f}; sampling {1000 * prnn['sample_s_per_image']:.0f} ms "
         f"per image"),
    ]
    figures = [("generative/ae/reconstructions.png", "Test images and their reconstructions"),
               ("generative/vae/samples.png", "VAE samples"),
               ("generative/vae/interpolation.png", "Decoded along a line between two codes"),
               ("generative/vae/latent_map.png", "The 2-D latent space, decoded on a grid"),
               (os.path.relpath(gan["sample_pngs"][-1], out_dir),
                "DCGAN samples after the last epoch"),
               ("generative/pixelcnn/samples.png", "PixelCNN samples, one pixel at a time"),
               ("generative/pixelrnn/samples.png", "PixelRNN samples")]
    return ChapterResult(numbers=numbers, figures=figures,
                         notes=["Quick version: seconds of training on 8x8 digits; "
                                "docs/RESULTS.md has the Fashion-MNIST runs."] if quick else [])


register(Chapter(
    key="generative",
    title="Generative models: autoencoders, VAE, GAN, PixelCNN, PixelRNN",
    idea=("An autoencoder compresses and reconstructs; its codes are features learned without "
          "labels. A VAE makes the code a distribution (the reparameterization trick keeps it "
          "trainable) so new images can be sampled. A GAN trains a generator against a "
          "discriminator. A PixelCNN writes an image one pixel at a time, each conditioned on "
          "the pixels before it through masked convolutions, and gives exact likelihoods."),
    command="deepbasic generate vae train --dataset fashion-mnist --latent 2 --out runs/vae",
    run=run,
))
