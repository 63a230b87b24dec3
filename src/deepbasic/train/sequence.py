"""``SequenceTrainer``: train a recurrent language model over long streams by truncated BPTT.

    streams = batchify(vocab.encode(train_text), 32)        # (B, L) int64 parallel streams
    val = batchify(vocab.encode(held_text), 32)
    trainer = SequenceTrainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), 2e-3),
                              seq_len=64, clip_grad_norm=1.0, out_dir="runs/charlm")
    trainer.fit(streams, val, epochs=10)                    # rows: train_bpc, val_loss, val_bpc, ...

Truncated backpropagation through time (Williams & Peng 1990; the usual way language models are
trained): a stream of length L is far too long to backpropagate through in one graph, so each
epoch walks it in chunks of ``seq_len`` steps (:func:`~deepbasic.data.text.tbptt_chunks`).
For each chunk (x, y), both (B, t):

    scores, state = model(x, state)       # scores (B, t, V); state: the recurrent state at the end
    loss = loss_fn(scores (B*t, V), y (B*t,)); backward; clip the gradient norm; optimizer step
    state = detach(state)                 # the next chunk starts from these values, cut from the graph

So the state *carries* information forward across chunks (chunk k+1 starts where chunk k ended),
but gradients flow back at most ``seq_len`` steps: the next chunk's loss cannot reach this chunk's
inputs or graph. The state is reset (``None``: the model's zeros) at the start of every epoch and
of every evaluation, which also makes ``fit(..., resume=True)`` exact: an epoch depends only on
the weights, optimizer and random state that the checkpoint holds.

The model's contract: ``forward(x, state)`` with x (B, t) int64 ids and state None or what it
returned for the previous chunk (a Tensor, or a tuple / list / dict of them: ``(h, c)`` for an
LSTM), returning ``(scores (B, t, V), state)``: PyTorch's convention for a batch-first recurrent
layer. The loss is the mean over the B*t positions, in nats (``nn.CrossEntropyLoss``), so bits per
character = loss / ln 2, reported for training (``train_bpc``) and validation (``val_bpc``).
Everything else (metrics.jsonl, checkpoints, early stopping, schedulers, resume) is the
:class:`~deepbasic.train.trainer.Trainer`'s.
"""
from __future__ import annotations

import math
import time

import numpy as np

from deepbasic.data.text import _check_seq_len, _check_streams, num_chunks, tbptt_chunks
from deepbasic.optim.clip import clip_grad_norm_
from deepbasic.tensor import Tensor, no_grad
from deepbasic.train.trainer import NonFiniteLossError, Trainer, _progress

LN2 = math.log(2.0)


