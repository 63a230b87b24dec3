"""Linear classifiers: one template per class, scores = X W^T + b, trained by minibatch SGD.

For a row x (D,) the class scores are s = W x + b, with W (C, D) and b (C,); the prediction is
argmax_j s_j. Two losses on the scores (deepbasic.nn.functional):

    multiclass SVM (hinge):  L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + 1)
    softmax (cross-entropy): L_i = -log( exp(s_{y_i}) / sum_j exp(s_j) )

plus a regularization penalty on W (never on b):

    L = mean_i L_i + reg * R(W),   R(W) = sum W^2 (``reg_type="l2"``) or sum |W| (``"l1"``).

The gradient comes from deepbasic's autograd (``loss.backward()``); the update is minibatch SGD
or any deepbasic optimizer. Each row of W, reshaped to the image shape, is a template the image is
matched against by a dot product (see :func:`plot_weight_templates`).
"""
from __future__ import annotations


import numpy as np

LOSSES = ("svm", "softmax")
REG_TYPES = ("l2", "l1")
PREPROCESS = ("none", "center", "standardize")


def _optimizer_class(name: str):
    from deepbasic import optim

    table = {n.lower(): getattr(optim, n) for n in optim.__all__
             if isinstance(getattr(optim, n), type) and n not in ("Optimizer", "LBFGS")}
    # L-BFGS needs a closure over the whole batch: see deepbasic.classic.optimizers
    key = str(name).lower()
    if key not in table:
        raise ValueError(f"optimizer must be one of {', '.join(sorted(table))}, got {name!r}")
    return table[key]


