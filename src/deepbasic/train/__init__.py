"""Training: the minibatch loop and evaluation."""
from deepbasic.train.loop import accuracy, evaluate, predict, train_epoch
