"""``deepbasic generate``: generative models (autoencoder, VAE, DCGAN, PixelCNN, PixelRNN), PNGs.

    deepbasic generate ae train --dataset fashion-mnist --epochs 5 --labels-per-class 100 --out runs/ae
    deepbasic generate vae train --dataset fashion-mnist --latent 2 --out runs/vae
    deepbasic generate gan train --dataset fashion-mnist --epochs 5 --out runs/gan
    deepbasic generate pixelcnn train --dataset digits --epochs 10 --out runs/pixelcnn
    deepbasic generate pixelrnn train --dataset digits --epochs 10 --out runs/pixelrnn
    deepbasic generate vae sample --checkpoint runs/vae/model.safetensors --n 64 --out vae.png

``train`` runs the experiment of :mod:`deepbasic.train.generative` and prints its numbers
(autoencoder: classifier accuracy on codes vs raw pixels with few labels; VAE: held-out ELBO;
GAN: losses and Frechet distance per epoch; PixelCNN, PixelRNN: bits per pixel vs the
independent-pixel baseline); ``sample`` draws images from a trained model (the autoencoder
reconstructs test images) and saves them as a PNG grid.
"""
from __future__ import annotations

import os
import time

from deepbasic.cli_args import CLIError, hidden_sizes, non_negative_int, positive_float, positive_int

DATASETS = ["digits", "fashion-mnist", "mnist"]
KINDS = ("ae", "vae", "gan", "pixelcnn", "pixelrnn")


def _pair(text: str) -> tuple:
    sizes = hidden_sizes(text)
    if len(sizes) != 2:
        raise CLIError(f"--channels takes two widths like 32,64 (one per conv stage), got {text!r}")
    return sizes


def _common(args) -> dict:
    return dict(dataset=args.dataset, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                train_limit=args.train_limit, test_limit=args.test_limit, seed=args.seed,
                out_dir=args.out, progress=not args.no_progress)