class LinearClassifier:
    """A linear classifier s = X W^T + b with an SVM or softmax loss, trained by minibatch SGD.

    Parameters
    ----------
    loss : ``"svm"`` (multiclass hinge, margin 1) or ``"softmax"`` (cross-entropy).
    reg : regularization strength (>= 0); ``reg_type`` ``"l2"`` adds reg * sum W^2, ``"l1"`` adds
        reg * sum |W|; the bias is not regularized.
    lr, epochs, batch_size : minibatch gradient descent settings (one epoch = one pass in a
        seeded random order).
    optimizer : ``"sgd"`` or any deepbasic.optim optimizer name (``"adam"``, ``"rmsprop"``, ...).
    momentum : SGD momentum (only for ``"sgd"``).
    lr_decay : the learning rate is multiplied by this after every epoch.
    preprocess : ``"none"`` (use X as given), ``"center"`` (subtract the training mean image,
        ``mean_``) or ``"standardize"`` (also divide by one global training std, ``scale_``).
    weight_scale : the initial W is weight_scale * N(0, 1); b starts at 0.
    seed : seeds the initial W and the minibatch order.

    Attributes (after ``fit``)
    --------------------------
    coef_ : (C, D) float32 W;  intercept_ : (C,) b;  classes_ : (C,) the labels;
    loss_history_ : mean training loss (data + regularization) per epoch;
    val_history_ : validation accuracy per epoch (when ``fit`` got validation data);
    mean_, scale_ : the preprocessing (mean_ (D,), scale_ a number).
    """

    def __init__(self, loss: str = "softmax", reg: float = 1e-4, reg_type: str = "l2",
                 lr: float = 0.1, epochs: int = 10, batch_size: int = 128,
                 optimizer: str = "sgd", momentum: float = 0.9, lr_decay: float = 1.0,
                 preprocess: str = "center", weight_scale: float = 1e-3, seed: int = 0):
        self.loss = loss
        self.reg = reg
        self.reg_type = reg_type
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.lr_decay = lr_decay
        self.preprocess = preprocess
        self.weight_scale = weight_scale
        self.seed = seed

    def __repr__(self) -> str:
        return (f"LinearClassifier(loss={self.loss!r}, reg={self.reg}, reg_type={self.reg_type!r}, "
                f"lr={self.lr}, epochs={self.epochs}, batch_size={self.batch_size}, "
                f"optimizer={self.optimizer!r})")

    # --- checks ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.reg_type not in REG_TYPES:
            raise ValueError(f"reg_type must be one of {', '.join(REG_TYPES)}, got {self.reg_type!r}")
        if self.preprocess not in PREPROCESS:
            raise ValueError(f"preprocess must be one of {', '.join(PREPROCESS)}, "
                             f"got {self.preprocess!r}")
        if not self.reg >= 0:
            raise ValueError(f"reg must be >= 0, got {self.reg}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        _optimizer_class(self.optimizer)

    @staticmethod
    def _rows(X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim < 2:
            raise ValueError(f"X must have shape (N, D) or (N, C, H, W), got shape {X.shape}")
        return np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        if self.preprocess == "none":
            return X
        return (X - self.mean_) / np.float32(self.scale_)

    def _check_fitted(self, X, what: str) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise RuntimeError(f"{what}: this LinearClassifier is not fitted yet; call fit(X, y) "
                               f"first")
        X = self._rows(X)
        if X.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"{what}: X has {X.shape[1]} features per example but the classifier "
                             f"was trained on {self.coef_.shape[1]}")
        return X

    # --- training ----------------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None, verbose: bool = False) -> "LinearClassifier":
        """Train on X (N, D) or (N, C, H, W), y (N,). With X_val, y_val the validation accuracy
        is recorded per epoch in ``val_history_``. Returns self."""
        import deepbasic as db
        from deepbasic.nn import Parameter
        from deepbasic.nn import functional as F

        self._check_params()
        X = self._rows(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"fit: y must have shape ({len(X)},) to match X, got {y.shape}")
        if len(X) == 0:
            raise ValueError("fit: X has no examples")
        self.classes_, yi = np.unique(y, return_inverse=True)
        yi = yi.astype(np.int64)
        N, D = X.shape
        C = len(self.classes_)
        self.mean_ = X.mean(axis=0) if self.preprocess != "none" else np.zeros(D, np.float32)
        self.scale_ = float((X - self.mean_).std()) if self.preprocess == "standardize" else 1.0
        self.scale_ = self.scale_ or 1.0
        Xp = self._transform(X)

        rng = np.random.default_rng(self.seed)
        W = Parameter(db.tensor((self.weight_scale * rng.standard_normal((C, D))).astype(np.float32)))
        b = Parameter(db.tensor(np.zeros(C, dtype=np.float32)))
        opt_cls = _optimizer_class(self.optimizer)
        kwargs = {"lr": self.lr}
        if opt_cls.__name__ == "SGD":
            kwargs["momentum"] = self.momentum
        opt = opt_cls([W, b], **kwargs)
        data_loss = F.svm_loss if self.loss == "svm" else F.cross_entropy
        reg = float(self.reg)

        self.loss_history_, self.val_history_ = [], []
        for epoch in range(int(self.epochs)):
            order = rng.permutation(N)
            total = 0.0
            for s in range(0, N, self.batch_size):
                batch = order[s:s + self.batch_size]
                xb, yb = db.tensor(Xp[batch]), db.tensor(yi[batch])
                opt.zero_grad()
                scores = xb @ W.T + b                          # (B, C) = X W^T + b
                loss = data_loss(scores, yb)
                if reg > 0:
                    penalty = (W * W).sum() if self.reg_type == "l2" else W.abs().sum()
                    loss = loss + reg * penalty
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
            self.loss_history_.append(total / N)
            for group in opt.param_groups:
                group["lr"] *= self.lr_decay
            self.coef_ = W.data.copy()
            self.intercept_ = b.data.copy()
            if X_val is not None:
                self.val_history_.append(self.score(X_val, y_val))
            if not np.isfinite(self.loss_history_[-1]):
                raise ValueError(f"the training loss became {self.loss_history_[-1]} in epoch "
                                 f"{epoch + 1}: lower lr (now {self.lr})")
            if verbose:
                extra = f"  val acc {self.val_history_[-1]:.4f}" if self.val_history_ else ""
                print(f"epoch {epoch + 1:3d}  loss {self.loss_history_[-1]:.4f}{extra}")
        return self

    # --- inference ---------------------------------------------------------------------------
    def decision_function(self, X) -> np.ndarray:
        """Scores (N, C) = preprocess(X) W^T + b."""
        X = self._check_fitted(X, "decision_function")
        return self._transform(X) @ self.coef_.T + self.intercept_

    def predict(self, X) -> np.ndarray:
        """Labels (N,): the class with the highest score."""
        scores = self.decision_function(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def score(self, X, y) -> float:
        """Accuracy: mean(predict(X) == y)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def templates(self, image_shape) -> np.ndarray:
        """W's rows as images (C, *image_shape) (a channel axis first is moved last for RGB)."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("templates: this LinearClassifier is not fitted yet")
        return self.coef_.reshape((len(self.coef_),) + tuple(image_shape))


def plot_weight_templates(W, image_shape, classes, path: str, title: str = "learned templates") -> str:
    """One image per class: row c of W (C, D) reshaped to ``image_shape`` ((H, W), (1, H, W) or
    (3, H, W)), min-max scaled to [0, 1] per template, drawn in a grid with the class names."""
    from deepbasic.train.plots import _pyplot, _save

    W = np.asarray(W, dtype=np.float64)
    shape = tuple(image_shape)
    C = len(W)
    plt = _pyplot()
    cols = min(C, 5)
    rows = (C + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.3 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for c in range(C):
        img = W[c].reshape(shape)
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        ax = axes.ravel()[c]
        ax.imshow(img, cmap=None if img.ndim == 3 else "viridis", interpolation="nearest")
        ax.set_title(str(classes[c]), fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_loss_history(histories: dict, path: str, title: str = "training loss") -> str:
    """Training loss per epoch, one line per entry of ``histories`` ({label: [loss per epoch]})."""
    from deepbasic.train.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, hist in histories.items():
        ax.plot(np.arange(1, len(hist) + 1), hist, marker="o", ms=3, label=label)
    ax.set(xlabel="epoch", ylabel="loss (data + regularization)", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
