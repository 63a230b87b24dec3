"""Chapter: model ensembles, independent members and snapshots of one run."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, on_disk, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os
    import time

    from deepbasic.data import load_dataset
    from deepbasic.tune.ensemble import (ensemble_report, load_snapshots, plot_ensemble_report,
                                         train_ensemble)

    if quick:
        name, members, every = "digits", 3, 1
        train_kwargs = dict(epochs=4, lr=3e-3, batch_size=32)
    else:
        name = "fashion-mnist" if on_disk() else "digits"
        members, every = 5, 3
        train_kwargs = dict(epochs=15, lr=1e-3, batch_size=128, schedule="cosine",
                            model_kwargs={"hidden": [512, 256], "batch_norm": True,
                                          "dropout": 0.2})
    data = load_dataset(name)
    root = os.path.join(out_dir, "ensemble")
    t0 = time.perf_counter()
    ens, results = train_ensemble(members, name, out_dir=root, snapshot_every=every, **train_kwargs)
    seconds = time.perf_counter() - t0
    report = ensemble_report(ens, data.test.x, data.test.y)
    snaps = load_snapshots(results[0]["run_dir"], last=members)
    snap = ensemble_report(snaps, data.test.x, data.test.y)
    plot_ensemble_report(report, os.path.join(root, "ensemble.png"),
                         title=f"{members} independent MLPs on {name}")
    plot_ensemble_report(snap, os.path.join(root, "snapshots.png"),
                         title=f"snapshots of member_1 on {name}")
    epochs = train_kwargs["epochs"]
    numbers = [("dataset", f"{name} ({len(data.test.y)} test images); {members} MLPs "
                           f"(seeds 0..{members - 1}), {epochs} epochs each, {seconds:.1f} s")]
    numbers += [(f"{m['name']} test accuracy", f"{m['accuracy']:.4f}") for m in report["members"]]
    numbers += [
        ("best single", f"{report['best_single']:.4f} ({report['best_member']})"),
        ("ensemble (mean of probabilities)", f"{report['ensemble']:.4f}"),
        ("gain over the best single", f"{report['gain']:+.4f}"),
        ("ensemble of logits instead", f"{report['logit_average']:.4f}"),
        ("test NLL (mean member, ensemble)",
         f"{report['mean_single_nll']:.4f}, {report['ensemble_nll']:.4f}"),
        (f"snapshot ensemble (member_1, epochs {', '.join(m['name'][6:] for m in snap['members'])})",
         f"{snap['ensemble']:.4f}, best snapshot {snap['best_single']:.4f}, "
         f"gain {snap['gain']:+.4f}"),
    ]
    return ChapterResult(
        numbers=numbers,
        figures=[("ensemble/ensemble.png", "Each member's test accuracy and the ensemble's; "
                                           "the dashed line is the best single member"),
                 ("ensemble/snapshots.png", "A snapshot ensemble: checkpoints of one run, "
                                            "averaged the same way")],
        notes=["The ensemble averages the members' softmax probabilities (a mixture of their "
               "predictive distributions), not their logits, whose scale differs from network "
               "to network. Snapshots of one run are cheaper but less diverse than "
               "independently initialized members."],
    )


register(Chapter(
    key="ensemble",
    title="Ensembles: averaging several networks",
    idea=("Networks trained from different random initializations make partly different "
          "mistakes; averaging their predicted class probabilities cancels some of them, so an "
          "ensemble usually beats its best member, at N times the cost. Snapshots saved along "
          "one run give a cheaper, less diverse ensemble."),
    command=("deepbasic ensemble --dataset fashion-mnist --members 5 --epochs 15 --hidden 512,256 "
             "--batch-norm --dropout 0.2 --schedule cosine --batch-size 128 --out runs/ensemble"),
    run=run,
))
