"""kNN: distances against brute-force references, chunking, voting and tie-breaking, sklearn parity."""
import os

import numpy as np
import pytest

from deepbasic.classic import KNearestNeighbor, compare_metrics, cross_validate_k, pairwise_distances
from deepbasic.classic import plot_cross_validation
from deepbasic.classic.knn import best_k, format_table


@pytest.fixture(scope="module")
def digits():
    from deepbasic.data import load_dataset

    d = load_dataset("digits")
    return (d.train.x.reshape(len(d.train.x), -1), d.train.y,
            d.test.x.reshape(len(d.test.x), -1), d.test.y)


def test_k1_on_training_data_is_perfect(digits):
    Xtr, ytr, _, _ = digits
    for metric in ("l2", "l1"):
        assert KNearestNeighbor(k=1, metric=metric).fit(Xtr, ytr).score(Xtr, ytr) == 1.0


@pytest.mark.parametrize("metric,ref", [("l2", "euclidean"), ("l1", "manhattan")])
def test_distances_match_brute_force(metric, ref):
    from sklearn.metrics import pairwise_distances as sk_pd

    rng = np.random.default_rng(0)
    A, B = rng.random((37, 20)), rng.random((53, 20))
    d = pairwise_distances(A, B, metric=metric)
    assert d.shape == (37, 53) and d.dtype == np.float32
    np.testing.assert_allclose(d, sk_pd(A, B, metric=ref), rtol=1e-4, atol=1e-4)
    if metric == "l2":
        np.testing.assert_allclose(d, np.linalg.norm(A[:, None] - B[None], axis=2),
                                   rtol=1e-4, atol=1e-4)
    # identical rows: the clamp keeps L2 at (almost) zero, never NaN
    self_d = pairwise_distances(A, A, metric=metric)
    assert np.all(np.isfinite(self_d)) and np.all(np.diag(self_d) < 1e-2)


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_chunked_equals_unchunked(metric, digits):
    Xtr, ytr, Xte, _ = digits
    Xte = Xte[:60]
    whole = KNearestNeighbor(k=3, metric=metric, chunk_size=len(Xte)).fit(Xtr, ytr)
    small = KNearestNeighbor(k=3, metric=metric, chunk_size=7, memory_budget=50_000).fit(Xtr, ytr)
    d1, i1 = whole.kneighbors(Xte)
    d2, i2 = small.kneighbors(Xte)
    np.testing.assert_allclose(d1, d2, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(whole.predict(Xte), small.predict(Xte))
    big = pairwise_distances(Xte, Xtr, metric=metric, chunk_size=1000)
    np.testing.assert_allclose(pairwise_distances(Xte, Xtr, metric=metric, chunk_size=3,
                                                  memory_budget=10_000), big, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.sort(big, axis=1)[:, :3], d1, rtol=1e-4, atol=1e-4)


def test_images_are_flattened():
    rng = np.random.default_rng(1)
    X = rng.random((30, 1, 4, 4)).astype(np.float32)
    y = np.arange(30) % 3
    a = KNearestNeighbor(k=3).fit(X, y).predict(X[:5])
    b = KNearestNeighbor(k=3).fit(X.reshape(30, -1), y).predict(X[:5].reshape(5, -1))
    np.testing.assert_array_equal(a, b)


def test_tie_goes_to_the_nearest_neighbour_among_tied_classes():
    # Neighbours of the query 0, nearest first: class 7 (d=1), class 3 (d=2), class 3 (d=3),
    # class 7 (d=4), class 5 (d=5). k=4: 7 and 3 both have two votes; the nearest voter of the
    # tied classes is class 7.
    X = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([7, 3, 3, 7, 5])
    q = np.array([[0.0]])
    assert KNearestNeighbor(k=4).fit(X, y).predict(q)[0] == 7
    # Mirror the labels: now class 3 is nearest and wins the tie.
    assert KNearestNeighbor(k=4).fit(X, np.array([3, 7, 7, 3, 5])).predict(q)[0] == 3
    # k=3: class 3 has two votes, a clear majority even though 7 is nearest.
    assert KNearestNeighbor(k=3).fit(X, y).predict(q)[0] == 3
    # A three-way tie at k=3 with the nearest of class 5.
    assert KNearestNeighbor(k=3).fit(X, np.array([5, 7, 3, 3, 3])).predict(q)[0] == 5
    # The nearest tied voter need not be the nearest neighbour overall.
    X2 = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    y2 = np.array([9, 3, 7, 7, 3])      # k=5: 3 and 7 tie with 2 votes; 9 has 1; nearest tied is 3
    assert KNearestNeighbor(k=5).fit(X2, y2).predict(q)[0] == 3
    votes = KNearestNeighbor(k=5).fit(X2, y2).predict_votes(q)
    np.testing.assert_array_equal(votes, [[2, 2, 1]])      # classes_ = [3, 7, 9]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_agrees_with_sklearn_brute_force(k, digits):
    from sklearn.neighbors import KNeighborsClassifier

    Xtr, ytr, Xte, _ = digits
    ours = KNearestNeighbor(k=k).fit(Xtr, ytr)
    sk = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(Xtr.astype(np.float64), ytr)
    a, b = ours.predict(Xte), sk.predict(Xte.astype(np.float64))
    # Skip the exact ties: equal distances around the k-th neighbour, or a tied vote (sklearn
    # breaks vote ties by the smallest label, we by the nearest neighbour).
    d = np.sort(np.linalg.norm(Xte[:, None].astype(np.float64) - Xtr[None], axis=2), axis=1)
    boundary_tie = np.isclose(d[:, k - 1], d[:, k], rtol=1e-5, atol=1e-6)
    if k > 1:
        boundary_tie |= np.isclose(d[:, :k - 1], d[:, 1:k], rtol=1e-5, atol=1e-6).any(axis=1)
    votes = ours.predict_votes(Xte)
    vote_tie = (votes == votes.max(axis=1, keepdims=True)).sum(axis=1) > 1
    keep = ~boundary_tie & ~vote_tie
    assert keep.sum() > 0.9 * len(Xte)
    np.testing.assert_array_equal(a[keep], b[keep])


def test_cross_validation_shapes_and_plot(digits, tmp_path):
    Xtr, ytr, _, _ = digits
    ks = [1, 3, 5, 9]
    acc = cross_validate_k(Xtr[:400], ytr[:400], ks, folds=4)
    assert acc.shape == (4, 4)
    assert np.all((acc >= 0) & (acc <= 1)) and acc.mean() > 0.85
    assert best_k(ks, acc) in ks
    path = plot_cross_validation(ks, acc, str(tmp_path / "cv" / "k.png"))
    assert os.path.getsize(path) > 1000
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_compare_metrics_rows(digits):
    Xtr, ytr, Xte, yte = digits
    rows = compare_metrics(Xtr, ytr, Xte[:50], yte[:50], k=1)
    assert [r["metric"] for r in rows] == ["l2", "l1"]
    assert all(0.8 < r["accuracy"] <= 1 and r["predict_s"] >= 0 for r in rows)
    assert "l1" in format_table(rows)


def test_clear_errors():
    X, y = np.zeros((5, 3)), np.arange(5)
    with pytest.raises(RuntimeError, match="not fitted"):
        KNearestNeighbor().predict(X)
    m = KNearestNeighbor(k=1).fit(X, y)
    with pytest.raises(ValueError, match="4 features.*3"):
        m.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="k must be a positive"):
        KNearestNeighbor(k=0).fit(X, y)
    with pytest.raises(ValueError, match="larger than the number of training examples"):
        KNearestNeighbor(k=6).fit(X, y)
    with pytest.raises(ValueError, match="metric"):
        KNearestNeighbor(metric="cosine").fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        KNearestNeighbor().fit(X, y[:3])
    with pytest.raises(ValueError, match="folds"):
        cross_validate_k(X, y, [1], folds=1)


def test_k_smallest_matches_a_full_sort():
    from deepbasic.classic.knn import k_smallest

    rng = np.random.default_rng(3)
    for M in (50, 1000, 4099):
        d = rng.random((9, M)).astype(np.float32)
        for k in (1, 2, 5, 7):
            got = np.sort(np.take_along_axis(d, k_smallest(d, k, block=16), axis=1), axis=1)
            np.testing.assert_array_equal(got, np.sort(d, axis=1)[:, :k])
