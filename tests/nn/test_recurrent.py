"""Recurrent layers: RNN / LSTM / GRU (sequence ops and modules), their cells, Embedding, the
temporal cross-entropy and Linear on sequences.

Parity with PyTorch in float64 (outputs, final states and every input, state and parameter
gradient), gradcheck of the fused ops on tiny shapes, state-dict exchange both ways, error
messages, a long sequence, and the float32 path.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic import nn
from deepbasic.nn import functional as F
from deepbasic.ops import rnn as R

from _parity import assert_close, check_module_parity

RTOL, ATOL = 1e-9, 1e-11
TORCH = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU,
         "RNNCell": torch.nn.RNNCell, "LSTMCell": torch.nn.LSTMCell,
         "GRUCell": torch.nn.GRUCell}


def rng(seed=0):
    return np.random.default_rng(seed)


def pair(name, *args, **kwargs):
    """The deepbasic module (float64) and a torch module holding the same parameters."""
    db.manual_seed(0)
    m = getattr(nn, name)(*args, **kwargs).double()
    t = TORCH[name](*args, **kwargs).double()
    t.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    return m, t


def as_pair(a):
    """A float64 array as (deepbasic tensor, torch tensor), both requiring grad."""
    return db.tensor(a.copy(), requires_grad=True), torch.tensor(a.copy(), requires_grad=True)


def backward_both(db_outs, torch_outs, seed=1):
    """Backpropagate the same random upstream gradients through both sides' outputs."""
    r = rng(seed)
    total, ttotal = None, 0
    for a, b in zip(db_outs, torch_outs):
        g = r.standard_normal(tuple(a.shape))
        assert_close(a, b, RTOL, ATOL, what="forward")
        term = (a * db.tensor(g)).sum()
        total = term if total is None else total + term
        ttotal = ttotal + (b * torch.tensor(g)).sum()
    total.backward()
    ttotal.backward()


def compare_grads(m, t, inputs):
    for i, (a, b) in enumerate(inputs):
        assert a.grad is not None, f"input {i} got no gradient"
        assert_close(a.grad, b.grad, RTOL, ATOL, what=f"input {i} grad")
    tp = dict(t.named_parameters())
    names = [k for k, _ in m.named_parameters()]
    assert names == list(tp), "parameter names / order differ from PyTorch's"
    for k, p in m.named_parameters():
        assert p.grad is not None, f"{k} got no gradient"
        assert_close(p.grad, tp[k].grad, RTOL, ATOL, what=f"{k} grad")


# ----- sequence modules against PyTorch -----------------------------------------------------------
CASES = [
    # mode, num_layers, batch_first, with initial state, bias, bidirectional, extra kwargs
    ("RNN", 1, False, False, True, False, {}),
    ("RNN", 2, True, True, True, False, {}),
    ("RNN", 2, False, True, False, False, {"nonlinearity": "relu"}),
    ("RNN", 1, False, True, True, True, {}),
    ("LSTM", 1, False, False, True, False, {}),
    ("LSTM", 1, False, True, True, False, {}),
    ("LSTM", 2, True, True, True, False, {}),
    ("LSTM", 2, False, False, False, False, {}),
    ("LSTM", 2, True, True, True, True, {}),
    ("GRU", 1, False, False, True, False, {}),
    ("GRU", 1, True, True, True, False, {}),
    ("GRU", 2, False, True, False, False, {}),
    ("GRU", 2, False, True, True, True, {}),
]


