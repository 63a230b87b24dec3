"""Character-level text: the default corpus, files, splits, the vocabulary and LM batches."""
import json

import numpy as np
import pytest

from deepbasic.data.text import (
    CharVocab,
    batchify,
    default_corpus,
    load_text,
    num_chunks,
    split_text,
    stdlib_source_files,
    tbptt_chunks,
)


# ----- the default corpus -------------------------------------------------------------------------
def test_default_corpus_is_python_source_and_deterministic():
    a = default_corpus(max_chars=50_000)
    assert len(a) == 50_000 and isinstance(a, str)
    assert "def " in a and "import " in a
    assert default_corpus(max_chars=50_000) == a
    assert default_corpus(max_chars=20_000) == a[:20_000]  # a prefix of the same concatenation


def test_stdlib_source_files_skip_tests_and_installed_packages():
    files = stdlib_source_files()
    assert files == sorted(files) and len(files) > 100
    for f in files:
        parts = f.split("/")
        assert f.endswith(".py") and not parts[-1].startswith("test_")
        assert not {"test", "tests", "idle_test", "site-packages", "__pycache__"} & set(parts), f


def test_default_corpus_with_own_root_and_errors(tmp_path):
    (tmp_path / "b.py").write_text("bbb")            # no final newline: one is added
    (tmp_path / "a.py").write_text("aa\n")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "c.py").write_text("skipped\n")
    (tmp_path / "test_d.py").write_text("skipped\n")
    (tmp_path / "e.txt").write_text("not python\n")
    assert default_corpus(root=tmp_path) == "aa\nbbb\n"
    assert default_corpus(max_chars=5, root=tmp_path) == "aa\nbb"
    with pytest.raises(ValueError, match="max_chars"):
        default_corpus(max_chars=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .py source files"):
        default_corpus(root=tmp_path / "empty")


# ----- files and splits ---------------------------------------------------------------------------
def test_load_text_and_its_errors(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("héllo\r\nworld\n".encode("utf-8"))
    assert load_text(p) == "héllo\r\nworld\n"       # line endings kept
    with pytest.raises(FileNotFoundError, match="no file"):
        load_text(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_text(tmp_path / "empty.txt")
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe")
    with pytest.raises(ValueError, match="errors='replace'"):
        load_text(tmp_path / "bad.txt")
    assert load_text(tmp_path / "bad.txt", errors="replace") == "ok \ufffd\ufffd"
    with pytest.raises(IsADirectoryError):
        load_text(tmp_path)


def test_split_text_by_position():
    train, held = split_text("abcdefghij", held_out=0.3)
    assert (train, held) == ("abcdefg", "hij")
    train, held = split_text("ab", held_out=0.01)     # at least one character on each side
    assert (train, held) == ("a", "b")
    ids_train, ids_held = split_text(np.arange(10), 0.2)
    assert list(ids_held) == [8, 9]
    for bad in (0, 1, 1.5, -0.1, "0.1"):
        with pytest.raises(ValueError, match="held_out"):
            split_text("abcdef", held_out=bad)
    with pytest.raises(ValueError, match="at least 2"):
        split_text("a")


# ----- the vocabulary -----------------------------------------------------------------------------
def test_char_vocab_encode_decode_and_unknown_characters():
    v = CharVocab.from_text("hello world")
    assert v.chars == sorted(set("hello world")) and v.size == len(set("hello world")) + 1
    assert v.unk_id == 0 and len(v) == v.size
    ids = v.encode("hello")
    assert ids.dtype == np.int64 and v.decode(ids) == "hello"
    assert list(ids) == [v.chars.index(c) + 1 for c in "hello"]
    unk = v.encode("hé!")
    assert unk[1] == 0 and unk[2] == 0 and unk[0] == v.encode("h")[0]
    assert v.decode(unk) == "h\ufffd\ufffd"
    assert v.encode("").shape == (0,) and v.decode([]) == ""
    assert "h" in v and "z" not in v


def test_char_vocab_handles_any_unicode_and_big_texts():
    text = "naïve 日本語 😀 \t\r\n" * 3
    v = CharVocab.from_text(text)
    assert v.decode(v.encode(text)) == text
    rng = np.random.default_rng(0)
    big = "".join(rng.choice(list("abcdefgh\n "), size=200_000))
    v = CharVocab.from_text(big)
    assert v.decode(v.encode(big)) == big


def test_char_vocab_json_round_trip_and_errors():
    v = CharVocab.from_text("abc\"\\\n😀")
    s = v.to_json()
    assert json.loads(s)["chars"] == "".join(v.chars)
    w = CharVocab.from_json(s)
    assert w == v and w.decode(w.encode("a😀")) == "a😀"
    assert CharVocab.from_dict(v.to_dict()) == v
    with pytest.raises(ValueError, match="JSON"):
        CharVocab.from_json("not json")
    with pytest.raises(ValueError, match="single character"):
        CharVocab(["ab"])
    with pytest.raises(ValueError, match="distinct"):
        CharVocab(["a", "a"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.decode([v.size])
    with pytest.raises(ValueError, match="1-D"):
        v.decode([[1]])
    with pytest.raises(ValueError, match="empty"):
        CharVocab.from_text("")


# ----- language-model batches ---------------------------------------------------------------------
def test_batchify_lays_out_parallel_streams():
    s = batchify(np.arange(23), 4)
    assert s.shape == (4, 5) and s.dtype == np.int64
    assert np.array_equal(s, np.arange(20).reshape(4, 5))   # row b continues text at b*L
    with pytest.raises(ValueError, match="at least 2 per stream"):
        batchify(np.arange(7), 4)
    with pytest.raises(ValueError, match="1-D"):
        batchify(np.zeros((2, 3), np.int64), 1)
    with pytest.raises(ValueError, match="batch_size"):
        batchify(np.arange(10), 0)
    with pytest.raises(ValueError, match="integers"):
        batchify(np.arange(10.0), 2)


def test_tbptt_chunks_cover_every_next_character_once():
    streams = np.arange(30).reshape(2, 15)
    chunks = list(tbptt_chunks(streams, 4))
    assert [x.shape for x, _ in chunks] == [(2, 4), (2, 4), (2, 4), (2, 2)]  # L-1 = 14 = 4+4+4+2
    assert len(chunks) == num_chunks(streams, 4)
    x = np.concatenate([c[0] for c in chunks], axis=1)
    y = np.concatenate([c[1] for c in chunks], axis=1)
    assert np.array_equal(x, streams[:, :-1]) and np.array_equal(y, streams[:, 1:])
    assert num_chunks(streams, 14) == 1 and num_chunks(streams, 100) == 1
    with pytest.raises(ValueError, match="batchify"):
        list(tbptt_chunks(np.arange(10), 3))
    with pytest.raises(ValueError, match="seq_len"):
        list(tbptt_chunks(streams, 0))
    with pytest.raises(ValueError, match="L >= 2"):
        list(tbptt_chunks(np.zeros((3, 1), np.int64), 2))
