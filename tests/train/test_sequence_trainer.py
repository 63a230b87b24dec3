"""SequenceTrainer: truncated BPTT carries the state across chunks, cuts the graph between them,
learns, and resumes exactly."""
import json
import math

import numpy as np
import pytest

import deepbasic as db
from deepbasic import nn, optim
from deepbasic.data.text import CharVocab, batchify, tbptt_chunks
from deepbasic.tensor import Tensor
from deepbasic.train.checkpoint import load_checkpoint
from deepbasic.train.sequence import SequenceTrainer, detach_state
from deepbasic.train.trainer import NonFiniteLossError

V, H = 4, 16


class TinyRNN(nn.Module):
    """h_t = tanh(W x_t + U h_{t-1} + b), scores_t = Linear(dropout(h_t)), x_t one-hot (V,).

    forward(x (B, t) ids, h (B, H) or None) -> (scores (B, t, V), h_t). Records what it was
    given and what it returned, for the tests.
    """

    def __init__(self, vocab=V, hidden=H, dropout=0.0):
        super().__init__()
        self.vocab, self.hidden = vocab, hidden
        self.inp = nn.Linear(vocab, hidden)
        self.rec = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, vocab)
        self.drop = nn.Dropout(dropout)
        self.log = []

    def forward(self, x, h=None):
        b, t = x.shape
        onehot = Tensor(np.eye(self.vocab, dtype=np.float32)[x.numpy()])   # (B, t, V)
        h_in = h
        if h is None:
            h = db.zeros(b, self.hidden)
        outs = []
        for i in range(t):
            h = (self.inp(onehot[:, i]) + self.rec(h)).tanh()
            outs.append(self.out(self.drop(h)))
        scores = db.stack(outs, dim=1)
        self.log.append((h_in, scores, h))
        return scores, h