def cmd_train(args) -> int:
    from deepbasic.data import DatasetNotFoundError
    from deepbasic.train import generative as tg

    print(f"{args.kind}: {args.dataset}, {args.epochs} epochs, lr {args.lr:g}, batch "
          f"{args.batch_size}, seed {args.seed}" + (f"; into {args.out}" if args.out else ""))
    try:
        if args.kind == "ae":
            r = tg.autoencoder_experiment(latent=args.latent, channels=_pair(args.channels),
                                          labels_per_class=args.labels_per_class,
                                          classifier_epochs=args.classifier_epochs,
                                          **_common(args))
        elif args.kind == "vae":
            r = tg.vae_experiment(latent=args.latent, channels=_pair(args.channels),
                                  likelihood=args.likelihood, **_common(args))
        elif args.kind == "gan":
            r = tg.gan_experiment(latent=args.latent, channels=_pair(args.channels),
                                  fid_samples=args.fid_samples,
                                  classifier_epochs=args.classifier_epochs, **_common(args))
        elif args.kind == "pixelrnn":
            r = tg.pixelrnn_experiment(hidden=args.hidden, row_kernel=args.row_kernel,
                                       left_kernel=args.left_kernel, samples=args.samples,
                                       **_common(args))
        else:
            r = tg.pixelcnn_experiment(channels=args.channels, layers=args.layers,
                                       first_kernel=args.first_kernel, samples=args.samples,
                                       **_common(args))
    except (ValueError, DatasetNotFoundError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    print(f"{r['train_time_s']:.1f} s of training")
    if args.kind == "ae":
        print(f"test reconstruction MSE: {r['test_mse']:.5f}")
        print(f"softmax classifier with {r['labels_per_class']} labels per class "
              f"({r['labelled_examples']} images): encoder features {r['feature_accuracy']:.4f}, "
              f"raw pixels {r['pixel_accuracy']:.4f} test accuracy")
    elif args.kind == "vae":
        print(f"held-out ELBO: {r['test_elbo']:.3f} nats per image "
              f"({r['test_bits_per_dim']:.4f} bits per pixel)")
    elif args.kind == "gan":
        print(f"feature classifier test accuracy {r['classifier_accuracy']:.4f}; Frechet distance "
              f"between test halves {r['frechet_test_halves']:.4f}")
        for h in r["history"]:
            print(f"epoch {h['epoch']}: D loss {h['d_loss']:.4f}, G loss {h['g_loss']:.4f}, "
                  f"D(real) {h['d_real']:.3f}, D(fake) {h['d_fake']:.3f}, "
                  f"Frechet distance {h['frechet']:.4f}")
    else:
        name = "PixelCNN" if args.kind == "pixelcnn" else "PixelRNN"
        print(f"test NLL: {name} {r['test_bits_per_dim']:.4f} bits per pixel, independent "
              f"pixels {r['baseline_bits_per_dim']:.4f}")
        print(f"sampling: {1000 * r['sample_s_per_image']:.1f} ms per image")
    if args.out:
        pngs = [v for k, v in r.items() if k.endswith("_png")] + r.get("sample_pngs", [])
        for p in pngs:
            print(f"figure: {p}")
        print(f"model: {r['checkpoint']}\nresult: {os.path.join(args.out, 'result.json')}")
    return 0


def cmd_sample(args) -> int:
    import numpy as np

    from deepbasic import backend
    from deepbasic.creation import randn
    from deepbasic.tensor import Tensor, no_grad
    from deepbasic.train import generative as tg

    if not os.path.isfile(args.checkpoint):
        raise CLIError(f"--checkpoint {args.checkpoint}: no such file")
    try:
        model, config = tg.load_generative(args.checkpoint)
    except (ValueError, KeyError) as e:
        raise CLIError(f"--checkpoint {args.checkpoint}: {str(e).splitlines()[0]}") from None
    if config["kind"] != args.kind:
        raise CLIError(f"--checkpoint {args.checkpoint} holds a {config['kind']} model, not "
                       f"{args.kind}")
    backend.manual_seed(args.seed)
    t0 = time.perf_counter()
    if args.kind == "ae":
        x = tg.load_images(config["dataset"], 1, args.n, args.seed)[2]
        with no_grad():
            recon = backend.to_numpy(model(Tensor(x)).data)
        images, title = np.concatenate([x, recon]), "test images (top) and reconstructions"
        cols = len(x)
    elif args.kind == "vae":
        images, title, cols = model.sample(args.n), "VAE samples", 8
    elif args.kind == "gan":
        with no_grad():
            images = backend.to_numpy(model(randn(args.n, model.latent)).data)
        title, cols = "DCGAN samples", 8
    else:
        _, h, w = config["image_shape"]
        title = "PixelCNN samples" if args.kind == "pixelcnn" else "PixelRNN samples"
        images, cols = model.sample(args.n, h, w, seed=args.seed), 8
    ms = 1000 * (time.perf_counter() - t0) / args.n
    path = tg.save_image_grid(images, args.out, cols=cols, title=title)
    print(f"{args.n} {'reconstructions' if args.kind == 'ae' else 'samples'} in {ms:.2f} ms "
          f"per image: {path}")
    return 0


def _add_train(sub, kind: str):
    t = sub.add_parser("train", help=f"train a {kind} and report its numbers")
    t.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    t.add_argument("--epochs", type=positive_int,
                   default=10 if kind in ("pixelcnn", "pixelrnn") else 5)
    t.add_argument("--lr", type=positive_float,
                   default={"gan": 2e-4, "pixelcnn": 5e-3, "pixelrnn": 5e-3}.get(kind, 2e-3),
                   help="Adam")
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--train-limit", type=positive_int, metavar="N",
                   help="use only N training images (a seeded choice)")
    t.add_argument("--test-limit", type=positive_int, metavar="N")
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--out", metavar="DIR", help="PNGs, model.safetensors, result.json")
    t.add_argument("--no-progress", action="store_true")
    if kind == "pixelcnn":
        t.add_argument("--channels", type=positive_int, default=32, help="feature maps per layer")
        t.add_argument("--layers", type=non_negative_int, default=4, help="3x3 mask-B layers")
        t.add_argument("--first-kernel", type=positive_int, default=7,
                       help="odd size of the mask-A convolution")
        t.add_argument("--samples", type=positive_int, default=16, help="images to sample")
    elif kind == "pixelrnn":
        t.add_argument("--hidden", type=positive_int, default=32, help="LSTM and feature width")
        t.add_argument("--row-kernel", type=positive_int, default=3,
                       help="odd width of the convolution along the row above")
        t.add_argument("--left-kernel", type=positive_int, default=7,
                       help="pixels to the left seen by the causal row convolution")
        t.add_argument("--samples", type=positive_int, default=16, help="images to sample")
    else:
        t.add_argument("--latent", type=positive_int, default={"ae": 32, "vae": 2, "gan": 32}[kind])
        t.add_argument("--channels", default="32,64", metavar="C1,C2",
                       help="filters of the two stride-2 conv stages")
    if kind == "ae":
        t.add_argument("--labels-per-class", type=positive_int, default=100)
        t.add_argument("--classifier-epochs", type=positive_int, default=100,
                       help="epochs of the softmax classifiers")
    if kind == "vae":
        t.add_argument("--likelihood", default="bernoulli", choices=["bernoulli", "gaussian"])
    if kind == "gan":
        t.add_argument("--fid-samples", type=positive_int, default=1000,
                       help="generated and test images in the Frechet distance")
        t.add_argument("--classifier-epochs", type=positive_int, default=3,
                       help="epochs of the feature classifier")
    t.set_defaults(func=cmd_train, kind=kind)


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generative models: autoencoder, VAE, DCGAN, "
                                               "PixelCNN, PixelRNN")
    kinds = p.add_subparsers(dest="kind_name", required=True, metavar="|".join(KINDS))
    helps = {"ae": "convolutional autoencoder; few-label classification on its codes",
             "vae": "variational autoencoder: ELBO, samples, interpolation, 2-D latent map",
             "gan": "DCGAN: samples and a Frechet distance per epoch",
             "pixelcnn": "PixelCNN on binarized images: bits per pixel, samples",
             "pixelrnn": "PixelRNN (row LSTM) on binarized images: bits per pixel, samples"}
    for kind in KINDS:
        k = kinds.add_parser(kind, help=helps[kind])
        sub = k.add_subparsers(dest="action", required=True, metavar="train|sample")
        _add_train(sub, kind)
        s = sub.add_parser("sample", help="images from a trained model as a PNG grid")
        s.add_argument("--checkpoint", required=True, metavar="FILE",
                       help="model.safetensors written by train")
        s.add_argument("--n", type=positive_int, default=64 if kind != "ae" else 8,
                       help="images to draw (ae: test images to reconstruct)")
        s.add_argument("--seed", type=non_negative_int, default=0)
        s.add_argument("--out", required=True, metavar="PNG")
        s.set_defaults(func=cmd_sample, kind=kind)