@pytest.mark.parametrize("mode,layers,batch_first,state,bias,bidir,kw", CASES)
def test_sequence_module_parity(mode, layers, batch_first, state, bias, bidir, kw):
    T, N, D, H = 5, 3, 4, 6
    m, t = pair(mode, D, H, layers, bias=bias, batch_first=batch_first, bidirectional=bidir, **kw)
    r = rng(layers * 7 + batch_first)
    x, tx = as_pair(r.standard_normal((N, T, D) if batch_first else (T, N, D)))
    inputs = [(x, tx)]
    k = layers * (2 if bidir else 1)
    if state:
        states = [as_pair(r.standard_normal((k, N, H))) for _ in range(2 if mode == "LSTM" else 1)]
        inputs += states
        if mode == "LSTM":
            hx, thx = (states[0][0], states[1][0]), (states[0][1], states[1][1])
        else:
            hx, thx = states[0]
        out, hn = m(x, hx)
        tout, thn = t(tx, thx)
    else:
        out, hn = m(x)
        tout, thn = t(tx)
    dbo, tho = [out], [tout]
    if mode == "LSTM":
        dbo += list(hn)
        tho += list(thn)
    else:
        dbo.append(hn)
        tho.append(thn)
    backward_both(dbo, tho)
    compare_grads(m, t, inputs)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_parity(mode):
    m, t = pair(mode, 3, 4, 2)
    r = rng(3)
    x, tx = as_pair(r.standard_normal((5, 3)))
    h, th = as_pair(r.standard_normal((2, 4)))
    if mode == "LSTM":
        c, tc = as_pair(r.standard_normal((2, 4)))
        out, (hn, cn) = m(x, (h, c))
        tout, (thn, tcn) = t(tx, (th, tc))
        backward_both([out, hn, cn], [tout, thn, tcn])
        compare_grads(m, t, [(x, tx), (h, th), (c, tc)])
    else:
        out, hn = m(x, h)
        tout, thn = t(tx, th)
        backward_both([out, hn], [tout, thn])
        compare_grads(m, t, [(x, tx), (h, th)])
    assert out.shape == (5, 4) and hn.shape == (2, 4)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_gradient_through_final_state_only(mode):
    """A loss on h_n (and c_n) alone: the gradient enters through the extra output slices."""
    m, t = pair(mode, 3, 5)
    x, tx = as_pair(rng(4).standard_normal((6, 2, 3)))
    _, hn = m(x)
    _, thn = t(tx)
    if mode == "LSTM":
        (hn, cn), (thn, tcn) = hn, thn
        ((hn * hn).sum() + cn.sum()).backward()
        ((thn * thn).sum() + tcn.sum()).backward()
    else:
        (hn * hn).sum().backward()
        (thn * thn).sum().backward()
    compare_grads(m, t, [(x, tx)])


def test_dropout_between_layers():
    """p = 1 zeroes the first layer's output in training (deterministic: compare with torch);
    eval mode ignores dropout."""
    m, t = pair("LSTM", 3, 4, 2, dropout=1.0)
    x, tx = as_pair(rng(5).standard_normal((4, 2, 3)))
    out, (hn, cn) = m(x)
    tout, (thn, tcn) = t(tx)
    backward_both([out, hn, cn], [tout, thn, tcn])
    m.eval(), t.eval()
    with db.no_grad(), torch.no_grad():
        assert_close(m(x)[0], t(tx)[0], RTOL, ATOL)
    m2, _ = pair("GRU", 3, 4, 2, dropout=0.5)
    with db.no_grad():
        a, b = m2(x)[0].numpy(), m2(x)[0].numpy()
    assert not np.allclose(a, b)  # training mode: a new mask each call
    m2.eval()
    with db.no_grad():
        np.testing.assert_array_equal(m2(x)[0].numpy(), m2(x)[0].numpy())


def test_repr_and_parameter_names_match_torch():
    for name, args, kw in [("LSTM", (10, 20, 2), {"batch_first": True, "dropout": 0.5}),
                           ("GRU", (3, 4), {"bias": False, "bidirectional": True}),
                           ("RNN", (3, 4, 3), {}),
                           ("LSTMCell", (3, 4), {}), ("GRUCell", (3, 4), {"bias": False}),
                           ("RNNCell", (3, 4), {"nonlinearity": "relu"})]:
        m, t = getattr(nn, name)(*args, **kw), TORCH[name](*args, **kw)
        assert repr(m) == repr(t)
        assert [(k, tuple(p.shape)) for k, p in m.named_parameters()] == \
            [(k, tuple(p.shape)) for k, p in t.named_parameters()]
    # PyTorch's RNN repr leaves out a relu nonlinearity; ours shows it
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity=relu)"


