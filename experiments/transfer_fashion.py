"""Transfer learning on the real Fashion-MNIST: pretrain on classes 0-4, transfer to classes 5-9
with 100 labelled images per class, against training from scratch on the same 500 images.

Design (fixed before running): the tour's ConvNet (conv3x3-BN-ReLU-pool with 32 and 64 filters,
dropout 0.25, one Linear; 34,597 parameters with 5 outputs) pretrained on the source classes
(T-shirt/top, Trouser, Pullover, Dress, Coat) with all their 27,500 training images: Adam lr
1e-3, batch 128, cosine schedule, 5 epochs, seed 0. Target classes: Sandal, Shirt, Sneaker, Bag,
Ankle boot, 100 training images each (a seeded stratified pick). Fine-tuning: Adam lr 1e-3,
batch 64, cosine, 30 epochs.

* transfer (head): the pretrained network with a new last layer Linear(3136, 5), everything
  else frozen (batch norm kept in eval mode); only the 15,685 head parameters learn.
* transfer (all): the head stage, then every layer unfrozen for 30 more epochs at lr 1e-4.
* scratch: the same architecture from random weights, the same 500 images in the same batch
  order, the same optimizer and schedule, for as many epochs as the transfer took (30 / 60).

All are measured with their final weights on the 5,000 official test images of classes 5-9 (the
target classes' validation images are only drawn as learning curves; nothing is selected on
them). The fine-tuning is repeated for seeds 0, 1, 2 (a different pick of the 500 images, head
and scratch initialization, and batch order each) from the same pretrained network.

    OPENBLAS_NUM_THREADS=1 python experiments/transfer_fashion.py [--out runs/transfer_fashion]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain-epochs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30, help="fine-tuning epochs (per stage)")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--seeds", default="0,1,2", help="fine-tuning seeds, comma-separated")
    ap.add_argument("--out", default="runs/transfer_fashion")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)

    import numpy as np

    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError
    from deepbasic.serialization import atomic_write
    from deepbasic.train.transfer import format_transfer_table, transfer_experiment

    try:
        data = load_dataset("fashion-mnist", root=args.data_root, download=False)
    except DatasetNotFoundError as e:
        print(f"transfer_fashion: Fashion-MNIST is not installed; nothing to run.\n{e}",
              file=sys.stderr)
        return 1
    seeds = [int(s) for s in args.seeds.split(",")]
    common = dict(target_classes="5-9", per_class=args.per_class, finetune_epochs=args.epochs,
                  lr=1e-3, batch_size=64, schedule="cosine")
    t0 = time.perf_counter()
    runs = {}
    checkpoint = None
    for mode in ("head", "all"):
        for seed in seeds:
            name = f"{mode}_seed{seed}"
            print(f"\n=== {name} ===", flush=True)
            if checkpoint is None:  # the first run pretrains; the others start from its network
                r = transfer_experiment(data, "0-4", pretrain_epochs=args.pretrain_epochs,
                                        pretrain_lr=1e-3, pretrain_batch_size=128, seed=seed,
                                        finetune=mode, out_dir=os.path.join(args.out, name),
                                        verbose=True, **common)
                checkpoint = r["pretrain"]["checkpoint"]
                pre = r["pretrain"]
                print(f"pretrained: test accuracy {pre['source_test_accuracy']:.4f} on the "
                      f"{len(r['source_classes'])} source classes ({pre['seconds']:.0f} s)")
            else:
                r = transfer_experiment(data, checkpoint=checkpoint, seed=seed, finetune=mode,
                                        out_dir=os.path.join(args.out, name), **common)
            print(format_transfer_table(r), flush=True)
            runs[name] = r
    seconds = time.perf_counter() - t0

    print("\n=== summary: test accuracy on the 5,000 test images of classes 5-9 ===")
    summary = {}
    for mode in ("head", "all"):
        rows = [runs[f"{mode}_seed{s}"] for s in seeds]
        tr = np.array([r["transfer"]["test_accuracy"] for r in rows])
        sc = np.array([r["scratch"]["test_accuracy"] for r in rows])
        summary[mode] = {"seeds": seeds, "transfer": tr.tolist(), "scratch": sc.tolist(),
                         "transfer_mean": float(tr.mean()), "scratch_mean": float(sc.mean()),
                         "gain_mean": float((tr - sc).mean()),
                         "epochs": rows[0]["transfer"]["epochs"]}
        print(f"finetune {mode:4s} ({rows[0]['transfer']['epochs']} epochs): "
              f"transfer {' '.join(f'{a:.4f}' for a in tr)} (mean {tr.mean():.4f}); "
              f"scratch {' '.join(f'{a:.4f}' for a in sc)} (mean {sc.mean():.4f}); "
              f"gain {' '.join(f'{g:+.4f}' for g in tr - sc)} (mean {(tr - sc).mean():+.4f})")
        if mode == "all":
            head = np.array([r["transfer"]["head_test_accuracy"] for r in rows])
            print(f"  (its head stage alone, same seeds: {' '.join(f'{a:.4f}' for a in head)})")
    with atomic_write(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"summary": summary, "seconds": seconds, "pretrained": checkpoint,
                   "settings": vars(args)}, f, indent=1)
    print(f"{seconds:.0f} s in all; runs, transfer.json and transfer.png in {args.out}/<run>; "
          f"summary in {args.out}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
