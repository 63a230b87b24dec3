"""Image captioning (one to many): a CNN encoder whose features set the initial state of an LSTM
decoder that writes the caption one word at a time.

Training uses teacher forcing: the decoder reads the true caption shifted by one
(``<START> w1 .. wk``) and is scored on predicting the next word at every step
(``w1 .. wk <END>``), padding masked out. At test time it reads its own previous word:
:meth:`Captioner.greedy` takes the most likely word each step, :meth:`Captioner.beam_search`
keeps the ``beam`` most likely partial captions.

The encoder keeps where things are: its last feature map (C, h, w) is flattened, not averaged,
before the linear projection to the decoder's initial hidden and cell states, so a caption can say
"left of" and "above".
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend, init, nn
from deepbasic.ops.shape import cat
from deepbasic.tensor import no_grad, tensor


class Captioner(nn.Module):
    """images (N, C, H, W) + caption ids (N, T) -> next-word scores (N, T, vocab_size).

    Encoder: per entry of ``channels``, conv3x3 -> BatchNorm2d -> ReLU -> 2x2 max pool; flatten;
    Linear -> tanh gives h0 and c0 (each (N, hidden)) of a one-layer LSTM over word embeddings of
    size ``embed``; Linear(hidden, vocab_size) scores each step. With ``feature_input > 0`` the
    features are also fed to the LSTM at every step: Linear -> ReLU to ``feature_input`` values
    concatenated to each word's embedding (so the decoder need not carry what it saw in its
    state alone).
    """

    def __init__(self, vocab_size: int, input_shape=(3, 64, 64), channels=(16, 32, 64, 64),
                 embed: int = 64, hidden: int = 256, feature_input: int = 64, null_id: int = 0,
                 start_id: int = 1, end_id: int = 2):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"Captioner: input_shape must be (C, H, W), got {tuple(input_shape)}")
        c, h, w = input_shape
        k = len(channels)
        if h % 2 ** k or w % 2 ** k:
            raise ValueError(f"Captioner: {k} pooling stages need H and W divisible by {2 ** k}, "
                             f"got {h}x{w}")
        self.input_shape, self.vocab_size, self.hidden = tuple(input_shape), int(vocab_size), hidden
        self.null_id, self.start_id, self.end_id = null_id, start_id, end_id
        layers = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.MaxPool2d(2, 2)]
            c = out
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        flat = c * (h >> k) * (w >> k)
        self.project = nn.Linear(flat, 2 * hidden)
        self.feature_input = int(feature_input)
        if self.feature_input:
            self.inject = nn.Linear(flat, self.feature_input)
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = nn.LSTM(embed + self.feature_input, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, vocab_size)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, nonlinearity="relu")

    def _check_images(self, images):
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
            raise ValueError(f"Captioner: expected images (N, {', '.join(map(str, self.input_shape))}),"
                             f" got shape {tuple(images.shape)}")

    def encode(self, images):
        """The decoder's initial state (h0, c0), each (1, N, hidden), and its per-step feature
        input (N, feature_input) (None when ``feature_input`` is 0), from the images."""
        self._check_images(images)
        f = self.encoder(images)
        hc = self.project(f).tanh()
        h0, c0 = hc[:, :self.hidden], hc[:, self.hidden:]
        extra = self.inject(f).relu() if self.feature_input else None
        return (h0.unsqueeze(0), c0.unsqueeze(0)), extra

    def initial_state(self, images):
        """The decoder's (h0, c0), each (1, N, hidden), from the images' features."""
        return self.encode(images)[0]

    def _inputs(self, words, extra):
        """The LSTM's inputs: word embeddings (N, T, embed), with the feature input appended."""
        x = self.embed(words)
        if extra is None:
            return x
        n, t = words.shape
        return cat([x, extra.unsqueeze(1).expand(n, t, self.feature_input)], dim=2)

    def forward(self, images, captions):
        """images: (N, C, H, W); captions: (N, T) int ids read by the decoder (teacher forcing).
        Returns scores (N, T, vocab_size) for the word after each input word."""
        if captions.ndim != 2 or captions.shape[0] != images.shape[0]:
            raise ValueError(f"Captioner: expected caption ids (N, T) with N = {images.shape[0]} "
                             f"images, got shape {tuple(captions.shape)}")
        state, extra = self.encode(images)
        out, _ = self.rnn(self._inputs(captions, extra), state)
        return self.fc(out)

    # ----- decoding -------------------------------------------------------------------------------
    def _step(self, words, state, extra):
        """words: (B,) int ids -> (log-probabilities (B, V) as float64 NumPy, new state)."""
        xp = backend.get_array_module(state[0].data)
        ids = tensor(xp.asarray(words, dtype=np.int64).reshape(-1, 1))
        out, state = self.rnn(self._inputs(ids, extra), state)
        s = backend.to_numpy(self.fc(out).data[:, 0]).astype(np.float64)
        s -= s.max(axis=1, keepdims=True)
        s -= np.log(np.exp(s).sum(axis=1, keepdims=True))
        return s, state

    def greedy(self, images, max_len: int = 16) -> np.ndarray:
        """The most likely word at each step. Returns (N, max_len) int64 ids (after <START>;
        <NULL> after <END>)."""
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                images = images if hasattr(images, "data") else tensor(images)
                state, extra = self.encode(images)
                n = images.shape[0]
                words = np.full(n, self.start_id, dtype=np.int64)
                done = np.zeros(n, dtype=bool)
                out = np.full((n, max_len), self.null_id, dtype=np.int64)
                for t in range(max_len):
                    logp, state = self._step(words, state, extra)
                    logp[:, self.null_id] = logp[:, self.start_id] = -np.inf
                    words = logp.argmax(axis=1)
                    out[:, t] = np.where(done, self.null_id, words)
                    done |= words == self.end_id
                    if done.all():
                        break
        finally:
            self.train(was_training)
        return out

    def beam_search(self, images, beam: int = 3, max_len: int = 16) -> np.ndarray:
        """Keep the ``beam`` most likely partial captions (sum of word log-probabilities) of every
        image; a caption that has said <END> is kept as it is. Returns (N, max_len) int64 ids of
        the most likely caption found (as :meth:`greedy`). ``beam=1`` is greedy decoding."""
        if beam < 1:
            raise ValueError(f"beam_search: beam must be >= 1, got {beam}")
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                images = images if hasattr(images, "data") else tensor(images)
                (h0, c0), extra = self.encode(images)
                n, k, v = images.shape[0], beam, self.vocab_size
                rep = np.repeat(np.arange(n), k)  # beams of image i at rows i*k .. i*k+k-1
                state = (h0[:, rep], c0[:, rep])
                extra = None if extra is None else extra[rep]
                score = np.full((n, k), -np.inf)
                score[:, 0] = 0.0  # all beams start equal: keep one so they do not duplicate
                seqs = np.full((n, k, max_len), self.null_id, dtype=np.int64)
                words = np.full(n * k, self.start_id, dtype=np.int64)
                done = np.zeros((n, k), dtype=bool)
                for t in range(max_len):
                    logp, state = self._step(words, state, extra)
                    logp = logp.reshape(n, k, v)
                    logp[:, :, [self.null_id, self.start_id]] = -np.inf
                    # a finished caption continues only with <NULL>, at no cost
                    logp[done] = -np.inf
                    logp[done, self.null_id] = 0.0
                    total = (score[:, :, None] + logp).reshape(n, k * v)
                    top = np.argsort(-total, axis=1, kind="stable")[:, :k]
                    src, word = top // v, top % v
                    score = np.take_along_axis(total, top, axis=1)
                    seqs = np.take_along_axis(seqs, src[:, :, None], axis=1)
                    seqs[:, :, t] = word
                    done = np.take_along_axis(done, src, axis=1) | (word == self.end_id) | \
                        (word == self.null_id)
                    rows = (np.arange(n)[:, None] * k + src).reshape(-1)
                    xp = backend.get_array_module(state[0].data)
                    idx = xp.asarray(rows)
                    state = (state[0][:, idx], state[1][:, idx])
                    words = word.reshape(-1)
                    if done.all():
                        break
                best = score.argmax(axis=1)
                return seqs[np.arange(n), best]
        finally:
            self.train(was_training)


def caption_loss(scores, targets, null_id: int = 0):
    """Softmax cross-entropy of next-word ``scores`` (N, T, V) against ``targets`` (N, T), the
    ``<NULL>`` padding masked out, averaged over the real words."""
    from deepbasic.nn import functional as F

    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1),
                           ignore_index=null_id)
