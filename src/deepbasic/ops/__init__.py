"""Differentiable operations, one :class:`~deepbasic.tensor.Function` subclass per op.

Each op's ``forward`` computes on arrays and saves what its ``backward`` needs; the docstring gives
the derivative. Modules: ``elementwise`` (arithmetic, pointwise functions, activations),
``reduce`` (sum, mean, var, max, logsumexp), ``shape`` (reshape, permute, indexing, cat, pad),
``linalg`` (matmul, linear), ``loss`` (softmax and the losses), ``norm`` (batch / layer norm),
``dropout``, ``rnn`` (fused RNN / LSTM / GRU layers over a sequence), ``embedding``.
"""
from deepbasic.ops.elementwise import (
    ELU,
    Abs,
    Add,
    Cast,
    Clamp,
    Clone,
    Div,
    Exp,
    LeakyReLU,
    Log,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    PowScalar,
    ReLU,
    Sigmoid,
    Softplus,
    Sqrt,
    Sub,
    Tanh,
    Where,
    clamp,
    compare,
    pow,
    stable_sigmoid,
    where,
)
from deepbasic.ops.linalg import Linear, MatMul, linear, matmul
from deepbasic.ops.loss import (
    BCEWithLogits,
    CrossEntropy,
    L1Loss,
    LogSoftmax,
    MSELoss,
    NLLLoss,
    Softmax,
    SVMLoss,
    TemporalCrossEntropy,
    log_softmax,
    softmax,
)
from deepbasic.ops.reduce import (
    Amax,
    Amin,
    LogSumExp,
    Mean,
    Sum,
    TakeAlong,
    Var,
    arg_reduce,
    axes_arg,
    max_along,
    normalize_axis,
)
from deepbasic.ops.shape import (
    Cat,
    Expand,
    GetItem,
    Pad,
    Permute,
    Reshape,
    Stack,
    cat,
    chunk,
    expand,
    flatten,
    getitem,
    pad,
    permute,
    plain_index,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
from deepbasic.ops.norm import BatchNorm, LayerNorm
from deepbasic.ops.dropout import Dropout
from deepbasic.ops.conv import Conv2d, ConvTranspose2d, conv2d, conv_transpose2d, conv_transpose_output_size
from deepbasic.ops.im2col import col2im, conv_output_size, im2col
from deepbasic.ops.pool import (
    AvgPool2d,
    MaxPool2d,
    MaxUnpool2d,
    adaptive_avg_pool2d,
    avg_pool2d,
    max_pool2d,
    max_unpool2d,
)
from deepbasic.ops.upsample import NearestResize2d, Resample2d, interpolate
from deepbasic.ops.norm2d import LocalResponseNorm, local_response_norm
from deepbasic.ops.rnn import GRU, LSTM, RNN, gru, lstm  # the rnn() wrapper: deepbasic.ops.rnn.rnn
from deepbasic.ops.embedding import Embedding  # embedding(): deepbasic.nn.functional.embedding