def _toy_ids(n, seed=0, noise=0.05):
    """A periodic id sequence (period 6: the next id depends on the previous two) with noise."""
    rng = np.random.default_rng(seed)
    ids = np.tile(np.array([0, 1, 2, 0, 1, 3]), n // 6 + 1)[:n]
    flip = rng.random(n) < noise
    ids[flip] = rng.integers(0, V, flip.sum())
    return ids.astype(np.int64)


def _trainer(out_dir=None, seed=0, lr=1e-2, dropout=0.0, seq_len=8, clip=1.0, **kwargs):
    db.manual_seed(seed)
    model = TinyRNN(dropout=dropout)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return SequenceTrainer(model, nn.CrossEntropyLoss(), opt, sched, seq_len=seq_len,
                           clip_grad_norm=clip, out_dir=out_dir, progress=False, verbose=False, **kwargs)


# (a) the state is carried across chunks ---------------------------------------------------------------
def test_the_state_is_carried_from_one_chunk_to_the_next():
    trainer = _trainer()
    streams = batchify(_toy_ids(200), 4)                      # (4, 50): 7 chunks of 8 (last: 1)
    other = streams.copy()
    other[:, :8] = (other[:, :8] + 1) % V                     # change only the first chunk's input
    trainer.evaluate(streams)
    log_a = list(trainer.model.log)
    trainer.model.log.clear()
    trainer.evaluate(other)
    log_b = trainer.model.log
    assert len(log_a) == 7 and log_a[0][0] is None            # a fresh state at the start
    for k in range(1, 7):                                     # chunk k starts where chunk k-1 ended
        assert np.array_equal(log_a[k][0].numpy(), log_a[k - 1][2].numpy())
    # the second chunk's input is the same in both streams, its output is not: it remembers chunk 1
    assert not np.allclose(log_a[1][1].numpy(), log_b[1][1].numpy())
    assert trainer.evaluate(streams)["loss"] != trainer.evaluate(other)["loss"]


# (b) gradients do not cross chunk boundaries -------------------------------------------------------
def test_the_graph_is_cut_between_chunks_and_gradients_stay_in_their_chunk():
    db.manual_seed(0)
    model = TinyRNN()
    opt = optim.SGD(model.parameters(), lr=0.0)               # weights stay put: grads comparable
    trainer = SequenceTrainer(model, nn.CrossEntropyLoss(), opt, seq_len=5, progress=False,
                              verbose=False)
    grads = []
    real_step = opt.step

    def recording_step():
        grads.append({name: p.grad.copy() for name, p in model.named_parameters()})
        real_step()

    opt.step = recording_step
    streams = batchify(_toy_ids(66, seed=3), 3)               # (3, 22): chunks of 5, 5, 5, 5, 1
    trainer.train_epoch(streams, epoch=1)
    handed = [entry[0] for entry in model.log]
    assert handed[0] is None
    for h in handed[1:]:                                      # each chunk starts from a cut state
        assert isinstance(h, Tensor) and not h.requires_grad and h.grad_fn is None and h.is_leaf

    # recompute chunk 2's gradient by hand: from the detached state (truncated) and through chunk 1 (full)
    (x1, y1), (x2, y2) = list(tbptt_chunks(streams, 5))[:2]
    loss_fn = nn.CrossEntropyLoss()

    def chunk2_grads(detach):
        model.zero_grad()
        _, h1 = model(Tensor(x1), None)
        scores, _ = model(Tensor(x2), h1.detach() if detach else h1)
        loss_fn(scores.reshape(-1, V), Tensor(y2.reshape(-1))).backward()
        return {name: p.grad.copy() for name, p in model.named_parameters()}

    truncated, full = chunk2_grads(True), chunk2_grads(False)
    for name in truncated:
        np.testing.assert_allclose(grads[1][name], truncated[name], rtol=1e-5, atol=1e-7)
    # through chunk 1 the gradient would differ: the cut really removed chunk 2 -> chunk 1 paths
    assert not np.allclose(full["inp.weight"], truncated["inp.weight"], rtol=1e-3, atol=1e-6)


def test_detach_state_handles_nested_states():
    h = db.ones(2, 3, requires_grad=True) * 2
    c = db.ones(2, 3, requires_grad=True) * 3
    out = detach_state((h, [c, {"k": h}]))
    assert isinstance(out, tuple) and isinstance(out[1], list) and isinstance(out[1][1], dict)
    for t in (out[0], out[1][0], out[1][1]["k"]):
        assert not t.requires_grad and t.is_leaf
    assert np.array_equal(out[1][0].numpy(), c.numpy())
    assert detach_state(None) is None
    with pytest.raises(TypeError, match="recurrent state"):
        detach_state(np.zeros(3))


# (c) it learns -------------------------------------------------------------------------------------
def test_training_lowers_held_out_bits_per_character():
    trainer = _trainer(lr=2e-2, seq_len=10)
    train = batchify(_toy_ids(2400, seed=0), 8)               # (8, 300)
    val = batchify(_toy_ids(600, seed=1), 4)                  # (4, 150): another batch size is fine
    before = trainer.evaluate(val)
    history = trainer.fit(train, val, epochs=6)
    after = history[-1]
    assert before["bpc"] == pytest.approx(before["loss"] / math.log(2))
    assert before["bpc"] > 1.8                                # about log2(4) = 2 bits untrained
    assert after["val_bpc"] < 0.5 and after["val_accuracy"] > 0.9     # 5 % noise: ~0.25 reachable
    assert after["val_bpc"] == pytest.approx(after["val_loss"] / math.log(2))
    assert after["examples"] == 8 * 299 and after["train_grad_norm"] > 0
    assert history[0]["train_bpc"] > after["train_bpc"]


# (d) resume --------------------------------------------------------------------------------------
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    train = batchify(_toy_ids(720, seed=0), 6)
    val = batchify(_toy_ids(200, seed=1), 2)
    vocab = CharVocab.from_text("abcd")
    config = {"model": "TinyRNN", "vocab": vocab.to_dict()}
    full = _trainer(tmp_path / "full", dropout=0.2, config=config)
    full.fit(train, val, epochs=4)

    part = _trainer(tmp_path / "split", dropout=0.2, config=config)
    part.fit(train, val, epochs=2)
    db.manual_seed(12345)                                      # another process state
    resumed = _trainer(tmp_path / "split", seed=7, dropout=0.2, config=config)
    resumed.fit(train, val, epochs=4, resume=True)

    a, b = full.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert [r["train_loss"] for r in full.history] == [r["train_loss"] for r in resumed.history]
    assert [r["val_bpc"] for r in full.history] == [r["val_bpc"] for r in resumed.history]
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and "val_bpc" in rows[0]
    ckpt = load_checkpoint(tmp_path / "split" / "last.safetensors")
    assert ckpt.epoch == 4 and CharVocab.from_dict(ckpt.extra["config"]["vocab"]) == vocab


# errors ------------------------------------------------------------------------------------------------
def test_clear_errors():
    trainer = _trainer()
    with pytest.raises(ValueError, match="batchify"):
        trainer.fit(_toy_ids(100), epochs=1)
    with pytest.raises(ValueError, match="seq_len"):
        _trainer(seq_len=0)

    class NoState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(V, V)

        def forward(self, x, state=None):
            return self.lin(Tensor(np.eye(V, dtype=np.float32)[x.numpy()]))

    class Flat(NoState):
        def forward(self, x, state=None):
            return self.lin(Tensor(np.eye(V, dtype=np.float32)[x.numpy().reshape(-1)])), None

    streams = batchify(_toy_ids(40), 2)
    for model, err, match in ((NoState(), TypeError, r"\(scores, state\)"),
                              (Flat(), ValueError, r"expected \(B, t, V\)")):
        t = SequenceTrainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                            seq_len=4, progress=False, verbose=False)
        with pytest.raises(err, match=match):
            t.fit(streams, epochs=1)


def test_non_finite_loss_stops_training():
    trainer = _trainer(lr=1.0)
    trainer.model.out.bias.data[:] = np.nan
    with pytest.raises(NonFiniteLossError, match="chunk 0"):
        trainer.fit(batchify(_toy_ids(40), 2), epochs=1)
