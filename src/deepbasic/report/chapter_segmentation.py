"""Chapters: semantic segmentation (a fully convolutional network, three ways to upsample) and
classification + localization (a class head and a box head on one CNN), on generated scenes.

Quick: 32x32 scenes, a few hundred of them, a few epochs. Full: the measured settings of
``deepbasic segment train --upsample compare`` and ``deepbasic localize train``.
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register

QUICK_SEG = dict(train_scenes=400, val_scenes=40, test_scenes=80, size=32, epochs=6,
                 channels=(8, 16, 32, 32))
FULL_SEG = dict(train_scenes=3000, val_scenes=300, test_scenes=500, size=48, epochs=10)
QUICK_LOC = dict(train_images=1000, val_images=60, test_images=200, size=32, epochs=12)
#: (the quick runs are seconds of training on tiny scenes: they show the machinery, and their
#: numbers are far from the full runs' in docs/RESULTS.md)
FULL_LOC = dict(train_images=4000, val_images=500, test_images=1000, size=64, epochs=10)


def run_segmentation(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.segmentation import compare_upsampling

    s = QUICK_SEG if quick else FULL_SEG
    r = compare_upsampling(out_dir=os.path.join(out_dir, "segmentation"), progress=False,
                           verbose=False, **s)
    numbers = [("data", f"{r['train_scenes']:,} training and {r['test_scenes']:,} held-out "
                        f"scenes of {r['size']}x{r['size']}; 7 pixel classes (background and 6 "
                        f"shapes)")]
    for row in r["rows"]:
        numbers.append((f"upsampling by {row['upsample']}: mean IoU / pixel accuracy",
                        f"{row['test_mean_iou']:.4f} / {row['test_pixel_accuracy']:.4f} "
                        f"({row['parameters']:,} parameters, {row['train_time_s']:.0f} s)"))
    return ChapterResult(
        numbers=numbers,
        figures=[(f"segmentation/{row['upsample']}/masks.png",
                  f"Held-out scenes, true and predicted masks (upsampling by {row['upsample']})")
                 for row in r["rows"]],
        notes=["Quick version: 32x32 scenes (the small shapes are a few pixels wide) and seconds "
               "of training, far too little for this task: the networks barely get past "
               "labelling everything background. docs/RESULTS.md has the full comparison "
               "(mean IoU 0.955-0.957)."] if quick else [],
    )


def run_localization(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.localization import localization_experiment

    s = QUICK_LOC if quick else FULL_LOC
    r = localization_experiment(out_dir=os.path.join(out_dir, "localization"), progress=False,
                                verbose=False, **s)
    return ChapterResult(
        numbers=[
            ("data", f"{r['train_images']:,} training and {r['test_images']:,} held-out "
                     f"single-object scenes of {r['size']}x{r['size']}"),
            ("test class accuracy", f"{r['test_accuracy']:.4f}"),
            ("test mean box IoU", f"{r['test_mean_box_iou']:.4f} (IoU >= 0.5 on "
                                  f"{r['test_box_iou_50']:.1%} of the images)"),
            ("model", f"{r['parameters']:,} parameters, {r['train_time_s']:.0f} s of training; "
                      f"loss = cross-entropy + {r['box_weight']:g} x {r['box_loss']} box loss"),
        ],
        figures=[("localization/boxes.png", "Held-out scenes: predicted class and box (solid) "
                                            "and the true box (dashed)")],
        notes=["Quick version: small images and few epochs; docs/RESULTS.md has the full run."]
        if quick else [],
    )


register(Chapter(
    key="segmentation",
    title="Semantic segmentation: a fully convolutional network",
    idea=("Label every pixel: the network downsamples (pooling, strided convolution) to see "
          "context, then upsamples back to the input's size, by transpose convolution, by "
          "unpooling with the max-pool indices, or by bilinear interpolation, and is trained "
          "with cross-entropy at every pixel. Mean IoU over the classes measures it."),
    command="deepbasic segment train --upsample compare --scenes 3000 --size 48 --epochs 10 "
            "--out runs/seg-compare",
    run=run_segmentation,
))

register(Chapter(
    key="localization",
    title="Classification and localization",
    idea=("One object per image: a CNN with two heads, class scores and four box numbers "
          "(x, y, w, h), trained on the sum of a classification loss and a box regression loss."),
    command="deepbasic localize train --images 4000 --epochs 10 --out runs/localize",
    run=run_localization,
))
