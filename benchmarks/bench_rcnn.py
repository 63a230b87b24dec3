"""R-CNN against Fast R-CNN on the same images and the same selective-search proposals.

R-CNN runs its CNN once per proposal (each cropped and warped to 32x32); Fast R-CNN runs its
backbone once per image and max-pools every proposal from the feature map (RoIPool). Both are
built as ``deepbasic detect`` builds them (random weights: the time does not depend on them),
in evaluation mode without gradients. Prints, per image: selective search (shared), each
network on the precomputed proposals, and each full ``detect`` (proposals included), as medians.

    python benchmarks/bench_rcnn.py [--images 20] [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _timing import median_time


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (threadpoolctl)")
    args = p.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)

    import deepbasic as db
    from deepbasic.data.shapes import generate_scenes
    from deepbasic.models.rcnn import _tensor, selective_search_proposals
    from deepbasic.train.detection import get_detector
    from deepbasic.vision.roi import boxes_to_rois

    db.manual_seed(0)
    images = generate_scenes(args.images, seed=2, size=64).images
    models = {}
    for name in ("rcnn", "fast-rcnn"):
        spec = get_detector(name)
        models[name] = spec.build(6, 64, **spec.build_defaults)
        models[name].eval()
    max_props = models["fast-rcnn"].max_proposals
    t0 = time.perf_counter()
    props = selective_search_proposals(images, max_props)
    search = (time.perf_counter() - t0) / len(images)
    rois = boxes_to_rois(props)
    x = _tensor(images)
    rcnn, fast = models["rcnn"], models["fast-rcnn"]

    def rcnn_net():
        with db.no_grad():
            for i in range(0, len(rois), rcnn.chunk):
                rcnn.score_rois(images, rois[i:i + rcnn.chunk])

    def fast_net():
        with db.no_grad():
            fast(x, rois)

    n = len(images)
    reps = max(1, args.repeats // 2)
    per = {"R-CNN network": median_time(rcnn_net, args.repeats, warmup=1) / n,
           "Fast R-CNN network": median_time(fast_net, args.repeats, warmup=1) / n}
    full = {"R-CNN detect": median_time(lambda: rcnn.detect(images), reps, warmup=1) / n,
            "Fast R-CNN detect": median_time(lambda: fast.detect(images), reps, warmup=1) / n}
    print(f"{n} scenes of 64x64, {np.mean([len(q) for q in props]):.1f} selective-search "
          f"proposals per image (fast mode, at most {max_props})")
    print(f"selective search          {1000 * search:8.1f} ms / image")
    for k, v in {**per, **full}.items():
        print(f"{k:<25} {1000 * v:8.1f} ms / image")
    print(f"network ratio R-CNN / Fast R-CNN: {per['R-CNN network'] / per['Fast R-CNN network']:.1f}x; "
          f"full detect: {full['R-CNN detect'] / full['Fast R-CNN detect']:.1f}x")


if __name__ == "__main__":
    main()
