"""A word vocabulary for captions, with the four special tokens of the classic captioning code.

    vocab = Vocabulary.build(["a red circle", "a blue square left of a red circle"])
    ids = vocab.encode_batch(captions, max_len=16)   # (N, 16) int64: <START> words <END> <NULL>...
    vocab.decode(ids[0])                             # "a red circle"

Ids 0..3 are ``<NULL>`` (padding, masked out of the loss), ``<START>`` (the first input of the
decoder), ``<END>`` (the decoder says it is done) and ``<UNK>`` (a word not in the vocabulary);
the words follow, most frequent first (ties alphabetical). Saved as JSON, never pickled.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np

from deepbasic.data.coco import tokenize_caption

NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIAL = (NULL, START, END, UNK)


def tokenize(caption: str) -> list[str]:
    """Lowercase words of ``caption``, punctuation deleted (see
    :func:`deepbasic.data.coco.tokenize_caption`)."""
    if not isinstance(caption, str):
        raise TypeError(f"tokenize: expected a caption string, got {type(caption).__name__}")
    return tokenize_caption(caption)


class Vocabulary:
    """Words <-> ids. ``null_id, start_id, end_id, unk_id`` are 0, 1, 2, 3."""

    null_id, start_id, end_id, unk_id = 0, 1, 2, 3

    def __init__(self, words):
        words = list(words)
        if words[:4] != list(SPECIAL):
            words = list(SPECIAL) + [w for w in words if w not in SPECIAL]
        if len(set(words)) != len(words):
            raise ValueError("Vocabulary: the words must be distinct")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    @classmethod
    def build(cls, captions, min_count: int = 1) -> "Vocabulary":
        """The vocabulary of the words seen at least ``min_count`` times in ``captions`` (strings
        or token lists); rarer words will map to ``<UNK>``."""
        counts = Counter()
        for c in captions:
            counts.update(tokenize(c) if isinstance(c, str) else c)
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(list(SPECIAL) + kept)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def encode(self, caption, max_len: int | None = None) -> np.ndarray:
        """``<START> w1 ... wk <END>`` as int64 ids, then ``<NULL>`` up to ``max_len`` (None: no
        padding). A caption longer than ``max_len`` keeps its first ``max_len - 2`` words so the
        sequence still ends with ``<END>``."""
        words = tokenize(caption) if isinstance(caption, str) else list(caption)
        if max_len is not None:
            if max_len < 2:
                raise ValueError(f"Vocabulary.encode: max_len must be >= 2 (room for <START> and "
                                 f"<END>), got {max_len}")
            words = words[:max_len - 2]
        ids = [self.start_id] + [self.index.get(w, self.unk_id) for w in words] + [self.end_id]
        if max_len is not None:
            ids += [self.null_id] * (max_len - len(ids))
        return np.array(ids, dtype=np.int64)

    def encode_batch(self, captions, max_len: int) -> np.ndarray:
        """(N, max_len) int64: one :meth:`encode`-d, padded row per caption."""
        return np.stack([self.encode(c, max_len) for c in captions]) if len(captions) else \
            np.zeros((0, max_len), dtype=np.int64)

    def decode(self, ids) -> str:
        """The words of ``ids`` up to the first ``<END>``, without ``<START>`` / ``<NULL>``."""
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == self.end_id:
                break
            if i in (self.null_id, self.start_id):
                continue
            if not 0 <= i < len(self.words):
                raise ValueError(f"Vocabulary.decode: id {i} is outside 0..{len(self.words) - 1}")
            out.append(self.words[i])
        return " ".join(out)

    def to_json(self) -> str:
        return json.dumps({"words": self.words})

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("words"), list):
            raise ValueError("Vocabulary.from_json: expected {\"words\": [...]}")
        return cls(data["words"])