def test_default_init_is_uniform_one_over_sqrt_hidden():
    db.manual_seed(1)
    m = nn.LSTM(30, 64, 2)
    bound = 1 / np.sqrt(64)
    w = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert abs(w.mean()) < 0.01 * bound and abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound


# ----- state dicts both ways ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_state_dict_exchange_both_ways(mode):
    t = TORCH[mode](4, 5, num_layers=2, bidirectional=True).double()
    m = getattr(nn, mode)(4, 5, num_layers=2, bidirectional=True).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = rng(6).standard_normal((3, 2, 4))
    with db.no_grad(), torch.no_grad():
        assert_close(m(db.tensor(x))[0], t(torch.tensor(x))[0], RTOL, ATOL, what="torch -> db")
    db.manual_seed(7)
    m2 = getattr(nn, mode)(4, 5, num_layers=2, bidirectional=True).double()
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m2.state_dict().items()})
    with db.no_grad(), torch.no_grad():
        assert_close(m2(db.tensor(x))[0], t(torch.tensor(x))[0], RTOL, ATOL, what="db -> torch")
    cell = TORCH[mode + "Cell"](4, 5).double()
    dcell = getattr(nn, mode + "Cell")(4, 5).double()
    dcell.load_state_dict({k: v.detach().numpy() for k, v in cell.state_dict().items()})
    assert list(dcell.state_dict()) == list(cell.state_dict())
    cell.load_state_dict({k: torch.from_numpy(v) for k, v in dcell.state_dict().items()})


# ----- cells --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,bias,state,kw", [
    ("RNNCell", True, True, {}), ("RNNCell", False, False, {"nonlinearity": "relu"}),
    ("LSTMCell", True, True, {}), ("LSTMCell", False, False, {}),
    ("GRUCell", True, True, {}), ("GRUCell", False, False, {}),
])
def test_cell_parity(name, bias, state, kw):
    N, D, H = 3, 4, 5
    m, t = pair(name, D, H, bias=bias, **kw)
    r = rng(8)
    x, tx = as_pair(r.standard_normal((N, D)))
    inputs = [(x, tx)]
    if name == "LSTMCell":
        if state:
            (h, th), (c, tc) = (as_pair(r.standard_normal((N, H))) for _ in range(2))
            inputs += [(h, th), (c, tc)]
            outs, touts = m(x, (h, c)), t(tx, (th, tc))
        else:
            outs, touts = m(x), t(tx)
        backward_both(list(outs), list(touts))
    else:
        if state:
            h, th = as_pair(r.standard_normal((N, H)))
            inputs.append((h, th))
            out, tout = m(x, h), t(tx, th)
        else:
            out, tout = m(x), t(tx)
        backward_both([out], [tout])
    compare_grads(m, t, inputs)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_unbatched_and_unrolled_equals_sequence(name):
    m, t = pair(name, 3, 4)
    r = rng(9)
    x, tx = as_pair(r.standard_normal(3))
    h, th = as_pair(r.standard_normal(4))
    state, tstate = ((h, h), (th, th)) if name == "LSTMCell" else (h, th)
    out, tout = m(x, state), t(tx, tstate)
    outs, touts = (list(out), list(tout)) if name == "LSTMCell" else ([out], [tout])
    backward_both(outs, touts)
    compare_grads(m, t, [(x, tx), (h, th)])
    assert outs[0].shape == (4,)
    # unrolling the cell over a sequence gives the sequence module's output
    seq = getattr(nn, name[:-4])(3, 4).double()
    seq.load_state_dict({k + "_l0": v for k, v in m.state_dict().items()})
    xs = db.tensor(r.standard_normal((6, 2, 3)))
    with db.no_grad():
        ref, _ = seq(xs)
        s = None
        for step in range(6):
            s = m(xs[step], s)
            hs = s[0] if name == "LSTMCell" else s
            assert_close(hs, ref[step].numpy(), RTOL, ATOL)


