"""k-nearest neighbours: remember the training set, label a test image by a vote of its k nearest.

Distances between a test row a (D,) and every training row b (D,):

    L2 (Euclidean):  d(a, b) = sqrt(sum_d (a_d - b_d)^2) = sqrt(|a|^2 + |b|^2 - 2 a.b)
    L1 (Manhattan):  d(a, b) = sum_d |a_d - b_d|

For a block of test rows A (c, D) against all training rows B (M, D), the L2 form needs one matrix
product A B^T (one BLAS GEMM, float32) plus two vectors of squared norms; rounding can make
|a|^2 + |b|^2 - 2 a.b slightly negative for near-identical rows, so it is clamped at 0. L1 has no
such product form: it broadcasts (c, 1, D) - (1, m, D), with c and m chosen so that c*m*D stays
under a memory budget. Test rows are processed in chunks, so memory stays bounded for any
dataset size; the k smallest of each row are found in O(M) without a sort (``np.argpartition``
on block minima, then on the few candidate blocks: see :func:`k_smallest`).

Votes: each of the k neighbours votes for its class; the class with most votes wins; a tie
between classes goes to the class of the nearest neighbour among the tied classes.
"""
from __future__ import annotations

import time

import numpy as np

METRICS = ("l2", "l1")
#: Bytes one chunk's distance block (L2) or difference block (L1) may use by default.
DEFAULT_MEMORY_BUDGET = 128 * 2**20


def _check_metric(metric: str) -> str:
    m = str(metric).lower()
    if m not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return m


def _as_rows(X, what: str = "X") -> np.ndarray:
    """(N, ...) array-like -> (N, D) float32 C-contiguous rows (images are flattened)."""
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError(f"{what} must have shape (N, D) or (N, C, H, W), got a scalar")
    if X.ndim == 1:
        raise ValueError(f"{what} must have shape (N, D) or (N, C, H, W), got shape {X.shape}; "
                         f"for one example use X[None]")
    X = X.reshape(len(X), -1)
    return np.ascontiguousarray(X, dtype=np.float32)


def _sq_norms(X: np.ndarray) -> np.ndarray:
    """|x_i|^2 per row, (N,) float32 (accumulated in float64 for accuracy)."""
    return np.einsum("ij,ij->i", X, X, dtype=np.float64).astype(np.float32)


def _l2_block(A, B, a2, b2, squared: bool = False) -> np.ndarray:
    """(c, M) L2 distances: sqrt(max(|a|^2 + |b|^2 - 2 A B^T, 0)); one GEMM."""
    d = A @ B.T                      # (c, M), the GEMM
    d *= -2.0
    d += a2[:, None]
    d += b2[None, :]
    np.maximum(d, 0.0, out=d)
    return d if squared else np.sqrt(d, out=d)


