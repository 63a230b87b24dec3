"""deepbasic: the fundamentals of deep learning for computer vision, written out in NumPy.

    import deepbasic as db
    x = db.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == [[2., 4.]]
"""
from deepbasic.backend import (
    get_default_dtype,
    manual_seed,
    set_default_dtype,
)
from deepbasic.tensor import (
    Function,
    Tensor,
    enable_grad,
    is_grad_enabled,
    no_grad,
    override_backward,
    tensor,
)
from deepbasic.ops import cat, stack, where, matmul
from deepbasic.creation import (
    arange,
    full,
    ones,
    ones_like,
    rand,
    randn,
    zeros,
    zeros_like,
)
from deepbasic.gradcheck import gradcheck

__version__ = "0.1.0"
