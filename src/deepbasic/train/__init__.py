"""Training: the minibatch loop and evaluation; ``SequenceTrainer`` for truncated BPTT."""
from deepbasic.train.loop import accuracy, evaluate, predict, train_epoch
from deepbasic.train.sequence import SequenceTrainer, detach_state

__all__ = ["accuracy", "evaluate", "predict", "train_epoch", "SequenceTrainer", "detach_state"]