def _l1_block(A, B, budget: int) -> np.ndarray:
    """(c, M) L1 distances, broadcasting over training chunks of m rows with c*m*D*4 <= budget."""
    c, D = A.shape
    M = len(B)
    out = np.empty((c, M), dtype=np.float32)
    m = max(1, budget // max(1, 4 * c * D))
    for j in range(0, M, m):
        diff = A[:, None, :] - B[None, j:j + m, :]          # (c, m, D)
        np.abs(diff, out=diff)
        out[:, j:j + m] = diff.sum(axis=2)
    return out


def _rows_per_chunk(metric: str, M: int, D: int, chunk_size, budget: int) -> int:
    if chunk_size is not None:
        return int(chunk_size)
    if metric == "l2":                     # the (c, M) float32 block
        return max(1, min(4096, budget // max(1, 4 * M)))
    return max(1, min(256, budget // max(1, 4 * D * min(M, 256))))


def pairwise_distances(A, B, metric: str = "l2", chunk_size: int | None = None,
                       memory_budget: int = DEFAULT_MEMORY_BUDGET) -> np.ndarray:
    """All distances between rows of A (N, D) and B (M, D) -> (N, M) float32.

    L2: sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0)) via one GEMM per chunk of ``chunk_size`` rows of A;
    L1: sum |a - b| by broadcasting in blocks bounded by ``memory_budget`` bytes. Images are
    flattened. The (N, M) result itself is allocated: for large N*M use ``kneighbors``.
    """
    metric = _check_metric(metric)
    A, B = _as_rows(A, "A"), _as_rows(B, "B")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"pairwise_distances: A has {A.shape[1]} features per row but B has "
                         f"{B.shape[1]}")
    c = _rows_per_chunk(metric, len(B), A.shape[1], chunk_size, memory_budget)
    out = np.empty((len(A), len(B)), dtype=np.float32)
    b2 = _sq_norms(B) if metric == "l2" else None
    for i in range(0, len(A), c):
        a = A[i:i + c]
        out[i:i + c] = (_l2_block(a, B, _sq_norms(a), b2) if metric == "l2"
                        else _l1_block(a, B, memory_budget))
    return out


def k_smallest(d: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """Column indices (c, k) of the k smallest entries of each row of d (c, M), in no order.

    ``np.argpartition`` over all M columns is O(M) per row but slow in practice (about half the
    time of the GEMM that made d). A cheaper exact route for small k: cut each row into blocks of
    ``block`` columns and take each block's minimum (one fast pass). The k smallest entries lie in
    the k blocks with the smallest minima (if an entry e among the k smallest sat in another block,
    those k blocks would each hold an entry <= e: k + 1 entries <= e, a contradiction up to ties).
    So argpartition only the (c, M/block) block minima, then the k*block candidates (plus the
    leftover tail columns when M is not a multiple of ``block``).
    """
    c, M = d.shape
    if k >= M:
        return np.broadcast_to(np.arange(M), (c, M)).copy()
    nb = M // block
    if k * block * 8 > M or nb <= k:                 # small M or large k: plain argpartition
        return np.argpartition(d, k - 1, axis=1)[:, :k]
    bmin = d[:, :nb * block].reshape(c, nb, block).min(axis=2)       # (c, nb) block minima
    best = np.argpartition(bmin, k - 1, axis=1)[:, :k]                # (c, k) blocks to search
    cand = (best[:, :, None] * block + np.arange(block)).reshape(c, k * block)
    if M > nb * block:                                                # the tail columns
        tail = np.broadcast_to(np.arange(nb * block, M), (c, M - nb * block))
        cand = np.concatenate([cand, tail], axis=1)
    part = np.argpartition(np.take_along_axis(d, cand, axis=1), k - 1, axis=1)[:, :k]
    return np.take_along_axis(cand, part, axis=1)


class KNearestNeighbor:
    """k-nearest-neighbour classifier with L2 or L1 distance, vectorized and chunked.

    Parameters
    ----------
    k : number of neighbours that vote (1 <= k <= number of training examples).
    metric : ``"l2"`` (Euclidean) or ``"l1"`` (Manhattan).
    chunk_size : test rows per chunk; None picks it from ``memory_budget`` (bytes) so a chunk's
        (chunk, N_train) distance block (L2) or (chunk, m, D) difference block (L1) stays under it.

    Attributes (after ``fit``)
    --------------------------
    X_train_ : (N, D) float32, the memorized training rows (images flattened).
    y_train_ : (N,) int64 indices into ``classes_``.
    classes_ : (C,) the distinct labels, sorted.
    n_features_in_ : D.

    ``fit`` costs nothing but a copy; ``predict`` on N_test rows costs O(N_test * N * D).
    """

    def __init__(self, k: int = 1, metric: str = "l2", chunk_size: int | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET):
        self.k = k
        self.metric = metric
        self.chunk_size = chunk_size
        self.memory_budget = memory_budget

    def __repr__(self) -> str:
        return f"KNearestNeighbor(k={self.k}, metric={self.metric!r})"

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, X, y) -> "KNearestNeighbor":
        """Memorize X (N, D) or (N, C, H, W) and labels y (N,). Returns self."""
        _check_metric(self.metric)
        X = _as_rows(X, "X")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"fit: y must have shape ({len(X)},) to match X, got {y.shape}")
        if len(X) == 0:
            raise ValueError("fit: X has no examples")
        self._check_k(len(X))
        if self.chunk_size is not None and int(self.chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer or None, got {self.chunk_size}")
        self.classes_, self.y_train_ = np.unique(y, return_inverse=True)
        self.y_train_ = self.y_train_.astype(np.int64)
        self.X_train_ = X
        self._b2 = _sq_norms(X)
        self.n_features_in_ = X.shape[1]
        return self

    def _check_k(self, n: int) -> None:
        k = self.k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if k > n:
            raise ValueError(f"k={k} is larger than the number of training examples ({n})")

    def _check_fitted(self, X, what: str) -> np.ndarray:
        if not hasattr(self, "X_train_"):
            raise RuntimeError(f"{what}: this KNearestNeighbor is not fitted yet; call fit(X, y) "
                               f"first")
        X = _as_rows(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{what}: X has {X.shape[1]} features per example but the training "
                             f"data had {self.n_features_in_}")
        self._check_k(len(self.X_train_))
        return X

    # --- neighbours --------------------------------------------------------------------------
    def _chunks(self, X):
        """Yield (start, distances (c, N) float32) per chunk; L2 distances are squared (the
        order is the same; saves a sqrt over the block) and omit |a|^2 (a per-row constant)."""
        metric = _check_metric(self.metric)
        c = _rows_per_chunk(metric, len(self.X_train_), X.shape[1], self.chunk_size,
                            self.memory_budget)
        for i in range(0, len(X), c):
            a = X[i:i + c]
            if metric == "l2":
                d = (a * np.float32(-2.0)) @ self.X_train_.T   # the GEMM: -2 a.b, (c, N)
                d += self._b2[None, :]           # |b|^2 - 2 a.b  (+ |a|^2 later, per row)
            else:
                d = _l1_block(a, self.X_train_, self.memory_budget)
            yield i, a, d

    def kneighbors(self, X, k: int | None = None):
        """The k nearest training rows of each row of X.

        Returns (distances (N_test, k) float32, indices (N_test, k) int64), nearest first.
        """
        X = self._check_fitted(X, "kneighbors")
        k = self.k if k is None else int(k)
        if not 1 <= k <= len(self.X_train_):
            raise ValueError(f"k must be in [1, {len(self.X_train_)}], got {k}")
        dist = np.empty((len(X), k), dtype=np.float32)
        idx = np.empty((len(X), k), dtype=np.int64)
        for i, a, d in self._chunks(X):
            part = k_smallest(d, k)                                       # (c, k), unordered
            dk = np.take_along_axis(d, part, axis=1)
            order = np.argsort(dk, axis=1, kind="stable")                 # sort only k per row
            part = np.take_along_axis(part, order, axis=1)
            dk = np.take_along_axis(dk, order, axis=1)
            if self.metric.lower() == "l2":
                dk += _sq_norms(a)[:, None]
                np.maximum(dk, 0.0, out=dk)
                np.sqrt(dk, out=dk)
            dist[i:i + len(a)] = dk
            idx[i:i + len(a)] = part
        return dist, idx

    def _votes(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N_test, k) neighbour indices nearest first -> (vote counts (N_test, C), class indices
        predicted (N_test,)) with ties broken by the nearest neighbour among the tied classes."""
        labels = self.y_train_[idx]                                     # (n, k), nearest first
        n, C = len(labels), len(self.classes_)
        counts = np.zeros((n, C), dtype=np.int64)
        np.add.at(counts, (np.repeat(np.arange(n), labels.shape[1]), labels.ravel()), 1)
        tied = counts == counts.max(axis=1, keepdims=True)              # (n, C) winning classes
        in_tie = np.take_along_axis(tied, labels, axis=1)               # (n, k) voter is tied
        first = np.argmax(in_tie, axis=1)                               # nearest such voter
        return counts, labels[np.arange(n), first]

    def predict(self, X) -> np.ndarray:
        """Labels (N_test,) for X (N_test, D) or (N_test, C, H, W): the majority vote of the k
        nearest training examples (ties: the nearest neighbour's class among the tied ones)."""
        _, idx = self.kneighbors(X)
        return self.classes_[self._votes(idx)[1]]

    def predict_votes(self, X) -> np.ndarray:
        """Vote counts (N_test, C): how many of the k neighbours belong to each class."""
        _, idx = self.kneighbors(X)
        return self._votes(idx)[0]

    def predict_proba(self, X) -> np.ndarray:
        """Vote shares (N_test, C) = counts / k (rows sum to 1)."""
        return self.predict_votes(X) / float(self.k)

    def score(self, X, y) -> float:
        """Accuracy: mean(predict(X) == y)."""
        y = np.asarray(y)
        return float(np.mean(self.predict(X) == y))


# --- choosing k ----------------------------------------------------------------------------
def _fold_ids(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number in [0, folds) per example: shuffled, stratified by class (round robin)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    offset = 0
    for cls in np.unique(y):
        where = np.flatnonzero(y == cls)
        rng.shuffle(where)
        fold[where] = (np.arange(len(where)) + offset) % folds
        offset += len(where)
    return fold


def cross_validate_k(X, y, ks, folds: int = 5, metric: str = "l2", seed: int = 0,
                     chunk_size: int | None = None) -> np.ndarray:
    """n-fold cross-validation of kNN for each k in ``ks``.

    The examples are split into ``folds`` stratified folds; each fold in turn is held out and
    classified by the other folds. The neighbours are found once per fold with the largest k, and
    every smaller k reuses them (the k nearest are a prefix of the max(ks) nearest).

    Returns accuracies (len(ks), folds): ``acc[i, f]`` is the accuracy of k = ks[i] on fold f.
    """
    X = _as_rows(X, "X")
    y = np.asarray(y)
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    if isinstance(folds, bool) or int(folds) < 2 or int(folds) > len(X):
        raise ValueError(f"folds must be in [2, {len(X)}], got {folds}")
    folds = int(folds)
    fold = _fold_ids(y, folds, seed)
    acc = np.zeros((len(ks), folds))
    kmax = max(ks)
    for f in range(folds):
        train, held = fold != f, fold == f
        if kmax > train.sum():
            raise ValueError(f"k={kmax} is larger than a training fold ({int(train.sum())} examples)")
        model = KNearestNeighbor(k=kmax, metric=metric, chunk_size=chunk_size).fit(X[train], y[train])
        _, idx = model.kneighbors(X[held])
        for i, k in enumerate(ks):
            pred = model.classes_[model._votes(idx[:, :k])[1]]
            acc[i, f] = np.mean(pred == y[held])
    return acc


def plot_cross_validation(ks, accuracies, path: str, title: str = "kNN: choosing k by cross-validation") -> str:
    """Accuracy vs k: each fold as a dot, the mean as a line with a +-1 std band. PNG at ``path``."""

    from deepbasic.train.plots import _pyplot, _save

    ks = np.asarray(list(ks))
    acc = np.asarray(accuracies)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, k in enumerate(ks):
        ax.scatter(np.full(acc.shape[1], k), acc[i], s=12, color="C0", alpha=0.5)
    mean, std = acc.mean(axis=1), acc.std(axis=1)
    ax.errorbar(ks, mean, yerr=std, color="C1", marker="o", capsize=3, label="mean +- std")
    best = int(ks[int(np.argmax(mean))])
    ax.axvline(best, color="gray", ls="--", lw=0.8, label=f"best k = {best}")
    ax.set(xlabel="k", ylabel="accuracy", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def best_k(ks, accuracies) -> int:
    """The k with the highest mean cross-validated accuracy (the smallest such k on a tie)."""
    mean = np.asarray(accuracies).mean(axis=1)
    return int(list(ks)[int(np.argmax(mean))])


def compare_metrics(X_train, y_train, X_test, y_test, k: int = 1, metrics=METRICS) -> list[dict]:
    """L1 vs L2: one row per metric, {"metric", "k", "accuracy", "predict_s"} (prediction time
    on X_test, in seconds)."""
    rows = []
    for metric in metrics:
        model = KNearestNeighbor(k=k, metric=metric).fit(X_train, y_train)
        t0 = time.perf_counter()
        acc = model.score(X_test, y_test)
        rows.append({"metric": metric, "k": k, "accuracy": acc,
                     "predict_s": time.perf_counter() - t0})
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`compare_metrics` as a small text table."""
    lines = [f"{'metric':<7}{'k':>4}{'accuracy':>10}{'time (s)':>10}"]
    for r in rows:
        lines.append(f"{r['metric']:<7}{r['k']:>4}{r['accuracy']:>10.4f}{r['predict_s']:>10.2f}")
    return "\n".join(lines)
