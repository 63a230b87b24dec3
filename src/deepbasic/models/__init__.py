"""Models built from deepbasic.nn."""
from deepbasic.models.mlp import MLP
