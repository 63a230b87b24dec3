"""Neural-network building blocks with PyTorch's names: Module, Parameter and the layers."""
from deepbasic.nn import functional, utils
from deepbasic.nn.layers.activation import (
    ELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from deepbasic.nn.layers.container import Flatten, Identity, ModuleList, Sequential
from deepbasic.nn.layers.dropout import Dropout, Dropout2d
from deepbasic.nn.layers.linear import Linear
from deepbasic.nn.layers.loss import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    MultiClassHingeLoss,
    NLLLoss,
    TemporalCrossEntropyLoss,
)
from deepbasic.nn.layers.normalization import BatchNorm1d, BatchNorm2d, LayerNorm, LocalResponseNorm
from deepbasic.nn.layers.conv import Conv2d, ConvTranspose2d
from deepbasic.nn.layers.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from deepbasic.nn.layers.recurrent import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    GRUCell,
    LSTMCell,
    RNNCell,
)
from deepbasic.nn.layers.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from deepbasic.nn.module import Module, Parameter, StateDictError

