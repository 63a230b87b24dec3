"""Image captioning on generated scenes: data, training through the Trainer, decoding, BLEU-4.

    result = caption_experiment(train_scenes=8000, epochs=15, out_dir="runs/caption")
    result["test_bleu4"]["beam"]       # corpus BLEU-4 of beam-search captions on held-out scenes

Scenes come from :func:`deepbasic.data.shapes.scene_splits` (train, validation and test drawn
with different seeds, so no test scene is seen in training). The vocabulary is built from the
training captions; the model learns the canonical caption of each scene with teacher forcing;
BLEU-4 (nltk's ``corpus_bleu``, every reference caption of a scene counted) is measured on the
test scenes for greedy and beam-search decoding. ``load_captioner`` rebuilds a trained model and
its vocabulary from a checkpoint.
"""
from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np

from deepbasic import backend
from deepbasic.data.loader import DataLoader
from deepbasic.serialization import atomic_write
from deepbasic.train.checkpoint import load_checkpoint

class CaptionLoader(DataLoader):
    """Minibatches for teacher forcing: ``((images, ids[:, :-1]), ids[:, 1:])``.

    images: (N, C, H, W) float32; ids: (N, L) int64 encoded captions (``<START> .. <END>
    <NULL>..``). The decoder reads the first L-1 ids and predicts the last L-1.
    """

    def __init__(self, images, ids, batch_size: int = 64, shuffle: bool = False,
                 seed: int | None = None):
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] < 2:
            raise ValueError(f"CaptionLoader: expected caption ids (N, L) with L >= 2, got shape "
                             f"{ids.shape}")
        super().__init__((images, ids), batch_size=batch_size, shuffle=shuffle, seed=seed)

    def __iter__(self):
        for xb, yb in super().__iter__():
            yield (xb, yb[:, :-1]), yb[:, 1:]


def word_accuracy(scores: np.ndarray, targets: np.ndarray, null_id: int = 0) -> float:
    """The fraction of real (non-``<NULL>``) next words predicted right: scores (N, T, V),
    targets (N, T)."""
    real = targets != null_id
    return float(((scores.argmax(axis=-1) == targets) & real).sum() / max(real.sum(), 1))


def bleu4(references, hypotheses) -> float:
    """Corpus BLEU-4 (nltk's ``corpus_bleu``, uniform 1..4-gram weights, no smoothing).

    references: per example, a list of reference captions (strings or token lists);
    hypotheses: per example, one caption. 1.0 when every hypothesis equals a reference.
    """
    from nltk.translate.bleu_score import corpus_bleu

    from deepbasic.data.vocab import tokenize

    if len(references) != len(hypotheses):
        raise ValueError(f"bleu4: {len(references)} reference lists but {len(hypotheses)} "
                         f"hypotheses")
    if not hypotheses:
        raise ValueError("bleu4: no captions to score")
    toks = [[tokenize(r) if isinstance(r, str) else list(r) for r in refs] for refs in references]
    hyps = [tokenize(h) if isinstance(h, str) else list(h) for h in hypotheses]
    with warnings.catch_warnings():  # nltk warns when a corpus has no 4-gram match: BLEU is 0
        warnings.simplefilter("ignore", UserWarning)
        return float(corpus_bleu(toks, hyps))


def decode_captions(model, vocab, images, method: str = "beam", beam: int = 3, max_len: int = 20,
                    batch_size: int = 256) -> list[str]:
    """Captions of ``images`` (N, C, H, W) by ``"greedy"`` or ``"beam"`` search, as strings."""
    if method not in ("greedy", "beam"):
        raise ValueError(f"decode_captions: method must be 'greedy' or 'beam', got {method!r}")
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        ids = model.greedy(batch, max_len) if method == "greedy" else \
            model.beam_search(batch, beam=beam, max_len=max_len)
        out += [vocab.decode(row) for row in ids]
    return out


