"""Recurrent models: the three shapes of recurrence on top of :class:`deepbasic.nn.LSTM`.

- Many to one: :class:`RowLSTM` reads an image one row per time step (a 28x28 garment is a
  sequence of 28 vectors of 28 values) and classifies it from the last hidden state.
- Many to many: :class:`CharLM`, a character-level language model: embedding -> LSTM -> linear
  scores for the next character at every step; :func:`sample_text` draws text from it with a
  temperature.
- One to many: image captioning lives in :mod:`deepbasic.models.captioner`.
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend, nn
from deepbasic.tensor import no_grad, tensor

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _cell(name: str):
    if name not in CELLS:
        raise ValueError(f"unknown recurrent cell {name!r}: expected one of {', '.join(CELLS)}")
    return CELLS[name]


class RowLSTM(nn.Module):
    """Sequence classification of images read row by row (many to one).

    x: (N, C, H, W) -> the sequence of H rows, each the C*W values of that row -> a
    ``num_layers``-layer LSTM (or GRU / tanh RNN, ``cell``) of ``hidden`` units -> the last
    step's hidden state (N, hidden) -> Linear -> scores (N, num_classes).
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, hidden: int = 128,
                 num_layers: int = 1, cell: str = "lstm", dropout: float = 0.0):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"RowLSTM: input_shape must be (C, H, W), got {tuple(input_shape)}")
        c, h, w = input_shape
        self.input_shape, self.cell = tuple(input_shape), cell
        self.rnn = _cell(cell)(c * w, hidden, num_layers=num_layers, batch_first=True,
                               dropout=dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"RowLSTM: expected images (N, {', '.join(map(str, self.input_shape))}), "
                             f"got shape {tuple(x.shape)}")
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 1, 3).reshape(n, h, c * w)  # (N, H, C*W): one row per step
        out, _ = self.rnn(rows)
        return self.fc(out[:, -1])


class CharLM(nn.Module):
    """A character-level language model (many to many).

    x: (B, T) int character ids -> Embedding(vocab_size, embed) -> ``num_layers``-layer LSTM (or
    GRU / RNN) of ``hidden`` units -> Linear -> scores (B, T, vocab_size) for the next character
    at each step. ``forward(x, state)`` also returns the final recurrent state, to carry into the
    next chunk of a long text (truncated backpropagation through time).
    """

    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 256, num_layers: int = 2,
                 cell: str = "lstm", dropout: float = 0.0):
        super().__init__()
        self.vocab_size, self.cell = int(vocab_size), cell
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = _cell(cell)(embed, hidden, num_layers=num_layers, batch_first=True,
                               dropout=dropout)
        self.fc = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        """x: (B, T) int ids; state: None or the state returned by the previous call.
        Returns (scores (B, T, vocab_size), state)."""
        if x.ndim != 2:
            raise ValueError(f"CharLM: expected character ids (B, T), got shape {tuple(x.shape)}")
        out, state = self.rnn(self.embed(x), state)
        return self.fc(out), state


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def sample_text(model: CharLM, vocab, length: int, prime: str = "\n", temperature: float = 1.0,
                seed: int | None = None) -> str:
    """Draw ``length`` characters from ``model`` after reading ``prime``.

    vocab: the :class:`~deepbasic.data.text.CharVocab` the model was trained with. temperature:
    the scores are divided by it before the softmax (below 1: more likely, more repetitive text;
    above 1: more surprising; 0: always the most likely character). Returns only the new text.
    """
    if length < 0:
        raise ValueError(f"sample_text: length must be >= 0, got {length}")
    if temperature < 0:
        raise ValueError(f"sample_text: temperature must be >= 0, got {temperature}")
    if not prime:
        raise ValueError("sample_text: prime must hold at least one character")
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    out = []
    try:
        with no_grad():
            ids = vocab.encode(prime)
            scores, state = model(tensor(ids[None, :].astype(np.int64)), None)
            for _ in range(length):
                last = backend.to_numpy(scores.data[0, -1]).astype(np.float64)
                if temperature == 0:
                    nxt = int(last.argmax())
                else:
                    p = _softmax_rows(last / temperature)
                    nxt = int(rng.choice(len(p), p=p))
                out.append(nxt)
                scores, state = model(tensor(np.array([[nxt]], dtype=np.int64)), state)
    finally:
        model.train(was_training)
    return vocab.decode(np.array(out, dtype=np.int64))


__all__ = ["RowLSTM", "CharLM", "sample_text", "CELLS"]