# ----- the fused ops: gradcheck on tiny shapes ----------------------------------------------------
@pytest.mark.parametrize("mode", ["tanh", "relu", "LSTM", "GRU"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_op_gradcheck(mode, bias):
    T, N, D, H = 3, 2, 3, 2
    g = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    r = rng(10)
    x = db.tensor(r.standard_normal((T, N, D)), requires_grad=True)
    h0 = db.tensor(r.standard_normal((N, H)), requires_grad=True)
    c0 = db.tensor(r.standard_normal((N, H)), requires_grad=True)
    w_ih = db.tensor(r.standard_normal((g * H, D)), requires_grad=True)
    w_hh = db.tensor(r.standard_normal((g * H, H)), requires_grad=True)
    b = [db.tensor(r.standard_normal(g * H), requires_grad=True) for _ in range(2)] if bias else []
    if mode == "relu":  # keep the pre-activations away from the kink
        x.data += 1.0
        w_hh.data *= 0.3

    if mode == "LSTM":
        def fn(x, h0, c0, w_ih, w_hh, *b):
            return R.lstm(x, h0, c0, w_ih, w_hh, *b)
        inputs = [x, h0, c0, w_ih, w_hh] + b
    else:
        def fn(x, h0, w_ih, w_hh, *b):
            if mode == "GRU":
                return R.gru(x, h0, w_ih, w_hh, *b)
            return R.rnn(x, h0, w_ih, w_hh, *b, nonlinearity=mode)
        inputs = [x, h0, w_ih, w_hh] + b
    assert db.gradcheck(fn, inputs)


def test_module_gradcheck_two_layers_bidirectional():
    db.manual_seed(2)
    m = nn.GRU(2, 2, num_layers=2, bidirectional=True, batch_first=True).double()
    x = db.tensor(rng(11).standard_normal((2, 3, 2)), requires_grad=True)
    params = list(m.parameters())

    def fn(x, *ps):
        return m(x)

    assert db.gradcheck(fn, [x] + params)


def test_backward_twice_with_retain_graph():
    m = nn.LSTM(3, 4).double()
    x = db.tensor(rng(12).standard_normal((5, 2, 3)), requires_grad=True)
    out, (hn, cn) = m(x)
    loss = (out * out).sum() + cn.sum()
    loss.backward(retain_graph=True)
    g1 = x.grad.copy(), m.weight_hh_l0.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * g1[0], rtol=1e-12)
    np.testing.assert_allclose(m.weight_hh_l0.grad, 2 * g1[1], rtol=1e-12)


def test_long_sequence():
    """T = 500: the graph is one op per layer, and backward walks the steps in a loop."""
    m, t = pair("LSTM", 3, 8, 2)
    x, tx = as_pair(rng(13).standard_normal((500, 2, 3)))
    out, (hn, cn) = m(x)
    tout, (thn, tcn) = t(tx)
    backward_both([out, hn, cn], [tout, thn, tcn])
    compare_grads(m, t, [(x, tx)])
    g = nn.GRU(3, 4)
    out, hn = g(db.tensor(rng(14).standard_normal((2000, 1, 3)).astype(np.float32),
                          requires_grad=True))
    out.sum().backward()
    assert np.isfinite(g.weight_hh_l0.grad).all()


def test_float32_path_matches_torch():
    db.manual_seed(3)
    m = nn.LSTM(16, 32, batch_first=True)
    t = torch.nn.LSTM(16, 32, batch_first=True)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    x = rng(15).standard_normal((4, 10, 16)).astype(np.float32)
    xt, txt = db.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, _ = m(xt)
    tout, _ = t(txt)
    assert out.dtype == np.float32
    out.sum().backward()
    tout.sum().backward()
    assert xt.grad.dtype == np.float32 and m.weight_ih_l0.grad.dtype == np.float32
    assert_close(out, tout, 1e-5, 1e-6)
    assert_close(xt.grad, txt.grad, 1e-4, 1e-5)
    assert_close(m.weight_hh_l0.grad, t.weight_hh_l0.grad, 1e-4, 1e-5)


# ----- errors -------------------------------------------------------------------------------------
def test_errors():
    lstm = nn.LSTM(4, 5, 2)
    with pytest.raises(ValueError, match=r"expected input of shape \(T, N, input_size\).*"
                                         r"got \(2, 3, 4, 5\)"):
        lstm(db.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="input has 3 features .* expected input_size=4"):
        lstm(db.zeros(6, 2, 3))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 2, 5\) .* got \(1, 2, 5\)"):
        lstm(db.zeros(6, 2, 4), (db.zeros(1, 2, 5), db.zeros(2, 2, 5)))
    with pytest.raises(ValueError, match=r"expected c0 of shape \(2, 2, 5\) .* got \(2, 3, 5\)"):
        lstm(db.zeros(6, 2, 4), (db.zeros(2, 2, 5), db.zeros(2, 3, 5)))
    with pytest.raises(ValueError, match=r"pair \(h0, c0\)"):
        lstm(db.zeros(6, 2, 4), db.zeros(2, 2, 5))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 5\) for unbatched"):
        lstm(db.zeros(6, 4), (db.zeros(2, 1, 5), db.zeros(2, 1, 5)))
    gru = nn.GRU(4, 5)
    with pytest.raises(ValueError, match="as one tensor"):
        gru(db.zeros(6, 2, 4), (db.zeros(1, 2, 5),))
    with pytest.raises(TypeError, match="x is float64 but w_ih is float32"):
        gru(db.zeros(6, 2, 4, dtype="float64"))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="dropout must be a probability"):
        nn.GRU(3, 4, dropout=1.5)
    cell = nn.LSTMCell(4, 5)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, input_size\)"):
        cell(db.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="input has 2 features .* expected input_size=4"):
        cell(db.zeros(3, 2))
    with pytest.raises(ValueError, match=r"expected c of shape \(3, 5\) .* got \(3, 4\)"):
        cell(db.zeros(3, 4), (db.zeros(3, 5), db.zeros(3, 4)))
    with pytest.raises(ValueError, match=r"expected hx of shape \(3, 5\)"):
        nn.GRUCell(4, 5)(db.zeros(3, 4), db.zeros(5))
    with pytest.raises(ValueError, match=r"expected w_ih of shape \(20, 3\)"):
        R.lstm(db.zeros(2, 1, 3), None, None, db.zeros(20, 4), db.zeros(20, 5))


