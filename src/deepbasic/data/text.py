"""Character-level text: a corpus found on every machine, a vocabulary, and language-model batches.

    text = default_corpus()                       # ~3 M characters of Python's own source code
    train, held = split_text(text, held_out=0.1)  # by position: the last 10 % is held out
    vocab = CharVocab.from_text(train)            # sorted characters + an <unk> id
    streams = batchify(vocab.encode(train), 32)   # (32, L) int64: 32 parallel streams
    for x, y in tbptt_chunks(streams, 64):        # x, y: (32, t), y[:, i] = the character after x[:, i]
        ...

The layout of :func:`batchify` is the classic one for language models (Zaremba et al. 2014): the
id sequence is cut into ``B`` contiguous pieces laid side by side as rows, so each row is one
long stream read left to right, and a batch of chunks ``streams[:, s:s+t]`` holds ``B``
independent positions of the text. A recurrent model reads the chunks in order, carrying its
hidden state from one chunk to the next (truncated backpropagation through time: see
:class:`deepbasic.train.SequenceTrainer`).

Everything here is plain NumPy (no autograd), so the module loads on its own.
"""
from __future__ import annotations

import functools
import json
import os
import sysconfig

import numpy as np

#: Characters :func:`default_corpus` returns by default (about 3 MB of ASCII-heavy source code).
DEFAULT_CORPUS_CHARS = 3_000_000

#: Directories of the standard library left out of the default corpus.
_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__", "test", "tests",
                        "idle_test"})


# ----- the default corpus ---------------------------------------------------------------------
def stdlib_source_files(root: str | None = None) -> list[str]:
    """The standard library's ``.py`` files, as sorted paths relative to ``root``.

    root: the standard library folder (default ``sysconfig.get_paths()["stdlib"]``). Left out:
    test directories (``test``, ``tests``, ``idle_test``), files named ``test_*.py``, installed
    packages (``site-packages``, ``dist-packages``), ``__pycache__``, and the build-specific
    ``_sysconfigdata*.py``. Paths use ``/`` and are sorted as strings, so the order is the same
    on every machine with the same Python.
    """
    root = sysconfig.get_paths()["stdlib"] if root is None else os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"stdlib_source_files: no standard library folder at {root}")
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        rel = os.path.relpath(folder, root)
        for name in files:
            if (name.endswith(".py") and not name.startswith("test_")
                    and not name.startswith("_sysconfigdata")):
                paths.append(name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}")
    paths.sort()
    return paths


@functools.lru_cache(maxsize=4)
def _read_corpus(root: str, max_chars: int) -> str:
    parts, total = [], 0
    for rel in stdlib_source_files(root):
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace", newline="") as f:
            text = f.read()
        if text and not text.endswith("\n"):
            text += "\n"
        parts.append(text[:max_chars - total])
        total += len(parts[-1])
        if total >= max_chars:
            break
    if not parts:
        raise FileNotFoundError(f"default_corpus: no .py source files under {root}; pass your own "
                                f"text with load_text(path)")
    return "".join(parts)


def default_corpus(max_chars: int = DEFAULT_CORPUS_CHARS, root: str | None = None) -> str:
    """A text corpus present on every machine: the Python standard library's own source code.

    The ``.py`` files of :func:`stdlib_source_files` (tests and installed packages left out) are
    read in sorted order as UTF-8 (undecodable bytes become U+FFFD, line endings kept as they
    are), each ending with a newline, and concatenated until ``max_chars`` characters; the last
    file is cut there. The default, 3,000,000 characters (3 MB; Python 3.11's standard library
    holds about 12 M characters of such code), reaches into ``email/``. The result is the same on
    every call on the same Python (and cached, so later calls are free); another Python version
    gives a different corpus.
    """
    if isinstance(max_chars, bool) or not isinstance(max_chars, (int, np.integer)) or max_chars < 1:
        raise ValueError(f"default_corpus: max_chars must be a positive integer, got {max_chars!r}")
    root = sysconfig.get_paths()["stdlib"] if root is None else os.fspath(root)
    return _read_corpus(root, int(max_chars))


