"""Module behaviour: registration and names (as PyTorch's), modes, gradients, state dicts, repr."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import deepbasic as db
from deepbasic import nn
from deepbasic.nn import StateDictError

from _parity import assert_close


def mlp(with_bn=True, with_dropout=False):
    layers = [nn.Linear(4, 8)]
    if with_bn:
        layers.append(nn.BatchNorm1d(8))
    layers.append(nn.ReLU())
    if with_dropout:
        layers.append(nn.Dropout(0.5))
    layers.append(nn.Linear(8, 3))
    return nn.Sequential(*layers)


def torch_mlp(with_bn=True, with_dropout=False):
    layers = [torch.nn.Linear(4, 8)]
    if with_bn:
        layers.append(torch.nn.BatchNorm1d(8))
    layers.append(torch.nn.ReLU())
    if with_dropout:
        layers.append(torch.nn.Dropout(0.5))
    layers.append(torch.nn.Linear(8, 3))
    return torch.nn.Sequential(*layers).double()


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(3, 5), nn.ReLU())
        self.head = nn.Linear(5, 2)
        self.scale = 2.0  # a plain attribute

    def forward(self, x):
        return self.head(self.features(x)) * self.scale


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU())
        self.head = torch.nn.Linear(5, 2)


# ----- names, order, traversal ----------------------------------------------------------------------
def test_parameter_and_buffer_names_match_torch():
    m, t = mlp(), torch_mlp()
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(m.state_dict()) == list(t.state_dict())
    assert [p.shape for p in m.parameters()] == [tuple(p.shape) for p in t.parameters()]
    b, tb = Block(), TorchBlock()
    assert [n for n, _ in b.named_parameters()] == [n for n, _ in tb.named_parameters()]
    assert [n for n, _ in b.named_modules()] == [n for n, _ in tb.named_modules()]
    assert [n for n, _ in b.named_children()] == ["features", "head"]
    assert [type(c).__name__ for c in b.children()] == ["Sequential", "Linear"]
    assert len(list(b.modules())) == 5
    assert b.num_parameters() == sum(p.numel() for p in tb.parameters())


def test_parameters_are_parameters_requiring_grad():
    for p in mlp().parameters():
        assert isinstance(p, nn.Parameter) and p.requires_grad


def test_recurse_false_lists_own_parameters_only():
    b = Block()
    assert list(b.named_parameters(recurse=False)) == []
    lin = nn.Linear(2, 2)
    assert [n for n, _ in lin.named_parameters(recurse=False)] == ["weight", "bias"]


def test_shared_parameters_counted_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert seq.num_parameters() == 12
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    # like torch: parameters deduplicated, but the state dict names every path
    tl = torch.nn.Linear(3, 3)
    tseq = torch.nn.Sequential(tl, torch.nn.ReLU(), tl)
    assert [n for n, _ in seq.named_parameters()] == [n for n, _ in tseq.named_parameters()]
    assert list(seq.state_dict()) == list(tseq.state_dict())
    seq.load_state_dict({k: v.detach().numpy() for k, v in tseq.state_dict().items()})
    # the shared weight gets the gradient of both uses, once
    x = db.randn(2, 3)
    seq(x).sum().backward()
    assert lin.weight.grad is not None

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

    assert len(list(Tied().parameters())) == 1


def test_attribute_assignment_registers_and_reassignment_keeps_kinds():
    m = nn.Module()
    m.w = nn.Parameter(db.zeros(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("stat", db.zeros(2))
    m.stat = db.ones(2)  # a buffer stays a buffer
    assert list(m.state_dict()) == ["w", "stat", "sub.weight", "sub.bias"]
    np.testing.assert_array_equal(m.state_dict()["stat"], [1, 1])
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = db.zeros(2)  # a plain tensor cannot replace a parameter silently
    m.w = None
    assert m.w is None and [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    m.sub = 3  # a plain value replaces the submodule
    assert list(m.children()) == [] and m.sub == 3
    del m.stat
    assert list(m.state_dict()) == []
    with pytest.raises(AttributeError, match="nope"):
        m.nope


def test_forgot_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match=r"super\(\).__init__\(\)"):
        Bad()

    class Bad2(nn.Module):
        def __init__(self):
            pass

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        list(Bad2().parameters())


# ----- containers -----------------------------------------------------------------------------------
def test_sequential_indexing_slicing_len_iter():
    m = mlp()
    assert len(m) == 4
    assert isinstance(m[0], nn.Linear) and isinstance(m[-1], nn.Linear) and m[1] is list(m)[1]
    head = m[2:]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert head[0] is m[2] and head[1] is m[3]
    t = torch_mlp()
    assert list(head.state_dict()) == list(t[2:].state_dict())  # keeps the names, like torch
    x = db.randn(5, 4)
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), head(m[:2](x)).numpy())
    m.append(nn.Tanh())
    assert len(m) == 5 and isinstance(m[4], nn.Tanh)
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_sequential_from_ordered_dict():
    m = nn.Sequential(OrderedDict(fc1=nn.Linear(2, 3), act=nn.ReLU(), fc2=nn.Linear(3, 1)))
    t = torch.nn.Sequential(OrderedDict(fc1=torch.nn.Linear(2, 3), act=torch.nn.ReLU(),
                                        fc2=torch.nn.Linear(3, 1)))
    assert list(m.state_dict()) == list(t.state_dict())
    assert repr(m) == repr(t)


def test_module_list_registers_items():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])

    n = Net()
    assert [k for k, _ in n.named_parameters()] == [k for k, _ in TNet().named_parameters()]
    assert len(n.layers) == 3 and isinstance(n.layers[1], nn.Linear)
    n.layers.append(nn.Linear(2, 2)).extend([nn.Linear(2, 2)])
    assert len(list(n.parameters())) == 10
    assert len(n.layers[1:3]) == 2
    assert [type(x) for x in n.layers] == [nn.Linear] * 5
    with pytest.raises(TypeError):
        n.layers.append(3)
    # a plain Python list does not register (the classic mistake)

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(2, 2)]

    assert list(Plain().parameters()) == []


def test_identity_and_flatten():
    x = db.randn(2, 3, 4, 5)
    assert nn.Identity()(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert repr(nn.Flatten()) == repr(torch.nn.Flatten())


# ----- modes and gradients ------------------------------------------------------------------------
def test_train_eval_propagate():
    m = Block()
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m.features.train(False)
    assert m.training and not m.features.training and not m.features[0].training


def test_eval_changes_dropout_and_batchnorm_behaviour():
    db.manual_seed(0)
    m = mlp(with_bn=True, with_dropout=True)
    x = db.randn(16, 4)
    a, b = m(x).numpy(), m(x).numpy()
    assert not np.allclose(a, b)  # dropout masks differ
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), m(x).numpy())


def test_zero_grad():
    m = mlp()
    m(db.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_gradients_accumulate_until_zero_grad():
    m = nn.Linear(3, 2)
    x = db.randn(4, 3)
    m(x).sum().backward()
    g1 = m.weight.grad.copy()
    m(x).sum().backward()
    np.testing.assert_allclose(m.weight.grad, 2 * g1, rtol=1e-6)


@pytest.mark.parametrize("how", ["attribute", "requires_grad_"])
def test_freezing(how):
    m = mlp(with_bn=False)
    if how == "attribute":
        for p in m[0].parameters():
            p.requires_grad = False
    else:
        m[0].requires_grad_(False)
    assert m.num_parameters(trainable_only=True) == 8 * 3 + 3
    before = {k: v.copy() for k, v in m.state_dict().items()}
    x, t = db.randn(6, 4), db.tensor(np.arange(6) % 3)
    loss = nn.CrossEntropyLoss()(m(x), t)
    loss.backward()
    assert m[0].weight.grad is None and m[0].bias.grad is None
    assert m[2].weight.grad is not None and m[2].bias.grad is not None
    try:
        from deepbasic.optim import SGD
    except ImportError:  # the optimizers are not there yet: update by hand, as they would
        SGD = None
    if SGD is not None:  # a frozen parameter (grad None) must be skipped, weight decay included
        SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01).step()
    else:
        with db.no_grad():
            for p in m.parameters():
                if p.grad is not None:
                    p.data -= 0.1 * p.grad
    after = m.state_dict()
    np.testing.assert_array_equal(after["0.weight"], before["0.weight"])
    np.testing.assert_array_equal(after["0.bias"], before["0.bias"])
    assert not np.array_equal(after["2.weight"], before["2.weight"])
    m.requires_grad_(True)
    assert all(p.requires_grad for p in m.parameters())


def test_frozen_input_layer_still_passes_gradient_to_input():
    m = nn.Linear(3, 2).requires_grad_(False)
    x = db.randn(2, 3, requires_grad=True)
    m(x).sum().backward()
    assert x.grad is not None and m.weight.grad is None


def test_apply_and_double():
    m = mlp()
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Sequential" and seen.count("Linear") == 2
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64 and m[1].num_batches_tracked.dtype == np.int64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())


# ----- state dicts -----------------------------------------------------------------------------------
def test_state_dict_round_trip():
    db.manual_seed(1)
    m = mlp()
    for _ in range(3):  # move the running statistics
        m(db.randn(8, 4))
    m.eval()
    sd = m.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["0.weight"][...] = sd["0.weight"]  # a copy, not the live array
    sd0 = {k: v.copy() for k, v in sd.items()}
    m2 = mlp().eval()
    m2.load_state_dict(sd)
    x = db.randn(5, 4)
    np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())
    assert int(m2[1].num_batches_tracked.item()) == 3
    # loading copies: changing the dict later does not change the model
    sd["0.weight"][...] = 0
    assert np.array_equal(m2.state_dict()["0.weight"], sd0["0.weight"])
    # and the state dict is not a view of the model
    m.state_dict()["0.bias"][...] = 99
    assert not np.any(m[0].bias.numpy() == 99)


def test_load_torch_state_dict_and_same_outputs():
    t = torch_mlp()
    t.train()
    for _ in range(2):
        t(torch.randn(8, 4, dtype=torch.float64))
    m = mlp().double()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 4))
    t.eval(), m.eval()
    assert_close(m(db.tensor(x)), t(torch.tensor(x)))
    t.train(), m.train()
    assert_close(m(db.tensor(x)), t(torch.tensor(x)))
    # and back: deepbasic's state dict loads into torch
    t2 = torch_mlp()
    t2.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    assert_close(m.eval()(db.tensor(x)), t2.eval()(torch.tensor(x)))


def test_deepcopy_and_pickle():
    import copy
    import pickle

    m = mlp()
    m(db.randn(8, 4))
    for m2 in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert m2[0].weight is not m[0].weight
        assert isinstance(m2[0].weight, nn.Parameter)
        sd, sd2 = m.state_dict(), m2.state_dict()
        assert list(sd) == list(sd2) and all(np.array_equal(sd[k], sd2[k]) for k in sd)
        x = db.randn(3, 4)
        np.testing.assert_array_equal(m.eval()(x).numpy(), m2.eval()(x).numpy())


def test_load_state_dict_accepts_torch_tensors_and_deepbasic_tensors():
    t = torch_mlp()
    m = mlp().double()
    m.load_state_dict(t.state_dict())  # anything array-like with a shape
    m2 = mlp().double()
    m2.load_state_dict({k: db.tensor(v) for k, v in m.state_dict().items()})
    assert all(np.array_equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))


def test_load_state_dict_casts_to_the_model_dtype():
    m = nn.Linear(2, 2)  # float32
    m.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert m.weight.dtype == np.float32 and np.all(m.weight.numpy() == 1)


def test_load_state_dict_missing_key():
    m = mlp()
    sd = m.state_dict()
    del sd["3.bias"]
    with pytest.raises(StateDictError) as e:
        mlp().load_state_dict(sd)
    assert "missing" in str(e.value) and "3.bias" in str(e.value)


def test_load_state_dict_unexpected_key():
    sd = mlp().state_dict()
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(StateDictError) as e:
        mlp().load_state_dict(sd)
    assert "unexpected" in str(e.value) and "extra.weight" in str(e.value)


def test_load_state_dict_shape_mismatch_names_key_and_both_shapes():
    sd = mlp().state_dict()
    sd["0.weight"] = np.zeros((8, 5))
    with pytest.raises(StateDictError) as e:
        mlp().load_state_dict(sd)
    msg = str(e.value)
    assert "0.weight" in msg and "(8, 5)" in msg and "(8, 4)" in msg
    with pytest.raises(StateDictError):  # also without strict, as in torch
        mlp().load_state_dict(sd, strict=False)


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    m = mlp()
    before = m.state_dict()
    sd = mlp().state_dict()
    del sd["0.bias"]
    sd["head.weight"] = np.zeros(1)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["0.bias"] and unexpected == ["head.weight"]
    np.testing.assert_array_equal(m.state_dict()["0.bias"], before["0.bias"])  # untouched
    np.testing.assert_array_equal(m.state_dict()["0.weight"], sd["0.weight"])  # loaded
    assert nn.Linear(2, 2).load_state_dict(nn.Linear(2, 2).state_dict()) == ([], [])


def test_load_state_dict_of_other_architecture_is_a_clear_error():
    with pytest.raises(StateDictError) as e:
        mlp(with_bn=True).load_state_dict(mlp(with_bn=False).state_dict())
    msg = str(e.value)
    assert "missing" in msg and "unexpected" in msg and "running_mean" in msg
    with pytest.raises(StateDictError):
        Block().load_state_dict(mlp().state_dict())


def test_state_dict_error_is_a_runtime_error():
    assert issubclass(StateDictError, RuntimeError)


# ----- repr --------------------------------------------------------------------------------------
def test_repr_tree_like_torch():
    m, t = mlp(with_bn=False, with_dropout=False), torch_mlp(with_bn=False, with_dropout=False)
    assert repr(m) == repr(t)
    lines = repr(Block()).splitlines()
    tlines = repr(TorchBlock()).splitlines()
    assert lines[0] == "Block(" and tlines[0] == "TorchBlock("
    assert lines[1] == tlines[1] == "  (features): Sequential("
    assert lines[2] == tlines[2] == "    (0): Linear(in_features=3, out_features=5, bias=True)"
    assert lines[1:] == tlines[1:]
    assert repr(nn.Linear(2, 3, bias=False)) == repr(torch.nn.Linear(2, 3, bias=False))


def test_parameter_repr_and_call_forward():
    p = nn.Parameter(db.zeros(2))
    assert repr(p).startswith("Parameter containing:")
    with pytest.raises(NotImplementedError):
        nn.Module()(db.zeros(1))


def test_forward_hooks_see_inputs_and_outputs_and_can_be_removed():
    import deepbasic as db
    from deepbasic import nn

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    seen = []
    handle = model[0].register_forward_hook(lambda m, args, out: seen.append((args[0].shape, out.shape)))
    pre = model[2].register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = model(db.tensor(np.ones((5, 4), dtype=np.float32)))
    assert seen == [((5, 4), (5, 3))]
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(model[2].bias.numpy(), (5, 2)))
    handle.remove()
    pre.remove()
    model(db.tensor(np.ones((5, 4), dtype=np.float32)))
    assert len(seen) == 1


def test_forward_hook_can_replace_output_and_rejects_non_callables():
    import deepbasic as db
    from deepbasic import nn

    layer = nn.Linear(2, 2)
    with layer.register_forward_hook(lambda m, args, out: out * 0):
        assert float(layer(db.tensor(np.ones((1, 2)))).abs().sum().item()) == 0.0
    assert float(layer(db.tensor(np.ones((1, 2)))).abs().sum().item()) != 0.0
    with pytest.raises(TypeError, match="callable"):
        layer.register_forward_hook("not a function")