# ----- Embedding ----------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_parity(padding_idx):
    db.manual_seed(4)
    m = nn.Embedding(7, 3, padding_idx=padding_idx).double()
    t = torch.nn.Embedding(7, 3, padding_idx=padding_idx).double()
    assert m.padding_idx == t.padding_idx
    if padding_idx is not None:
        assert not m.weight.numpy()[padding_idx].any()
    t.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    ids = np.array([[0, 2, 6, 2], [6, 6, 1, 2], [3, 2, 2, 0]])  # repeats: the scatter adds up
    check_module_parity(m, t, ids)
    assert repr(m) == repr(t)


def test_embedding_init_gradcheck_and_errors():
    db.manual_seed(5)
    w = nn.Embedding(1000, 64).weight.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01 and w.dtype == np.float32
    table = db.tensor(rng(16).standard_normal((5, 2)), requires_grad=True)
    ids = np.array([[1, 4, 1], [0, 1, 3]])
    assert db.gradcheck(lambda wt: F.embedding(ids, wt), [table])
    table.grad = None
    F.embedding(ids, table, padding_idx=1).sum().backward()  # padding_idx: by design no gradient
    np.testing.assert_array_equal(table.grad[1], 0)
    emb = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"id 5 is out of range for a table of 5 rows: ids must "
                                         r"be in \[0, 4\]"):
        emb(db.tensor([[1, 5]]))
    with pytest.raises(IndexError, match="id -1 is out of range"):
        emb(np.array([-1]))
    with pytest.raises(TypeError, match="ids must be integers"):
        emb(db.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"padding_idx must be in \[-5, 5\)"):
        nn.Embedding(5, 2, padding_idx=5)
    frozen = nn.Embedding.from_pretrained(np.eye(3, dtype=np.float32))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(np.array([2, 0])).numpy(), [[0, 0, 1], [1, 0, 0]])


