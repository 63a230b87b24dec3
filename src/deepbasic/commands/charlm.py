"""``deepbasic charlm``: a character-level LSTM language model, trained by truncated BPTT.

    deepbasic charlm train --epochs 5 --out runs/charlm            # the standard library's source
    deepbasic charlm train --text book.txt --hidden 512 --out runs/book
    deepbasic charlm sample --checkpoint runs/charlm/best.safetensors --prime "def " \\
        --length 500 --temperature 0.8

``train`` splits the text (the last 10% held out), trains the LSTM and prints its held-out bits
per character beside a Kneser-Ney n-gram's on the same split; ``sample`` writes text from a
trained model. See :mod:`deepbasic.train.language`.
"""
from __future__ import annotations

import os

from deepbasic.cli_args import (CLIError, non_negative_float, non_negative_int, positive_float,
                                positive_int, probability)


def cmd_train(args) -> int:
    from deepbasic.data.text import load_text
    from deepbasic.train.language import charlm_experiment

    text = None
    if args.text is not None:
        try:
            text = load_text(args.text, errors="replace")
        except (OSError, ValueError) as e:
            raise CLIError(f"--text {args.text}: {e}") from None
    if args.resume and not args.out:
        raise CLIError("--resume needs --out (the run to continue)")
    what = args.text or "the Python standard library's source"
    print(f"character language model on {what} (first {args.chars:,} characters, last "
          f"{args.held_out:.0%} held out): {args.layers}-layer {args.cell.upper()} of "
          f"{args.hidden}, {args.epochs} epochs, {args.batch_size} streams x {args.seq_len} steps"
          + (f"; into {args.out}" if args.out else ""))
    try:
        r = charlm_experiment(text, max_chars=args.chars, held_out=args.held_out,
                              hidden=args.hidden, num_layers=args.layers, embed=args.embed,
                              cell=args.cell, dropout=args.dropout, seq_len=args.seq_len,
                              batch_size=args.batch_size, epochs=args.epochs, lr=args.lr,
                              clip=args.clip, ngram_order=args.ngram_order, seed=args.seed,
                              out_dir=args.out, resume=args.resume,
                              progress=not args.no_progress, temperature=args.temperature)
    except ValueError as e:
        raise CLIError(str(e).splitlines()[0]) from None
    print(f"{r['train_chars']:,} training and {r['held_out_chars']:,} held-out characters, "
          f"vocabulary {r['vocab_size']}, {r['parameters']:,} parameters, "
          f"{r['train_time_s']:.0f} s of training ({r['chars_per_s']:,.0f} chars/s)")
    print(f"held-out bits per character: LSTM {r['val_bpc']:.3f}   "
          f"{r['ngram_order']}-gram (Kneser-Ney) {r['ngram_bpc']:.3f}")
    print(f"sample (temperature {r['temperature']:g}):\ndef {r['sample']}")
    if args.out:
        print(f"result: {os.path.join(args.out, 'result.json')}")
    return 0


def cmd_sample(args) -> int:
    from deepbasic.commands._images import load_model_checkpoint
    from deepbasic.models.recurrent import sample_text
    from deepbasic.train.language import load_charlm

    model, vocab, _ = load_model_checkpoint(args.checkpoint, load_charlm,
                                            "character language model")
    prime = args.prime.encode().decode("unicode_escape") if args.escapes else args.prime
    try:
        text = sample_text(model, vocab, args.length, prime=prime, temperature=args.temperature,
                           seed=args.seed)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(prime + text)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("charlm", help="character-level LSTM language model: train "
                                             "(against an n-gram) or sample")
    sub = p.add_subparsers(dest="action", required=True, metavar="train|sample")
    t = sub.add_parser("train", help="train on a text and compare held-out bits per character "
                                     "with an n-gram")
    t.add_argument("--text", metavar="FILE",
                   help="a UTF-8 text file (default: the Python standard library's source)")
    t.add_argument("--chars", type=positive_int, default=1_000_000, metavar="N",
                   help="use the first N characters")
    t.add_argument("--held-out", type=probability, default=0.1, metavar="F",
                   help="the fraction at the end of the text held out")
    t.add_argument("--hidden", type=positive_int, default=256)
    t.add_argument("--layers", type=positive_int, default=2)
    t.add_argument("--embed", type=positive_int, default=64)
    t.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    t.add_argument("--dropout", type=probability, default=0.0, help="between LSTM layers")
    t.add_argument("--seq-len", type=positive_int, default=100,
                   help="characters per chunk: how far back gradients flow")
    t.add_argument("--batch-size", type=positive_int, default=64, help="parallel streams")
    t.add_argument("--epochs", type=positive_int, default=5)
    t.add_argument("--lr", type=positive_float, default=2e-3, help="Adam, cosine schedule")
    t.add_argument("--clip", type=positive_float, default=5.0, help="gradient norm clipping")
    t.add_argument("--ngram-order", type=positive_int, default=6)
    t.add_argument("--temperature", type=non_negative_float, default=0.8)
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--out", metavar="DIR")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)
    s = sub.add_parser("sample", help="write text with a trained model")
    s.add_argument("--checkpoint", required=True, metavar="CKPT")
    s.add_argument("--prime", default="def ", help="the text to start from")
    s.add_argument("--escapes", action="store_true", help="read \\n, \\t in --prime as escapes")
    s.add_argument("--length", type=non_negative_int, default=500)
    s.add_argument("--temperature", type=non_negative_float, default=0.8,
                   help="below 1: safer text; above 1: wilder; 0: always the likeliest")
    s.add_argument("--seed", type=non_negative_int, default=0)
    s.set_defaults(func=cmd_sample)
