"""Classic image classifiers before neural networks: k-nearest neighbours and linear classifiers.

Both follow scikit-learn's estimator conventions: hyperparameters in ``__init__``, learned state
in attributes ending with an underscore, and ``fit(X, y)`` / ``predict(X)`` / ``score(X, y)``.
Images of any shape are flattened to rows: X (N, C, H, W) becomes (N, D) with D = C*H*W.

    from deepbasic.classic import KNearestNeighbor, LinearClassifier
    knn = KNearestNeighbor(k=5).fit(x_train, y_train)
    knn.score(x_test, y_test)
    svm = LinearClassifier(loss="svm", reg=1e-4, epochs=10).fit(x_train, y_train)
"""
from deepbasic.classic.knn import (
    KNearestNeighbor,
    compare_metrics,
    cross_validate_k,
    pairwise_distances,
    plot_cross_validation,
)
from deepbasic.classic.linear import LinearClassifier, plot_loss_history, plot_weight_templates
from deepbasic.classic.ngram import NGramModel

__all__ = [
    "KNearestNeighbor",
    "pairwise_distances",
    "cross_validate_k",
    "plot_cross_validation",
    "compare_metrics",
    "LinearClassifier",
    "plot_weight_templates",
    "plot_loss_history",
    "NGramModel",
]
