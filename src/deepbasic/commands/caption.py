"""``deepbasic caption``: image captioning on generated scenes (CNN encoder, LSTM decoder).

    deepbasic caption train --scenes 8000 --epochs 15 --out runs/caption
    deepbasic caption sample --checkpoint runs/caption/best.safetensors --scenes 8 --beam 3
    deepbasic caption sample --checkpoint runs/caption/best.safetensors --image scene.png

``train`` generates train / validation / test scenes (deepbasic.data.shapes), trains the
captioner with teacher forcing and prints BLEU-4 of greedy and beam-search captions on the test
scenes; ``sample`` captions new scenes (or PNG files of the same size) with a trained model and
saves them with their captions as a PNG. See :mod:`deepbasic.train.captioning`.
"""
from __future__ import annotations

import os
import time

from deepbasic.cli_args import CLIError, hidden_sizes, non_negative_int, positive_float, positive_int
from deepbasic.commands._images import load_model_checkpoint, read_images


def cmd_train(args) -> int:
    from deepbasic.train.captioning import caption_experiment

    print(f"captioning: {args.scenes} training scenes of {args.size}x{args.size}, {args.epochs} "
          f"epochs, lr {args.lr:g}, batch {args.batch_size}, seed {args.seed}"
          + (f"; into {args.out}" if args.out else ""))
    if args.resume and not args.out:
        raise CLIError("--resume needs --out (the run to continue)")
    try:
        r = caption_experiment(train_scenes=args.scenes, val_scenes=args.val_scenes,
                               test_scenes=args.test_scenes, size=args.size, epochs=args.epochs,
                               lr=args.lr, batch_size=args.batch_size, hidden=args.hidden,
                               embed=args.embed, channels=args.channels,
                               feature_input=args.feature_input, beam=args.beam,
                               seed=args.seed, out_dir=args.out, resume=args.resume,
                               progress=not args.no_progress)
    except ValueError as e:
        raise CLIError(str(e).splitlines()[0]) from None
    print(f"vocabulary {r['vocab_size']} words, {r['parameters']:,} parameters, "
          f"{r['train_time_s']:.1f} s of training")
    for method in ("greedy", "beam"):
        label = "greedy" if method == "greedy" else f"beam {r['beam']}"
        print(f"test BLEU-4 ({label}): {r['test_bleu4'][method]:.4f}   exact caption: "
              f"{r['test_exact_match'][method]:.3f}   "
              f"{1000 * r['decode_s_per_image'][method]:.2f} ms per image")
    for e in r["examples"][:4]:
        print(f"  reference: {e['reference']}\n  generated: {e['beam']}")
    if args.out:
        print(f"captions: {r['captions_png']}\nresult: {os.path.join(args.out, 'result.json')}")
    return 0


def cmd_sample(args) -> int:
    from deepbasic.data.shapes import generate_scenes
    from deepbasic.train.captioning import decode_captions, load_captioner
    from deepbasic.train.plots import plot_captions

    model, vocab, config = load_model_checkpoint(args.checkpoint, load_captioner, "captioning")
    refs = None
    if args.image:
        images = read_images(args.image, model.input_shape)
    else:
        scenes = generate_scenes(args.scenes, seed=args.seed, size=config["size"],
                                 **config.get("scene_options", {}))
        images, refs = scenes.images, [c[0] for c in scenes.captions]
    t0 = time.perf_counter()
    method = "greedy" if args.beam == 1 else "beam"
    captions = decode_captions(model, vocab, images, method, beam=args.beam,
                               max_len=config.get("max_len", 20))
    ms = 1000 * (time.perf_counter() - t0) / len(images)
    for i, cap in enumerate(captions):
        print(f"{i:3d}  {cap}" + (f"\n     reference: {refs[i]}" if refs else ""))
    print(f"{ms:.2f} ms per image ({method}{'' if method == 'greedy' else f' {args.beam}'})")
    if args.out:
        path = plot_captions(images, captions, args.out, references=refs)
        print(f"captions: {path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("caption", help="image captioning on generated scenes: CNN "
                                              "encoder, LSTM decoder, BLEU-4")
    sub = p.add_subparsers(dest="action", required=True, metavar="train|sample")
    t = sub.add_parser("train", help="train a captioner and measure BLEU-4 on held-out scenes")
    t.add_argument("--scenes", type=positive_int, default=8000, metavar="N",
                   help="training scenes")
    t.add_argument("--val-scenes", type=positive_int, default=500, metavar="N")
    t.add_argument("--test-scenes", type=positive_int, default=1000, metavar="N")
    t.add_argument("--size", type=positive_int, default=64, help="scene side in pixels")
    t.add_argument("--epochs", type=positive_int, default=15)
    t.add_argument("--lr", type=positive_float, default=2e-3, help="Adam, cosine schedule")
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--hidden", type=positive_int, default=256, help="LSTM hidden units")
    t.add_argument("--embed", type=positive_int, default=64, help="word embedding size")
    t.add_argument("--channels", type=hidden_sizes, default=(16, 32, 64, 64),
                   help="encoder filters per conv block (each halves the image), e.g. 16,32,64,64")
    t.add_argument("--feature-input", type=non_negative_int, default=64, metavar="N",
                   help="image features fed to the LSTM at every step besides its initial state "
                        "(0: initial state only)")
    t.add_argument("--beam", type=positive_int, default=3, help="beam width for the test captions")
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--out", metavar="DIR", help="checkpoints, curves, captions.png, result.json")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)
    s = sub.add_parser("sample", help="caption new scenes or PNG images with a trained model")
    s.add_argument("--checkpoint", required=True, metavar="CKPT")
    s.add_argument("--scenes", type=positive_int, default=8, metavar="N",
                   help="new scenes to caption (ignored with --image)")
    s.add_argument("--image", nargs="+", metavar="PNG", help="caption these image files instead")
    s.add_argument("--seed", type=non_negative_int, default=100,
                   help="seed of the new scenes (training used 0-2)")
    s.add_argument("--beam", type=positive_int, default=3, help="beam width (1: greedy)")
    s.add_argument("--out", metavar="PNG", help="save the images with their captions here")
    s.set_defaults(func=cmd_sample)