def caption_experiment(*, train_scenes: int = 8000, val_scenes: int = 500, test_scenes: int = 1000,
                       size: int = 64, epochs: int = 15, lr: float = 2e-3, batch_size: int = 64,
                       embed: int = 64, hidden: int = 256, channels=(16, 32, 64, 64),
                       feature_input: int = 64,
                       beam: int = 3, max_len: int = 20, seed: int = 0, out_dir: str | None = None,
                       resume: bool = False, progress: bool = True, verbose: bool = True,
                       examples: int = 12, scene_options: dict | None = None) -> dict:
    """Train a :class:`~deepbasic.models.captioner.Captioner` on generated scenes and measure it.

    Returns a dict with the vocabulary size, parameters, history, training time, test BLEU-4 of
    greedy and beam decoding, the fraction of test scenes whose caption is exactly one of their
    references, and example captions; with ``out_dir``: checkpoints, metrics.jsonl, curves.png,
    ``captions.png`` (test scenes with their generated captions) and ``result.json``.
    """
    from deepbasic import optim
    from deepbasic.data.shapes import scene_splits
    from deepbasic.data.vocab import Vocabulary
    from deepbasic.models.captioner import Captioner, caption_loss
    from deepbasic.train.recipes import make_scheduler
    from deepbasic.train.trainer import Trainer

    backend.manual_seed(seed)
    scene_options = dict(scene_options or {})
    sets = scene_splits(train_scenes, val_scenes, test_scenes, size=size, **scene_options)
    vocab = Vocabulary.build([caps[0] for caps in sets["train"].captions])
    ids = {k: vocab.encode_batch([caps[0] for caps in s.captions], max_len)
           for k, s in sets.items()}
    input_shape = tuple(sets["train"].images.shape[1:])
    model_kwargs = {"input_shape": list(input_shape), "channels": list(channels), "embed": embed,
                    "hidden": hidden, "feature_input": feature_input}
    model = Captioner(len(vocab), **{**model_kwargs, "input_shape": input_shape})
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = make_scheduler("cosine", optimizer, epochs)
    config = {"model": "captioner", "model_kwargs": model_kwargs, "vocab": vocab.words,
              "max_len": max_len, "size": size, "scene_options": scene_options, "seed": seed,
              "lr": lr, "batch_size": batch_size, "train_scenes": train_scenes}
    trainer = Trainer(model, lambda s, t: caption_loss(s, t, vocab.null_id), optimizer, scheduler,
                      out_dir=out_dir, metrics={"accuracy": word_accuracy}, monitor="val_loss",
                      mode="min", progress=progress, config=config, clip_grad_norm=5.0,
                      verbose=verbose)
    train = CaptionLoader(sets["train"].images, ids["train"], batch_size, shuffle=True, seed=seed)
    val = CaptionLoader(sets["val"].images, ids["val"], 256)
    start = time.perf_counter()
    history = trainer.fit(train, val, epochs=epochs, resume=resume)
    train_time = time.perf_counter() - start
    model.eval()
    test = sets["test"]
    refs = test.captions
    bleu, exact, decode_time, captions = {}, {}, {}, {}
    for method in ("greedy", "beam"):
        t0 = time.perf_counter()
        captions[method] = decode_captions(model, vocab, test.images, method, beam, max_len)
        decode_time[method] = (time.perf_counter() - t0) / len(test.images)
        bleu[method] = bleu4(refs, captions[method])
        exact[method] = float(np.mean([c in r for c, r in zip(captions[method], refs)]))
    result = {
        "vocab_size": len(vocab), "parameters": model.num_parameters(),
        "train_scenes": train_scenes, "test_scenes": test_scenes, "epochs": len(history),
        "train_time_s": train_time, "history": history, "test_bleu4": bleu,
        "test_exact_match": exact, "decode_s_per_image": decode_time, "beam": beam,
        "examples": [{"reference": refs[i][0], "greedy": captions["greedy"][i],
                      "beam": captions["beam"][i]} for i in range(min(examples, len(refs)))],
    }
    if out_dir:
        from deepbasic.train.plots import plot_captions

        result["captions_png"] = plot_captions(
            test.images[:examples], [e["beam"] for e in result["examples"]],
            os.path.join(out_dir, "captions.png"),
            references=[e["reference"] for e in result["examples"]])
        with atomic_write(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
    return result


def load_captioner(path: str):
    """Rebuild a captioner and its vocabulary from a checkpoint of :func:`caption_experiment`.
    Returns ``(model, vocab, config)``, the model in evaluation mode."""
    from deepbasic.data.vocab import Vocabulary
    from deepbasic.models.captioner import Captioner

    ckpt = load_checkpoint(path)
    config = ckpt.extra.get("config") or {}
    if config.get("model") != "captioner":
        raise ValueError(f"{path}: not a captioning checkpoint (it holds "
                         f"{config.get('model', 'an unknown model')!r})")
    vocab = Vocabulary(config["vocab"])
    kwargs = dict(config["model_kwargs"])
    kwargs["input_shape"] = tuple(kwargs["input_shape"])
    model = Captioner(len(vocab), **kwargs)
    model.load_state_dict(ckpt.model)
    model.eval()
    return model, vocab, config