# ----- files and splits -----------------------------------------------------------------------
def load_text(path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """The contents of a text file as one string (line endings kept as they are).

    Raises FileNotFoundError for a missing file, ValueError for an empty file or one that is not
    valid ``encoding`` text (pass ``errors="replace"`` to turn bad bytes into U+FFFD).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_text: no file at {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load_text: {path} is a directory, expected a text file")
    try:
        with open(path, encoding=encoding, errors=errors, newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"load_text: {path} is not valid {encoding} text (byte {e.start}: "
                         f"{e.reason}); pass errors='replace' to read it anyway") from None
    if not text:
        raise ValueError(f"load_text: {path} is empty, expected some text")
    return text


def split_text(text, held_out: float = 0.1):
    """Split ``text`` (a str, or a 1-D array of ids) by position: ``(train, held)``.

    ``held`` is the last ``round(held_out * len(text))`` characters (at least one), ``train``
    all before it, so no held-out position was seen in training and the held-out part reads as
    a continuation of the training part. Both parts are non-empty.
    """
    if isinstance(held_out, bool) or not isinstance(held_out, (int, float)) or not 0 < held_out < 1:
        raise ValueError(f"split_text: held_out must be a fraction in (0, 1), got {held_out!r}")
    n = len(text)
    if n < 2:
        raise ValueError(f"split_text: need at least 2 characters to split, got {n}")
    k = min(max(int(round(held_out * n)), 1), n - 1)
    return text[:n - k], text[n - k:]


# ----- the vocabulary -------------------------------------------------------------------------
def _code_points(text: str) -> np.ndarray:
    """(n,) uint32 Unicode code points of ``text`` (one per character), without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")


class CharVocab:
    """Characters <-> integer ids: id 0 is ``<unk>``, ids 1.. the known characters in sorted order.

    Built from training text with :meth:`from_text`; a character not in the vocabulary (seen only
    in held-out text) encodes to :attr:`unk_id` and decodes as ``unk_char`` (U+FFFD by default).
    Stored as JSON (:meth:`to_json` / :meth:`from_json`, or the dicts of :meth:`to_dict`), e.g. in
    a checkpoint's config: never pickled.

        vocab = CharVocab.from_text("hello")     # chars ['e', 'h', 'l', 'o'], size 5
        vocab.encode("hole!")                     # array([2, 4, 3, 1, 0])
        vocab.decode([2, 1, 3, 3, 4])             # 'hello'
    """

    UNK = "<unk>"
    unk_id = 0

    def __init__(self, chars, unk_char: str = "\ufffd"):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"CharVocab: every entry must be a single character, got {c!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("CharVocab: characters must be distinct")
        if not isinstance(unk_char, str) or len(unk_char) != 1:
            raise ValueError(f"CharVocab: unk_char must be one character, got {unk_char!r}")
        self.chars = sorted(chars)
        self.unk_char = unk_char
        self._known = frozenset(self.chars)
        self._points = _code_points("".join(self.chars)).astype(np.int64)  # sorted, (V-1,)
        # decode table: id -> code point; id 0 (<unk>) -> unk_char
        self._table = np.concatenate([_code_points(unk_char), _code_points("".join(self.chars))])

    @classmethod
    def from_text(cls, text: str, unk_char: str = "\ufffd") -> "CharVocab":
        """The vocabulary of the distinct characters of ``text`` (plus ``<unk>``)."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.from_text: expected a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharVocab.from_text: the text is empty")
        points = np.unique(_code_points(text))
        return cls(points.astype("<u4").tobytes().decode("utf-32-le", errors="surrogatepass"),
                   unk_char=unk_char)

    @property
    def size(self) -> int:
        """Number of ids, ``<unk>`` included."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return self.size

    def __contains__(self, char) -> bool:
        return char in self._known

    def __eq__(self, other) -> bool:
        return (isinstance(other, CharVocab) and self.chars == other.chars
                and self.unk_char == other.unk_char)

    def __repr__(self) -> str:
        return f"CharVocab(size={self.size})"

    def encode(self, text: str) -> np.ndarray:
        """(n,) int64 ids of the n characters of ``text``; unknown characters give ``unk_id``."""
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.encode: expected a str, got {type(text).__name__}")
        points = _code_points(text).astype(np.int64)
        pos = np.searchsorted(self._points, points)
        pos_c = np.minimum(pos, max(len(self._points) - 1, 0))
        known = (self._points[pos_c] == points) if len(self._points) else np.zeros(len(points), bool)
        return np.where(known, pos + 1, self.unk_id).astype(np.int64)

    def decode(self, ids) -> str:
        """The text of a 1-D sequence of ids (``unk_id`` decodes as ``unk_char``)."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"CharVocab.decode: expected a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size == 0:
            return ""
        if ids.dtype.kind not in "iu":
            raise ValueError(f"CharVocab.decode: ids must be integers, got dtype {ids.dtype}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"CharVocab.decode: id {bad} is outside the vocabulary [0, {self.size})")
        return self._table[ids].astype("<u4").tobytes().decode("utf-32-le", errors="surrogatepass")

    def to_dict(self) -> dict:
        """A JSON-able description: ``{"chars": "...", "unk_char": "..."}``."""
        return {"chars": "".join(self.chars), "unk_char": self.unk_char}

    @classmethod
    def from_dict(cls, d: dict) -> "CharVocab":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or not isinstance(d.get("chars"), str):
            raise ValueError(f"CharVocab.from_dict: expected {{'chars': str, ...}}, got {d!r:.80}")
        return cls(d["chars"], unk_char=d.get("unk_char", "\ufffd"))

    def to_json(self) -> str:
        """The vocabulary as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, s: str) -> "CharVocab":
        """Inverse of :meth:`to_json`."""
        try:
            d = json.loads(s)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"CharVocab.from_json: not a JSON vocabulary ({e})") from None
        return cls.from_dict(d)