def detach_state(state):
    """The recurrent ``state`` cut from the autograd graph: same values, no history.

    state: None, a Tensor, or a tuple / list / dict of them (nested), e.g. an LSTM's ``(h, c)``.
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple):
        return tuple(detach_state(s) for s in state)
    if isinstance(state, list):
        return [detach_state(s) for s in state]
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    raise TypeError(f"detach_state: a recurrent state must be None, a Tensor or a tuple / list / "
                    f"dict of Tensors, got {type(state).__name__}")


class SequenceTrainer(Trainer):
    """A :class:`Trainer` for recurrent models over (B, L) id streams, by truncated BPTT.

    ``fit(train_streams, val_streams, epochs)`` takes (B, L) integer arrays (see
    :func:`~deepbasic.data.text.batchify`) where the Trainer takes DataLoaders; the validation
    streams may have another B. seq_len: the number of time steps per chunk (how far back
    gradients flow). loss_fn: ``(scores (N, V), targets (N,)) -> mean loss`` in nats (e.g.
    ``nn.CrossEntropyLoss()``). clip_grad_norm: clip the total gradient norm before each step
    (recommended for recurrent networks, e.g. 1.0 to 5.0); the mean norm before clipping is
    reported as ``train_grad_norm``. metrics: ``{name: fn(scores (N, V), y (N,))}`` per-position
    means, averaged over validation chunks weighted by their positions (default next-character
    accuracy). Other keyword arguments are the Trainer's (out_dir, monitor, patience, ...).

    Each history row holds ``train_loss``, ``train_bpc``, ``train_time``, ``examples`` (the
    positions predicted, B*(L-1)) and, with validation streams, ``val_loss``, ``val_bpc`` and the
    metrics. Validation predicts B*(L-1) positions: the first id of each stream has no input,
    and each stream starts from a fresh state.
    """

    def __init__(self, model, loss_fn, optimizer, scheduler=None, *, seq_len: int, **kwargs):
        super().__init__(model, loss_fn, optimizer, scheduler, **kwargs)
        self.seq_len = _check_seq_len(seq_len, "SequenceTrainer")

    # ----- one chunk --------------------------------------------------------------------------
    def _forward(self, x: np.ndarray, y: np.ndarray, state):
        """Model and loss on one chunk: returns (scores (B, t, V), loss, new state)."""
        out = self.model(Tensor._make(np.ascontiguousarray(x)), state)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"SequenceTrainer: the model must return (scores, state), got "
                            f"{type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, tuple) else ""))
        scores, state = out
        b, t = x.shape
        if scores.ndim != 3 or tuple(scores.shape[:2]) != (b, t):
            raise ValueError(f"SequenceTrainer: the model returned scores of shape {tuple(scores.shape)} "
                             f"for input of shape {(b, t)}; expected (B, t, V) = ({b}, {t}, V)")
        v = scores.shape[2]
        loss = self.loss_fn(scores.reshape(b * t, v), Tensor._make(np.ascontiguousarray(y).reshape(-1)))
        return scores, loss, state

    # ----- one epoch --------------------------------------------------------------------------
    def train_epoch(self, streams, epoch: int) -> dict:
        """One pass over the (B, L) ``streams`` in chunks of ``seq_len``, the state carried across
        chunks and detached between them; returns ``{"train_loss", "train_bpc", "train_time",
        "examples"}`` (plus ``"train_grad_norm"`` when clipping)."""
        streams = _check_streams(streams, "SequenceTrainer.train_epoch")
        self.model.train()
        total, seen, norms, start = 0.0, 0, [], time.perf_counter()
        state = None  # every epoch starts from the model's initial (zero) state
        chunks = tbptt_chunks(streams, self.seq_len)
        bar = _progress(chunks, num_chunks(streams, self.seq_len), f"epoch {epoch}", self.progress)
        for step, (x, y) in enumerate(bar):
            self.optimizer.zero_grad()
            _, loss, state = self._forward(x, y, state)
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"training loss became {value} at epoch {epoch}, chunk {step}: lower the "
                    f"learning rate, clip gradients (clip_grad_norm) or check the data; the last "
                    f"good checkpoint is kept" + (f" in {self.out_dir}" if self.out_dir else "")
                )
            loss.backward()
            if self.clip_grad_norm is not None:
                norms.append(clip_grad_norm_(self.model.parameters(), self.clip_grad_norm))
            self.optimizer.step()
            state = detach_state(state)  # carry the values, cut the graph
            n = x.size
            total += value * n
            seen += n
            if bar is not chunks and step % 10 == 0:
                bar.set_postfix(bpc=f"{total / seen / LN2:.3f}")
        if bar is not chunks:
            bar.close()
        loss = total / max(seen, 1)
        row = {"train_loss": loss, "train_bpc": loss / LN2,
               "train_time": time.perf_counter() - start, "examples": seen}
        if norms:
            row["train_grad_norm"] = float(np.mean(norms))
        return row

    @no_grad()
    def evaluate(self, streams) -> dict:
        """Mean loss, bits per character and every metric over the (B, L) ``streams``, in
        evaluation mode, the state carried across chunks from a fresh start."""
        streams = _check_streams(streams, "SequenceTrainer.evaluate")
        self.model.eval()
        total, seen, state = 0.0, 0, None
        sums = {name: 0.0 for name in self.metrics}
        for x, y in tbptt_chunks(streams, self.seq_len):
            scores, loss, state = self._forward(x, y, state)
            n = x.size
            total += loss.item() * n
            seen += n
            if sums:
                s = scores.numpy().reshape(n, -1)
                for name, fn in self.metrics.items():
                    sums[name] += float(fn(s, y.reshape(-1))) * n
        loss = total / max(seen, 1)
        result = {"loss": loss, "bpc": loss / LN2}
        result.update({name: v / max(seen, 1) for name, v in sums.items()})
        return result

    @staticmethod
    def _line(row: dict) -> str:
        parts = [f"epoch {row['epoch']:3d}", f"loss {row['train_loss']:.4f}",
                 f"bpc {row['train_bpc']:.3f}"]
        for k in ("val_loss", "val_bpc", "val_accuracy"):
            if k in row:
                parts.append(f"{k.replace('_', ' ')} {row[k]:.4f}")
        rate = row["examples"] / row["train_time"] if row["train_time"] > 0 else float("inf")
        parts.append(f"{rate:,.0f} chars/s")
        return "  ".join(parts)


__all__ = ["SequenceTrainer", "detach_state", "LN2"]
