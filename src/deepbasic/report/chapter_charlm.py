"""Chapter: a character-level LSTM language model (many to many), trained by truncated
backpropagation through time, against a Kneser-Ney n-gram on the same split.

Quick: the first 150,000 characters of the standard library's source, a 1-layer LSTM of 128, 2
epochs. Full: 1,000,000 characters, 2 layers of 256, 5 epochs (what ``deepbasic charlm train``
does by default).
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register

QUICK = dict(max_chars=150_000, hidden=128, num_layers=1, embed=32, seq_len=50, batch_size=32,
             epochs=2, lr=3e-3, ngram_order=5, sample_chars=200)
FULL = dict(max_chars=1_000_000, hidden=256, num_layers=2, embed=64, seq_len=100, batch_size=64,
            epochs=5, lr=2e-3, ngram_order=6, sample_chars=400)


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.language import charlm_experiment

    settings = QUICK if quick else FULL
    run_dir = os.path.join(out_dir, "charlm")
    r = charlm_experiment(out_dir=run_dir, progress=False, verbose=False, **settings)
    better = "beats" if r["val_bpc"] < r["ngram_bpc"] else "does not beat"
    numbers = [
        ("text", f"{r['source']}: {r['train_chars']:,} training and {r['held_out_chars']:,} "
                 f"held-out characters (the last 10%), {r['vocab_size']} distinct"),
        ("model", f"{settings['num_layers']}-layer LSTM of {settings['hidden']}, "
                  f"{r['parameters']:,} parameters; {settings['batch_size']} streams, chunks of "
                  f"{settings['seq_len']} steps, {r['epochs']} epochs"),
        ("held-out bits per character, LSTM", f"{r['val_bpc']:.3f} ({r['train_time_s']:.0f} s "
                                              f"of training, {r['chars_per_s']:,.0f} chars/s)"),
        (f"held-out bits per character, {r['ngram_order']}-gram (Kneser-Ney)",
         f"{r['ngram_bpc']:.3f} ({r['ngram_fit_s']:.1f} s to count)"),
        ("sample at temperature 0.8", "def " + r["sample"][:160].replace("\n", " \u21b5 ")),
    ]
    return ChapterResult(
        numbers=numbers,
        figures=[("charlm/bpc.png", "Bits per character per epoch on the training and held-out "
                                    "text; the dashed line is the n-gram on the same split")],
        notes=[f"The LSTM {better} the n-gram here. The quick version trains for seconds on a "
               f"small text, where counting wins; docs/RESULTS.md has the full run."
               if quick else f"The LSTM {better} the n-gram on the same split."],
    )


register(Chapter(
    key="charlm",
    title="Recurrent networks: a character language model",
    idea=("An LSTM reads text one character at a time and predicts the next one; its state "
          "carries what it has read. A long text is cut into chunks: the state flows from one "
          "chunk into the next, the gradient only within a chunk (truncated backpropagation "
          "through time). Bits per character on held-out text measure it, against counting "
          "n-grams."),
    command="deepbasic charlm train --epochs 5 --out runs/charlm",
    run=run,
))
