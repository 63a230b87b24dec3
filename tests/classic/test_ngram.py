"""Character n-gram model (interpolated modified Kneser-Ney): known answers, a dict-based
reference implementation, normalization, sampling and errors."""
import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from deepbasic.classic import NGramModel
from deepbasic.classic.ngram import modified_kn_discounts
from deepbasic.data.text import CharVocab


def _markov_ids(n, vocab=6, seed=0):
    """A first-order Markov chain over ``vocab`` ids with a skewed transition matrix."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(vocab, 0.3), size=vocab)
    x = np.empty(n, np.int64)
    x[0] = 0
    for i in range(1, n):
        x[i] = rng.choice(vocab, p=P[x[i - 1]])
    return x


def _reference_log_prob(train, test, order, V, context=()):
    """Interpolated modified Kneser-Ney written out with dicts, one position at a time."""
    train = [int(t) for t in train]
    N = len(train)
    raw = {m: Counter(tuple(train[i - m + 1:i + 1]) for i in range(m - 1, N)) for m in range(1, order + 1)}
    counts = {}
    for m in range(1, order + 1):
        if m == order:
            counts[m] = raw[m]
        else:  # continuation counts: how many distinct ids precede each m-gram
            counts[m] = Counter(g[1:] for g in raw[m + 1])
    disc, total, gamma = {}, {}, {}
    for m in range(1, order + 1):
        disc[m] = modified_kn_discounts(np.array(list(counts[m].values())))
        total[m], gamma[m] = defaultdict(float), defaultdict(float)
        for g, c in counts[m].items():
            total[m][g[:-1]] += c
            gamma[m][g[:-1]] += disc[m][min(c, 3)]
    history = [int(t) for t in context]
    out = []
    for w in (int(t) for t in test):
        p = 1.0 / V
        for m in range(1, order + 1):
            if len(history) < m - 1:
                break
            h = tuple(history[len(history) - (m - 1):]) if m > 1 else ()
            if total[m].get(h, 0) == 0:
                continue
            c = counts[m].get(h + (w,), 0)
            p = (max(c - disc[m][min(c, 3)], 0.0) + gamma[m][h] * p) / total[m][h]
        out.append(math.log(p))
        history.append(w)
    return np.array(out)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_matches_a_dict_based_reference(order):
    train = _markov_ids(3000)
    test = _markov_ids(300, seed=1)
    test[[5, 77, 78]] = 6           # an id never seen in training (<unk>)
    lm = NGramModel(order=order).fit(train, vocab_size=7)
    np.testing.assert_allclose(lm.log_prob(test), _reference_log_prob(train, test, order, 7), rtol=1e-12)
    np.testing.assert_allclose(lm.log_prob(test, context=train),
                               _reference_log_prob(train, test, order, 7, context=train[-(order - 1):]
                                                   if order > 1 else ()), rtol=1e-12)


def test_every_distribution_sums_to_one_and_matches_log_prob():
    train = _markov_ids(5000)
    test = _markov_ids(400, seed=2)
    test[::37] = 6
    for order in (1, 3, 5):
        for discount in (None, 0.5):
            lm = NGramModel(order=order, discount=discount).fit(train, vocab_size=7)
            ctx = np.stack([np.concatenate([np.zeros(order, np.int64), test])[i:i + order]
                            for i in range(len(test))])           # (T, order) contexts, some unseen
            p = lm.predict_proba(ctx)
            assert p.shape == (len(test), 7) and (p > 0).all()
            np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
            # log_prob of a text = log predict_proba at the true next id, given the same context
            seq = np.concatenate([train[-order:], test])
            lp = lm.log_prob(test, context=train)
            rows = np.stack([seq[i:i + order] for i in range(len(test))])
            np.testing.assert_allclose(lp, np.log(lm.predict_proba(rows)[np.arange(len(test)), test]),
                                       rtol=1e-12)
    one = lm.predict_proba(np.array([], np.int64))   # an empty context: one (V,) distribution
    assert one.shape == (7,) and abs(one.sum() - 1) < 1e-12


def test_unigram_maximum_likelihood_bpc_is_the_empirical_entropy():
    ids = _markov_ids(4000)
    p = np.bincount(ids) / len(ids)
    entropy = -(p[p > 0] * np.log2(p[p > 0])).sum()
    lm = NGramModel(order=1, discount=0).fit(ids)
    assert lm.bits_per_char(ids) == pytest.approx(entropy, rel=1e-12)
    # smoothing moves mass to the unseen id 6, which costs a little on the training text
    smoothed = NGramModel(order=1).fit(ids, vocab_size=7).bits_per_char(ids)
    assert entropy < smoothed < entropy + 0.01
    # with every id seen, the discounted mass comes back uniformly: exactly the counts again
    assert NGramModel(order=1).fit(ids).bits_per_char(ids) == pytest.approx(entropy, rel=1e-12)


def test_periodic_text_is_predicted_almost_perfectly_once_the_order_covers_the_period():
    vocab = CharVocab.from_text("ab")
    text = "aaab" * 300                       # after "a" and "aa" the next letter is ambiguous
    train, held = vocab.encode(text[:1000]), vocab.encode(text[1000:])
    bpc = {n: NGramModel(order=n).fit(train, vocab.size).bits_per_char(held, context=train)
           for n in (1, 2, 3, 4, 6)}
    assert bpc[1] == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)), abs=0.01)
    assert bpc[2] > 0.6 and bpc[3] > 0.45     # ~0.69 and 0.5 bits: the true conditional entropies
    assert bpc[4] < 0.01 and bpc[6] < 0.01    # context "aaa" decides: near zero bits per char


def test_higher_orders_help_on_structured_text():
    ids = _markov_ids(20000, seed=3)
    train, held = ids[:18000], ids[18000:]
    b1 = NGramModel(order=1).fit(train).bits_per_char(held, context=train)
    b2 = NGramModel(order=2).fit(train).bits_per_char(held, context=train)
    b4 = NGramModel(order=4).fit(train).bits_per_char(held, context=train)
    assert b2 < b1 - 0.3                      # first-order Markov: the bigram model captures it
    assert b4 < b2 + 0.05                     # higher orders are smoothed back towards it


def test_modified_kn_discounts():
    counts = np.array([1] * 10 + [2] * 4 + [3] * 3 + [4] * 2 + [9])
    y = 10 / (10 + 2 * 4)
    expected = [0, 1 - 2 * y * 4 / 10, 2 - 3 * y * 3 / 4, 3 - 4 * y * 2 / 3]
    np.testing.assert_allclose(modified_kn_discounts(counts), expected)
    np.testing.assert_allclose(modified_kn_discounts(np.array([5, 7, 9])), [0, 0.75, 0.75, 0.75])
    np.testing.assert_allclose(modified_kn_discounts(np.array([1, 1, 2, 5])), [0, 0.5, 0.5, 0.5])
    # Y = 5/9; D_2 = 2 - 3 * (5/9) * 6/2 = -3 is not in (0, 2]: fall back to Y for all three
    np.testing.assert_allclose(modified_kn_discounts(np.array([1] * 5 + [2] * 2 + [3] * 6 + [4] * 2)),
                               [0] + [5 / 9] * 3)


def test_sample_is_reproducible_and_follows_the_text():
    vocab = CharVocab.from_text("abc")
    lm = NGramModel(order=3).fit(vocab.encode("abc" * 200), vocab.size)
    a = lm.sample(60, prefix=vocab.encode("ab"), seed=1, temperature=0.3)
    assert np.array_equal(a, lm.sample(60, prefix=vocab.encode("ab"), seed=1, temperature=0.3))
    assert a.dtype == np.int64 and a.shape == (60,)
    assert vocab.decode(a) == "cab" * 20
    free = lm.sample(50, seed=2)
    assert ((free >= 0) & (free < vocab.size)).all()
    assert lm.sample(0).shape == (0,)
    assert NGramModel(order=1).fit(vocab.encode("abc")).sample(5).shape == (5,)


def test_errors():
    lm = NGramModel(order=3)
    with pytest.raises(RuntimeError, match="not fitted"):
        lm.bits_per_char([0, 1])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="order"):
            NGramModel(order=bad)
    with pytest.raises(ValueError, match="discount"):
        NGramModel(discount=1.5)
    with pytest.raises(ValueError, match="vocab_size"):
        NGramModel().fit([0, 1, 5], vocab_size=3)
    with pytest.raises(ValueError, match="no training ids"):
        NGramModel().fit(np.zeros(0, np.int64))
    lm.fit([0, 1, 2, 1, 0], vocab_size=4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        lm.bits_per_char([0, 4])
    with pytest.raises(ValueError, match="1-D"):
        lm.log_prob([[0, 1]])
    with pytest.raises(ValueError, match="integers"):
        lm.fit([0.5, 1.0])
    with pytest.raises(ValueError, match="temperature"):
        lm.sample(3, temperature=0)
    assert lm.num_ngrams_ == [3, 4, 3] and lm.discounts_.shape == (3, 4)


def test_short_training_text_and_orders_longer_than_it():
    lm = NGramModel(order=6).fit([1, 2, 1], vocab_size=3)
    p = lm.predict_proba(np.array([[1, 2, 1, 2, 1]]))
    assert abs(p.sum() - 1) < 1e-12 and (p > 0).all()
    assert np.isfinite(lm.bits_per_char([1, 2, 0, 1]))
