"""Epoch throughput of the Trainer against the bare training step on the same batches.

The bare loop: for each batch, zero_grad, forward, cross-entropy, backward, Adam step. The
Trainer: the same steps plus its loop, NaN check, progress bar, validation-free epoch bookkeeping,
an atomic checkpoint, metrics.jsonl and the curves PNG at the end of the epoch. Prints examples
per second for both and the ratio bare / Trainer time (1.0 = no overhead).

    python benchmarks/bench_trainer.py [--examples 20000] [--batch-size 128] [--epochs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import deepbasic as db
from deepbasic import nn, optim
from deepbasic.data import DataLoader
from deepbasic.models import MLP
from deepbasic.train.trainer import Trainer


def make_model(seed: int):
    db.manual_seed(seed)
    model = MLP(784, 10, hidden=(512, 256))
    return model, optim.Adam(model.parameters(), lr=1e-3)


def bare_epoch(model, opt, loader, epoch: int) -> float:
    loss_fn = nn.CrossEntropyLoss()
    loader.set_epoch(epoch)
    model.train()
    t0 = time.perf_counter()
    for xb, yb in loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.random((args.examples, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.examples)
    loader = DataLoader((x, y), batch_size=args.batch_size, shuffle=True, seed=0)

    bare, trainer_times = [], []
    with tempfile.TemporaryDirectory() as out:
        for epoch in range(1, args.epochs + 1):
            model, opt = make_model(epoch)
            bare.append(bare_epoch(model, opt, loader, epoch))
            model, opt = make_model(epoch)
            trainer = Trainer(model, nn.CrossEntropyLoss(), opt, out_dir=os.path.join(out, str(epoch)),
                              progress=True, verbose=False)
            t0 = time.perf_counter()
            trainer.fit(loader, None, epochs=1)  # one epoch: loop + checkpoint + metrics + plot
            trainer_times.append(time.perf_counter() - t0)
    b, t = statistics.median(bare), statistics.median(trainer_times)
    n = args.examples
    print(f"MLP 784-512-256-10, {n} examples, batch {args.batch_size}, float32, Adam", file=sys.stdout)
    print(f"  bare step loop {n / b:10,.0f} examples/s   ({b:.2f} s/epoch)")
    print(f"  Trainer        {n / t:10,.0f} examples/s   ({t:.2f} s/epoch, with checkpoint, "
          f"metrics, curves and progress bar)")
    print(f"  ratio Trainer / bare time {t / b:.2f}")


if __name__ == "__main__":
    main()