# ----- temporal cross-entropy ---------------------------------------------------------------------
def test_temporal_cross_entropy_matches_torch():
    N, T, V = 3, 5, 6
    r = rng(17)
    x = 3 * r.standard_normal((N, T, V))
    y = r.integers(0, V, (N, T))
    y[0, 3:] = 0  # <NULL> padding, id 0
    y[2, 4] = 0
    for reduction in ("mean", "sum", "none"):
        s, ts = as_pair(x)
        out = F.temporal_cross_entropy(s, y, ignore_index=0, reduction=reduction)
        tout = TF.cross_entropy(ts.permute(0, 2, 1), torch.tensor(y), ignore_index=0,
                                reduction=reduction)
        backward_both([out], [tout])
        assert_close(s.grad, ts.grad, RTOL, ATOL, what=reduction)
    # "batch" (the default, CS231n): the sum over kept positions divided by N
    s, ts = as_pair(x)
    out = nn.TemporalCrossEntropyLoss(ignore_index=0)(s, y)
    tout = TF.cross_entropy(ts.permute(0, 2, 1), torch.tensor(y), ignore_index=0,
                            reduction="sum") / N
    backward_both([out], [tout])
    assert_close(s.grad, ts.grad, RTOL, ATOL)
    # a mask does what ignore_index does
    mask = y != 0
    a = F.temporal_cross_entropy(db.tensor(x), y, mask)
    b = F.temporal_cross_entropy(db.tensor(x), db.tensor(y), db.tensor(mask), ignore_index=0)
    assert_close(a, b.numpy(), RTOL, ATOL)
    assert_close(a, out.numpy(), RTOL, ATOL)


def test_temporal_cross_entropy_cs231n_reference_and_gradcheck():
    """CS231n's temporal_softmax_loss: loss = -sum(mask * log p[y]) / N."""
    N, T, V = 4, 3, 5
    r = rng(18)
    x, y, mask = r.standard_normal((N, T, V)), r.integers(0, V, (N, T)), r.random((N, T)) < 0.6
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ref = -np.sum(mask * np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])) / N
    loss = F.temporal_cross_entropy(db.tensor(x), y, mask)
    assert abs(loss.item() - ref) < 1e-12
    for reduction in ("batch", "mean", "none"):
        assert db.gradcheck(lambda s: F.temporal_cross_entropy(s, y, mask, reduction=reduction),
                            [db.tensor(x, requires_grad=True)])
    huge = db.tensor(1e4 * r.standard_normal((N, T, V)), requires_grad=True)
    loss = F.temporal_cross_entropy(huge, y, mask)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(huge.grad).all()


def test_temporal_cross_entropy_errors():
    x = db.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"expected scores of shape \(N, T, V\), got \(6, 4\)"):
        F.temporal_cross_entropy(db.zeros(6, 4), np.zeros(6, dtype=np.int64))
    with pytest.raises(ValueError, match=r"need targets of shape \(2, 3\), got \(3, 2\)"):
        F.temporal_cross_entropy(x, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"expected mask of shape \(2, 3\)"):
        F.temporal_cross_entropy(x, np.zeros((2, 3), dtype=np.int64), np.ones((2, 2), bool))
    with pytest.raises(TypeError, match="integer ids"):
        F.temporal_cross_entropy(x, np.zeros((2, 3)))
    with pytest.raises(IndexError, match="id 4 is out of range"):
        F.temporal_cross_entropy(x, np.full((2, 3), 4))
    F.temporal_cross_entropy(x, np.full((2, 3), 4), np.zeros((2, 3), bool))  # masked: fine
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.temporal_cross_entropy(x, np.zeros((2, 3), dtype=np.int64), reduction="avg")


# ----- Linear on sequences (temporal affine) ------------------------------------------------------
def test_linear_on_sequences_is_the_temporal_affine():
    db.manual_seed(6)
    m = nn.Linear(4, 3).double()
    t = torch.nn.Linear(4, 3).double()
    t.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = rng(19).standard_normal((2, 5, 4))
    out, _ = check_module_parity(m, t, x, rtol=RTOL, atol=ATOL)
    assert out.shape == (2, 5, 3)
    check_module_parity(m, t, x.transpose(1, 0, 2), rtol=RTOL, atol=ATOL)  # not contiguous
    check_module_parity(m, t, rng(20).standard_normal(4), rtol=RTOL, atol=ATOL)  # 1-D input
