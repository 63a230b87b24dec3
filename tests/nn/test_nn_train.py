"""End to end: an MLP trained by hand-written SGD on a toy problem (modules + autograd compose)."""
import numpy as np

import deepbasic as db
from deepbasic import nn


def toy_problem(n=200, seed=0):
    """Two classes separated by a circle (not linearly separable: needs the hidden layer)."""
    r = np.random.default_rng(seed)
    x = r.uniform(-1, 1, (n, 2))
    y = (np.sum(x**2, axis=1) > 0.5).astype(np.int64)
    return db.tensor(x.astype(np.float32)), db.tensor(y)


def sgd_step(model, lr):
    with db.no_grad():
        for p in model.parameters():
            p.data -= lr * p.grad


def test_mlp_fits_toy_problem_with_hand_written_sgd():
    db.manual_seed(0)
    x, y = toy_problem()
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(300):
        model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        sgd_step(model, lr=0.5)
        first = loss.item() if first is None else first
    assert first > 0.6
    assert loss.item() < 0.15
    with db.no_grad():
        acc = (model(x).numpy().argmax(axis=1) == y.numpy()).mean()
    assert acc > 0.95
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_mlp_with_batchnorm_and_dropout_trains_and_evaluates():
    db.manual_seed(1)
    x, y = toy_problem(seed=1)
    model = nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1),
                          nn.Linear(32, 2))
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(200):
        model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        sgd_step(model, lr=0.2)
    model.eval()
    with db.no_grad():
        out = model(x)
        acc = (out.numpy().argmax(axis=1) == y.numpy()).mean()
        assert loss_fn(out, y).item() < 0.3
    assert acc > 0.9
    assert not out.requires_grad
