"""Models built from deepbasic.nn, and a registry to build them by name (for the command line and
for rebuilding a model from a checkpoint's saved configuration).

Small models for 28x28 / 32x32 images: ``mlp``, ``threelayer`` (CS231n's conv-relu-pool-affine),
``convnet``, ``vgg-small``, ``resnet20``, ``rowlstm`` (an LSTM reading the image row by row). ImageNet architectures (torchvision's names and parameter
counts): ``alexnet``, ``vgg16``, ``vgg19``, ``googlenet``, ``resnet18`` / ``34`` / ``50`` / ``101`` /
``152``.
"""
from __future__ import annotations

import math

from deepbasic.models.alexnet import AlexNet
from deepbasic.models.convnet import ConvNet, ThreeLayerConvNet
from deepbasic.models.googlenet import GoogLeNet, Inception
from deepbasic.models.mlp import MLP
from deepbasic.models.recurrent import CharLM, RowLSTM, sample_text
from deepbasic.models.resnet import (BasicBlock, Bottleneck, ResNet, resnet18, resnet20, resnet34,
                                     resnet50, resnet101, resnet152)
from deepbasic.models.summary import ModelSummary, format_summary, summary
from deepbasic.models.vgg import VGG, vgg16, vgg19, vgg_small


def _channels(input_shape, name: str) -> int:
    if len(input_shape) != 3:
        raise ValueError(f"{name} takes images: input_shape must be (C, H, W), got "
                         f"{tuple(input_shape)}")
    return input_shape[0]


def _image_model(factory, name):
    def build(input_shape, num_classes, **kwargs):
        return factory(num_classes=num_classes, in_channels=_channels(input_shape, name), **kwargs)
    return build


def _small_image_model(cls, name):
    def build(input_shape, num_classes, **kwargs):
        _channels(input_shape, name)
        return cls(tuple(input_shape), num_classes, **kwargs)
    return build


def _mlp(input_shape, num_classes, **kwargs):
    return MLP(math.prod(input_shape), num_classes, **kwargs)


MODELS = {
    "mlp": _mlp,
    "threelayer": _small_image_model(ThreeLayerConvNet, "threelayer"),
    "convnet": _small_image_model(ConvNet, "convnet"),
    "vgg-small": _image_model(vgg_small, "vgg-small"),
    "resnet20": _image_model(resnet20, "resnet20"),
    "rowlstm": _small_image_model(RowLSTM, "rowlstm"),
    "alexnet": _image_model(AlexNet, "alexnet"),
    "vgg16": _image_model(vgg16, "vgg16"),
    "vgg19": _image_model(vgg19, "vgg19"),
    "googlenet": _image_model(GoogLeNet, "googlenet"),
    "resnet18": _image_model(resnet18, "resnet18"),
    "resnet34": _image_model(resnet34, "resnet34"),
    "resnet50": _image_model(resnet50, "resnet50"),
    "resnet101": _image_model(resnet101, "resnet101"),
    "resnet152": _image_model(resnet152, "resnet152"),
}

IMAGE_MODELS = tuple(name for name in MODELS if name != "mlp")


def build_model(name: str, input_shape, num_classes: int, **kwargs):
    """Build a registered model for inputs of ``input_shape`` (without the batch dim)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(sorted(MODELS))}")
    return MODELS[name](tuple(input_shape), num_classes, **kwargs)


__all__ = ["MLP", "ConvNet", "ThreeLayerConvNet", "AlexNet", "VGG", "vgg16", "vgg19", "vgg_small",
           "GoogLeNet", "Inception", "ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet20",
           "resnet34", "resnet50", "resnet101", "resnet152", "summary", "format_summary",
           "ModelSummary", "MODELS", "IMAGE_MODELS", "build_model", "RowLSTM", "CharLM",
           "sample_text"]