# ----- language-model batches -----------------------------------------------------------------
def batchify(ids, batch_size: int) -> np.ndarray:
    """Lay a 1-D id sequence out as ``batch_size`` parallel streams: (batch_size, L) int64.

    L = len(ids) // batch_size; row b is ``ids[b*L:(b+1)*L]``, and the last
    ``len(ids) % batch_size`` ids are dropped. Each row needs L >= 2 (an input and its target).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"batchify: expected a 1-D sequence of ids, got shape {ids.shape}")
    if ids.size and ids.dtype.kind not in "iu":
        raise ValueError(f"batchify: ids must be integers, got dtype {ids.dtype}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batchify: batch_size must be a positive integer, got {batch_size!r}")
    length = len(ids) // batch_size
    if length < 2:
        raise ValueError(f"batchify: {len(ids)} ids make streams of length {length} with "
                         f"batch_size {batch_size}; need at least 2 per stream "
                         f"(at least {2 * batch_size} ids)")
    return np.ascontiguousarray(ids[:batch_size * length].reshape(batch_size, length), dtype=np.int64)


def _check_streams(streams, what: str) -> np.ndarray:
    streams = np.asarray(streams)
    if streams.ndim != 2:
        raise ValueError(f"{what}: expected streams of shape (B, L) (see batchify), got shape "
                         f"{streams.shape}")
    if streams.dtype.kind not in "iu":
        raise ValueError(f"{what}: streams must hold integer ids, got dtype {streams.dtype}")
    if streams.shape[1] < 2:
        raise ValueError(f"{what}: streams of length {streams.shape[1]} have no (input, target) "
                         f"pair; need L >= 2")
    return streams


def _check_seq_len(seq_len, what: str) -> int:
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise ValueError(f"{what}: seq_len must be a positive integer, got {seq_len!r}")
    return int(seq_len)


def num_chunks(streams, seq_len: int) -> int:
    """How many chunks :func:`tbptt_chunks` yields: ceil((L - 1) / seq_len)."""
    streams = _check_streams(streams, "num_chunks")
    seq_len = _check_seq_len(seq_len, "num_chunks")
    return -(-(streams.shape[1] - 1) // seq_len)


def tbptt_chunks(streams, seq_len: int):
    """Yield ``(x, y)`` chunks of (B, L) streams in order, for truncated backprop through time.

    x = ``streams[:, s:s+t]`` and y = ``streams[:, s+1:s+1+t]`` (the next character of each
    position), for s = 0, seq_len, 2*seq_len, ...; t = seq_len except for the last chunk, which
    is shorter when (L - 1) is not a multiple of seq_len. Both are (B, t) int64 arrays (views).
    Consecutive chunks continue each stream, so a recurrent model can carry its state across them.
    """
    streams = _check_streams(streams, "tbptt_chunks")
    seq_len = _check_seq_len(seq_len, "tbptt_chunks")
    last = streams.shape[1] - 1
    for s in range(0, last, seq_len):
        t = min(seq_len, last - s)
        yield streams[:, s:s + t], streams[:, s + 1:s + 1 + t]
