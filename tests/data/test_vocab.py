"""The caption vocabulary: special tokens, encoding with padding, decoding, JSON."""
import numpy as np
import pytest

from deepbasic.data.vocab import Vocabulary, tokenize


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A Red circle, left of a blue square.") == \
        ["a", "red", "circle", "left", "of", "a", "blue", "square"]
    with pytest.raises(TypeError, match="caption string"):
        tokenize(3)


def test_build_orders_by_frequency_and_keeps_special_ids():
    v = Vocabulary.build(["a red circle", "a blue circle", "a red square"])
    assert v.words[:4] == ["<NULL>", "<START>", "<END>", "<UNK>"]
    assert (v.null_id, v.start_id, v.end_id, v.unk_id) == (0, 1, 2, 3)
    assert v.words[4:] == ["a", "circle", "red", "blue", "square"]
    assert len(v) == 9 and "red" in v and "green" not in v


def test_min_count_sends_rare_words_to_unk():
    v = Vocabulary.build(["a red circle", "a red square"], min_count=2)
    assert v.words[4:] == ["a", "red"]
    assert v.encode("a red circle").tolist() == [1, v.index["a"], v.index["red"], 3, 2]


def test_encode_pads_and_truncates_and_decode_inverts():
    v = Vocabulary.build(["a red circle left of a blue square"])
    ids = v.encode("a red circle", max_len=8)
    assert ids.dtype == np.int64 and ids.shape == (8,)
    assert ids[0] == v.start_id and ids[4] == v.end_id and (ids[5:] == v.null_id).all()
    assert v.decode(ids) == "a red circle"
    short = v.encode("a red circle left of a blue square", max_len=5)
    assert short.tolist()[-1] == v.end_id and v.decode(short) == "a red circle"
    batch = v.encode_batch(["a red circle", "a blue square"], max_len=6)
    assert batch.shape == (2, 6)
    assert [v.decode(r) for r in batch] == ["a red circle", "a blue square"]
    with pytest.raises(ValueError, match="max_len must be >= 2"):
        v.encode("a", max_len=1)
    with pytest.raises(ValueError, match="outside"):
        v.decode([99])


def test_json_round_trip():
    v = Vocabulary.build(["a red circle", "a blue square"])
    w = Vocabulary.from_json(v.to_json())
    assert w.words == v.words
    with pytest.raises(ValueError, match="words"):
        Vocabulary.from_json("[1, 2]")
