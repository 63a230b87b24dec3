"""The captioner: shapes, teacher forcing, greedy and beam decoding, the captioning experiment."""
import itertools
import json
import os

import numpy as np
import pytest

import deepbasic as db
from deepbasic.models.captioner import Captioner, caption_loss
from deepbasic.train.captioning import (CaptionLoader, bleu4, caption_experiment,
                                        decode_captions, load_captioner, word_accuracy)


def small_captioner(vocab_size=6, seed=0):
    db.manual_seed(seed)
    return Captioner(vocab_size, (3, 16, 16), channels=(4, 4), embed=5, hidden=7)


def images(n, seed=0):
    return db.tensor(np.random.default_rng(seed).random((n, 3, 16, 16), dtype=np.float32))


def test_forward_shapes_and_errors():
    m = small_captioner(vocab_size=11)
    caps = db.tensor(np.random.default_rng(1).integers(0, 11, (3, 5)))
    out = m(images(3), caps)
    assert out.shape == (3, 5, 11)
    h0, c0 = m.initial_state(images(3))
    assert h0.shape == c0.shape == (1, 3, 7)
    with pytest.raises(ValueError, match=r"expected images \(N, 3, 16, 16\)"):
        m(db.tensor(np.zeros((3, 1, 16, 16), np.float32)), caps)
    with pytest.raises(ValueError, match="caption ids"):
        m(images(2), caps)
    with pytest.raises(ValueError, match="divisible by 4"):
        Captioner(5, (3, 18, 18), channels=(4, 4))


def test_caption_loss_ignores_padding():
    m = small_captioner()
    caps = db.tensor(np.array([[1, 4, 5, 2, 0, 0]]))
    scores = m(images(1), caps[:, :-1])
    full = caption_loss(scores, caps[:, 1:]).item()
    # inputs <START> 4 5 2 <NULL>, targets 4 5 2 <NULL> <NULL>: three real next words
    s = scores.numpy()[0].astype(np.float64)
    s -= s.max(1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(1, keepdims=True))
    expected = -np.mean([logp[0, 4], logp[1, 5], logp[2, 2]])
    assert full == pytest.approx(expected, rel=1e-5)


def _sequence_logprob(model, image, words):
    """log p(words | image) by teacher forcing: words is the decoded part after <START>."""
    ids = np.array([[model.start_id] + list(words)])
    with db.no_grad():
        s = model(image, db.tensor(ids[:, :-1])).numpy()[0].astype(np.float64)
    s -= s.max(1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(1, keepdims=True))
    return float(sum(logp[t, w] for t, w in enumerate(words)))


def _exhaustive_best(model, image, max_len):
    """The most likely caption of at most max_len words (ending at <END> or cut at max_len)."""
    words = [model.end_id] + list(range(4, model.vocab_size))
    best, best_seq = -np.inf, None
    seen = set()
    for seq in itertools.product(words, repeat=max_len):
        seq = list(seq)
        if model.end_id in seq:
            seq = seq[:seq.index(model.end_id) + 1]
        if tuple(seq) in seen:
            continue
        seen.add(tuple(seq))
        lp = _sequence_logprob(model, image, seq)
        if lp > best:
            best, best_seq = lp, seq
    return best, best_seq


def test_beam_one_is_greedy_and_a_wide_beam_finds_the_most_likely_caption():
    m = small_captioner(vocab_size=7, seed=3)
    m.eval()
    x = images(4, seed=5)
    greedy = m.greedy(x, max_len=3)
    assert np.array_equal(m.beam_search(x, beam=1, max_len=3), greedy)
    wide = m.beam_search(x, beam=16, max_len=3)  # 4 choices per step: 16 covers every 2-prefix
    for i in range(4):
        best, seq = _exhaustive_best(m, x[i:i + 1], 3)
        got = [w for w in wide[i].tolist() if w != m.null_id]
        assert got == seq
        g = [w for w in greedy[i].tolist() if w != m.null_id]
        assert _sequence_logprob(m, x[i:i + 1], g) <= best + 1e-9
    with pytest.raises(ValueError, match="beam must be >= 1"):
        m.beam_search(x, beam=0)


def test_decoding_pads_after_end_and_keeps_training_mode():
    m = small_captioner(vocab_size=6, seed=1)
    m.train()
    out = m.greedy(images(5), max_len=6)
    assert m.training
    assert out.shape == (5, 6) and out.dtype == np.int64
    for row in out:
        row = row.tolist()
        if m.end_id in row:
            assert all(w == m.null_id for w in row[row.index(m.end_id) + 1:])
        assert m.start_id not in row


def test_caption_loader_shifts_the_words():
    ids = np.array([[1, 4, 5, 2], [1, 6, 2, 0], [1, 7, 8, 2]])
    imgs = np.zeros((3, 3, 4, 4), np.float32)
    batches = list(CaptionLoader(imgs, ids, batch_size=2))
    (x, words), target = batches[0]
    assert x.shape == (2, 3, 4, 4)
    assert words.numpy().tolist() == [[1, 4, 5], [1, 6, 2]]
    assert target.numpy().tolist() == [[4, 5, 2], [6, 2, 0]]
    with pytest.raises(ValueError, match=r"caption ids \(N, L\)"):
        CaptionLoader(imgs, ids[:, :1])


def test_word_accuracy_and_bleu():
    scores = np.zeros((1, 3, 5))
    scores[0, 0, 4] = scores[0, 1, 3] = scores[0, 2, 1] = 1
    assert word_accuracy(scores, np.array([[4, 2, 0]])) == 0.5
    refs = [["a red circle left of a blue square", "a blue square right of a red circle"]]
    assert bleu4(refs, ["a red circle left of a blue square"]) == pytest.approx(1.0)
    assert bleu4(refs, ["a blue square right of a red circle"]) == pytest.approx(1.0)
    assert bleu4(refs, ["green green green green"]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="hypotheses"):
        bleu4(refs, [])


def test_caption_experiment_trains_saves_and_reloads(tmp_path):
    out = str(tmp_path / "cap")
    r = caption_experiment(train_scenes=48, val_scenes=8, test_scenes=8, size=16, epochs=2,
                           batch_size=16, embed=8, hidden=16, channels=(4, 8), beam=2,
                           out_dir=out, progress=False, verbose=False, examples=4,
                           scene_options={"max_objects": 2})
    hist = r["history"]
    assert len(hist) == 2 and hist[1]["train_loss"] < hist[0]["train_loss"]
    for method in ("greedy", "beam"):
        assert 0.0 <= r["test_bleu4"][method] <= 1.0
    for name in ("best.safetensors", "last.safetensors", "metrics.jsonl", "captions.png",
                 "result.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    saved = json.load(open(os.path.join(out, "result.json")))
    assert saved["test_bleu4"] == r["test_bleu4"]
    model, vocab, config = load_captioner(os.path.join(out, "last.safetensors"))
    assert len(vocab) == r["vocab_size"] and config["size"] == 16
    from deepbasic.data.shapes import scene_splits

    test = scene_splits(48, 8, 8, size=16, max_objects=2)["test"]
    again = decode_captions(model, vocab, test.images[:4], "beam", beam=2)
    assert again == [e["beam"] for e in r["examples"]]


def test_load_captioner_rejects_a_classifier_checkpoint(tmp_path):
    from deepbasic.train.recipes import train_classifier

    train_classifier("mlp", "digits", epochs=1, out_dir=str(tmp_path), progress=False,
                     verbose=False)
    with pytest.raises(ValueError, match="not a captioning checkpoint"):
        load_captioner(str(tmp_path / "last.safetensors"))
