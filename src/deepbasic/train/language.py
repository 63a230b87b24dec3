"""A character-level language model on a text, against a count-based n-gram on the same split.

    r = charlm_experiment(max_chars=1_000_000, epochs=5, out_dir="runs/charlm")
    r["val_bpc"], r["ngram_bpc"]         # held-out bits per character: LSTM vs Kneser-Ney n-gram

The text (a file, or by default the Python standard library's own source: see
:func:`deepbasic.data.text.default_corpus`) is split by position into training and held-out
parts; the vocabulary is the training part's characters. The :class:`~deepbasic.models.recurrent.
CharLM` trains by truncated backpropagation through time (:class:`~deepbasic.train.sequence.
SequenceTrainer`) on ``batch_size`` parallel streams in chunks of ``seq_len`` characters; the
n-gram (:class:`~deepbasic.classic.ngram.NGramModel`, interpolated modified Kneser-Ney) is fitted
on the same training characters and scored on the same held-out characters. ``load_charlm``
rebuilds a trained model and its vocabulary from a checkpoint for :func:`sample_text`.
"""
from __future__ import annotations

import json
import os
import time

from deepbasic import backend
from deepbasic.serialization import atomic_write
from deepbasic.train.checkpoint import load_checkpoint


def charlm_experiment(text: str | None = None, *, max_chars: int = 1_000_000,
                      held_out: float = 0.1, hidden: int = 256, num_layers: int = 2,
                      embed: int = 64, cell: str = "lstm", dropout: float = 0.0,
                      seq_len: int = 100, batch_size: int = 64, epochs: int = 5, lr: float = 2e-3,
                      clip: float = 5.0, ngram_order: int = 6, seed: int = 0,
                      out_dir: str | None = None, resume: bool = False, progress: bool = True,
                      verbose: bool = True, sample_chars: int = 400,
                      temperature: float = 0.8) -> dict:
    """Train a character LSTM on ``text`` (default: the standard library's source, its first
    ``max_chars`` characters) and compare its held-out bits per character with an n-gram's.

    Returns a dict with the split sizes, the vocabulary size, parameters, history, ``val_bpc``
    (the LSTM's held-out bits per character after the last epoch), ``ngram_bpc`` (the
    ``ngram_order`` n-gram on the same characters), training time and a sample; with
    ``out_dir``: checkpoints (the vocabulary in their JSON metadata), metrics.jsonl, curves.png,
    bpc.png (bits per character per epoch against the n-gram), sample.txt and
    result.json.
    """
    from deepbasic import nn, optim
    from deepbasic.classic.ngram import NGramModel
    from deepbasic.data.text import CharVocab, batchify, default_corpus, split_text
    from deepbasic.models.recurrent import CharLM, sample_text
    from deepbasic.train.recipes import make_scheduler
    from deepbasic.train.sequence import SequenceTrainer

    backend.manual_seed(seed)
    source = "the Python standard library's source" if text is None else "the given text"
    if text is None:
        text = default_corpus(max_chars)
    elif max_chars:
        text = text[:max_chars]
    train_text, held_text = split_text(text, held_out)
    vocab = CharVocab.from_text(train_text)
    train_ids, held_ids = vocab.encode(train_text), vocab.encode(held_text)
    if len(held_ids) < 2 * batch_size:
        raise ValueError(f"charlm: the held-out text has {len(held_ids)} characters, too few for "
                         f"{batch_size} streams; use a longer text or a smaller batch size")
    t0 = time.perf_counter()
    ngram = NGramModel(order=ngram_order).fit(train_ids, vocab.size)
    ngram_bpc = ngram.bits_per_char(held_ids, context=train_ids)
    ngram_time = time.perf_counter() - t0
    model_kwargs = {"vocab_size": vocab.size, "embed": embed, "hidden": hidden,
                    "num_layers": num_layers, "cell": cell, "dropout": dropout}
    model = CharLM(**model_kwargs)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = make_scheduler("cosine", optimizer, epochs)
    config = {"model": "charlm", "model_kwargs": model_kwargs, "vocab": vocab.to_dict(),
              "source": source, "chars": len(text), "held_out": held_out, "seq_len": seq_len,
              "batch_size": batch_size, "lr": lr, "seed": seed}
    trainer = SequenceTrainer(model, nn.CrossEntropyLoss(), optimizer, scheduler,
                              seq_len=seq_len, clip_grad_norm=clip, out_dir=out_dir,
                              monitor="val_bpc", mode="min", progress=progress, config=config,
                              verbose=verbose)
    start = time.perf_counter()
    history = trainer.fit(batchify(train_ids, batch_size), batchify(held_ids, batch_size),
                          epochs=epochs, resume=resume)
    elapsed = time.perf_counter() - start
    sample = sample_text(model, vocab, sample_chars, prime="def ", temperature=temperature,
                         seed=seed)
    result = {
        "source": source, "train_chars": len(train_ids), "held_out_chars": len(held_ids),
        "vocab_size": vocab.size, "parameters": model.num_parameters(), "epochs": len(history),
        "val_bpc": history[-1]["val_bpc"], "best_val_bpc": trainer.best,
        "ngram_order": ngram_order, "ngram_bpc": ngram_bpc, "ngram_fit_s": ngram_time,
        "train_time_s": sum(r["train_time"] for r in history), "wall_time_s": elapsed,
        "chars_per_s": sum(r["examples"] for r in history) / max(
            sum(r["train_time"] for r in history), 1e-9),
        "history": history, "sample": sample, "temperature": temperature,
    }
    if out_dir:
        from deepbasic.train.plots import plot_bits_per_char

        result["bpc_png"] = plot_bits_per_char(
            history, {f"{ngram_order}-gram (Kneser-Ney)": ngram_bpc},
            os.path.join(out_dir, "bpc.png"))
        with atomic_write(os.path.join(out_dir, "sample.txt"), "w") as f:
            f.write("def " + sample)
        with atomic_write(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
    return result


def load_charlm(path: str):
    """Rebuild a character model and its vocabulary from a checkpoint of
    :func:`charlm_experiment`. Returns ``(model, vocab, config)``, the model in evaluation mode."""
    from deepbasic.data.text import CharVocab
    from deepbasic.models.recurrent import CharLM

    ckpt = load_checkpoint(path)
    config = ckpt.extra.get("config") or {}
    if config.get("model") != "charlm":
        raise ValueError(f"{path}: not a character language model checkpoint (it holds "
                         f"{config.get('model', 'an unknown model')!r})")
    vocab = CharVocab.from_dict(config["vocab"])
    model = CharLM(**config["model_kwargs"])
    model.load_state_dict(ckpt.model)
    model.eval()
    return model, vocab, config
