"""Gradient utilities under PyTorch's names (``torch.nn.utils``)."""
from deepbasic.optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
