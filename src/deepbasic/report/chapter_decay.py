"""Chapter: learning-rate decay, four schedules on the same network."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, on_disk, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os
    import time

    from deepbasic.tune.schedules import compare_schedules, plot_schedule_comparison

    if quick:
        name = "digits"
        kwargs = dict(epochs=12, lr=3e-3, batch_size=64)
    else:
        name = "fashion-mnist" if on_disk() else "digits"
        kwargs = dict(epochs=20, lr=1e-3, batch_size=128, model_kwargs={"hidden": [256, 128]})
    t0 = time.perf_counter()
    # quick: nothing on disk (no per-epoch checkpoints and plots); full: each run's directory
    results = compare_schedules(name, epochs=kwargs.pop("epochs"), lr=kwargs.pop("lr"),
                                out_dir=None if quick else os.path.join(out_dir, "decay"), **kwargs)
    seconds = time.perf_counter() - t0
    plot_schedule_comparison(results, os.path.join(out_dir, "decay", "schedules.png"))
    numbers = [("setup", f"{name}, MLP {results['model_kwargs'].get('hidden', [256, 128])}, Adam "
                         f"from lr {results['lr']:g}, {results['epochs']} epochs, seed "
                         f"{results['seed']} for every schedule ({seconds:.1f} s in all)")]
    for sched, r in results["runs"].items():
        numbers.append((sched, f"final lr {r['lr'][-1]:.2e}, training loss {r['train_loss'][-1]:.4f}, "
                               f"validation accuracy {r['final_val_accuracy']:.4f} "
                               f"(best {r['best_val_accuracy']:.4f}), test {r['test_accuracy']:.4f}"))
    return ChapterResult(
        numbers=numbers,
        figures=[("decay/schedules.png", "Learning rate (log scale), training loss (log scale) "
                                         "and validation accuracy per epoch, one line per "
                                         "schedule")],
        notes=["step: lr/10 after half and after three quarters of the epochs; exponential: a "
               "smooth 100x decay over the run; cosine: half a cosine towards 0."],
    )


register(Chapter(
    key="decay",
    title="Learning-rate decay",
    idea=("A large learning rate makes fast progress early but keeps the weights bouncing "
          "around a minimum; lowering it over training (in steps, exponentially or along a "
          "cosine) lets them settle, which shows as a drop of the training loss."),
    command="deepbasic decay --dataset fashion-mnist --epochs 20 --batch-size 128 --out runs/decay",
    run=run,
))
