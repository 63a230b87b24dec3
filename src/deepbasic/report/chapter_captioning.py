"""Chapter: image captioning (one to many): a CNN encoder sets the state of an LSTM decoder,
trained with teacher forcing on generated scenes, decoded greedily and by beam search, scored
with BLEU-4 on held-out scenes.

Quick: 1,500 scenes of 32x32 with one or two objects, 6 epochs. Full: 8,000 scenes of 64x64
with one to three objects, 15 epochs (``deepbasic caption train``'s defaults).
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register

QUICK = dict(train_scenes=1500, val_scenes=100, test_scenes=200, size=32, epochs=6, lr=3e-3,
             hidden=128, embed=32, channels=(16, 32, 32), feature_input=32,
             scene_options={"max_objects": 2})
FULL = dict(train_scenes=8000, val_scenes=500, test_scenes=1000, size=64, epochs=15, lr=2e-3)


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.captioning import caption_experiment

    settings = QUICK if quick else FULL
    run_dir = os.path.join(out_dir, "captioning")
    r = caption_experiment(out_dir=run_dir, progress=False, verbose=False, examples=8,
                           **settings)
    numbers = [
        ("data", f"{r['train_scenes']:,} generated training scenes of {settings['size']}x"
                 f"{settings['size']}; {r['test_scenes']:,} held-out test scenes; vocabulary "
                 f"{r['vocab_size']} words"),
        ("model", f"CNN encoder + LSTM decoder, {r['parameters']:,} parameters, {r['epochs']} "
                  f"epochs ({r['train_time_s']:.0f} s)"),
        ("test BLEU-4, greedy", f"{r['test_bleu4']['greedy']:.4f} (exact caption "
                                f"{r['test_exact_match']['greedy']:.1%})"),
        (f"test BLEU-4, beam search ({r['beam']})", f"{r['test_bleu4']['beam']:.4f} (exact "
                                                    f"caption {r['test_exact_match']['beam']:.1%})"),
    ] + [(f"example {i + 1}", f"{e['beam']}  [reference: {e['reference']}]")
         for i, e in enumerate(r["examples"][:3])]
    return ChapterResult(
        numbers=numbers,
        figures=[("captioning/captions.png", "Held-out scenes with their beam-search captions "
                                             "(reference in grey)"),
                 ("captioning/curves.png", "Loss and next-word accuracy per epoch")],
    )


register(Chapter(
    key="captioning",
    title="Recurrent networks: image captioning",
    idea=("One to many: a CNN turns the image into features that start an LSTM, which then "
          "writes the caption one word at a time, each step reading the word before. Training "
          "feeds it the true previous word (teacher forcing); at test time it reads its own, "
          "greedily or keeping the few best partial captions (beam search)."),
    command="deepbasic caption train --scenes 8000 --epochs 15 --out runs/caption",
    run=run,
))
