"""Chapter: object detection on generated scenes: R-CNN, Fast R-CNN, Faster R-CNN (a region
proposal network) and a YOLO-style single-stage detector, compared on COCO mAP and time per
image; and instance segmentation (Mask R-CNN's mask head) on the same scenes.

Quick: YOLO alone on 500 scenes of 32x32 with one or two objects, and Mask R-CNN on 300 (short
runs: their numbers show the machinery, not what the detectors reach). Full: every registered
detector on 64x64 scenes (``deepbasic detect compare``); docs/RESULTS.md has the measured runs.
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register

QUICK = dict(methods=("yolo",), train_scenes=500, val_scenes=40, test_scenes=80, size=32,
             scene_options={"max_objects": 2}, epochs={"yolo": 15})
FULL = dict(methods=("rcnn", "fast-rcnn", "faster-rcnn", "yolo"), train_scenes=2000,
            val_scenes=200, test_scenes=500, size=64, scene_options={}, epochs={})
QUICK_MASKS = dict(train_scenes=300, val_scenes=30, test_scenes=60, size=32, epochs=6,
                   scene_options={"max_objects": 2})
FULL_MASKS = dict(train_scenes=2000, val_scenes=200, test_scenes=500, size=64, scene_options={})


def _run_methods(out_dir, methods, epochs, **settings):
    import os

    from deepbasic.train.detection import detection_experiment

    results = []
    for method in methods:
        extra = {"epochs": epochs[method]} if method in epochs else {}
        results.append(detection_experiment(method, out_dir=os.path.join(out_dir, method),
                                            progress=False, verbose=False, **settings, **extra))
    return results


def run_detection(out_dir: str, quick: bool) -> ChapterResult:
    import os

    s = dict(QUICK if quick else FULL)
    root = os.path.join(out_dir, "detection")
    results = _run_methods(root, s.pop("methods"), s.pop("epochs"), **s)
    numbers = [("data", f"{s['train_scenes']:,} training and {s['test_scenes']:,} held-out "
                        f"generated scenes of {s['size']}x{s['size']}; COCOeval on the held-out "
                        f"ones")]
    for r in results:
        numbers.append((f"{r['method']}: mAP@0.5 / mAP@[.5:.95]",
                        f"{r['bbox']['mAP50']:.3f} / {r['bbox']['mAP']:.3f} "
                        f"({1000 * r['seconds_per_image']:.1f} ms per image, "
                        f"{r['train_time_s']:.0f} s of training)"))
    return ChapterResult(
        numbers=numbers,
        notes=["Quick version: a few hundred small scenes and short training; docs/RESULTS.md "
               "has the full runs."] if quick else [],
        figures=[(f"detection/{r['method']}/detections.png",
                  f"{r['method']}: held-out scenes, detections (solid, with scores) and the true "
                  f"boxes (dashed)") for r in results],
    )


def run_masks(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.detection import detection_experiment

    s = QUICK_MASKS if quick else FULL_MASKS
    r = detection_experiment("mask-rcnn", out_dir=os.path.join(out_dir, "instances"),
                             progress=False, verbose=False, **s)
    return ChapterResult(
        numbers=[
            ("data", f"{s['train_scenes']:,} training and {s['test_scenes']:,} held-out scenes of "
                     f"{s['size']}x{s['size']}"),
            ("box mAP@0.5 / mAP@[.5:.95]", f"{r['bbox']['mAP50']:.3f} / {r['bbox']['mAP']:.3f}"),
            ("mask mAP@0.5 / mAP@[.5:.95]", f"{r['segm']['mAP50']:.3f} / {r['segm']['mAP']:.3f} "
                                            f"(COCOeval, iouType segm)"),
            ("time", f"{1000 * r['seconds_per_image']:.1f} ms per image, "
                     f"{r['train_time_s']:.0f} s of training"),
        ],
        notes=["Quick version: 300 small scenes and 6 epochs; docs/RESULTS.md has the full run."]
        if quick else [],
        figures=[("instances/masks.png", "Held-out scenes: true objects | detected instance "
                                         "masks, in class colours"),
                 ("instances/detections.png", "The same scenes with the detected boxes")],
    )


register(Chapter(
    key="detection",
    title="Object detection: R-CNN, Fast R-CNN, Faster R-CNN, YOLO",
    idea=("R-CNN classifies every region that selective search proposes, each cropped and "
          "warped; Fast R-CNN runs the network once and pools each region from the feature "
          "map; Faster R-CNN proposes the regions itself with anchors; YOLO predicts boxes, "
          "objectness and classes for every cell of a grid in one pass. Non-maximum "
          "suppression keeps one box per object; COCO's mAP scores them."),
    command="deepbasic detect compare --methods rcnn,fast-rcnn,faster-rcnn,yolo --out runs/detect",
    run=run_detection,
))

register(Chapter(
    key="instances",
    title="Instance segmentation: a mask head on the detector",
    idea=("Mask R-CNN adds a small fully convolutional head that predicts a mask for each "
          "detected box from its RoIAlign features; the masks are pasted back into the image, "
          "one per object, so two objects of the same class stay apart."),
    command="deepbasic detect train --method mask-rcnn --out runs/mask-rcnn",
    run=run_masks,
))
