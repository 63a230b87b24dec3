"""Killing a training process at arbitrary moments never leaves an unreadable checkpoint."""
import os
import signal
import subprocess
import sys
import time

import numpy as np

from deepbasic.train.checkpoint import load_checkpoint

SCRIPT = r"""
import sys
import numpy as np
import deepbasic as db
from deepbasic import nn, optim
from deepbasic.data.loader import DataLoader
from deepbasic.train.trainer import Trainer

db.manual_seed(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 8)).astype(np.float32)
y = rng.integers(0, 3, 64)
model = nn.Sequential(nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 3))
opt = optim.Adam(model.parameters(), lr=1e-3)
trainer = Trainer(model, nn.CrossEntropyLoss(), opt, out_dir=sys.argv[1], progress=False,
                  verbose=False)
trainer.plot = lambda: None  # checkpoints as often as possible
trainer.fit(DataLoader((x, y), batch_size=16, shuffle=True, seed=0), None, epochs=100000,
            resume=len(sys.argv) > 2)
"""


def _wait_for(path, timeout=60.0):
    start = time.time()
    while not os.path.exists(path):
        assert time.time() - start < timeout, "the training process wrote no checkpoint"
        time.sleep(0.02)


def test_sigkill_at_random_moments_leaves_a_readable_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    ckpt = tmp_path / "last.safetensors"
    last_epoch = 0
    for attempt in range(4):
        args = [sys.executable, "-c", SCRIPT, str(tmp_path)] + (["resume"] if attempt else [])
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for(ckpt)
            time.sleep(float(rng.uniform(0.2, 1.0)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        state = load_checkpoint(ckpt)  # must always parse, whatever moment the kill hit
        assert state.epoch >= last_epoch and state.model
        last_epoch = state.epoch
    leftovers = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert len(leftovers) <= 1  # at most the one temp file being written when killed
