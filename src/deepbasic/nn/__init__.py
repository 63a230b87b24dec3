"""Neural-network building blocks with PyTorch's names: Module, Parameter and the layers."""
from deepbasic.nn.module import Module, Parameter, StateDictError
