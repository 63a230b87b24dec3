"""VGG (Simonyan & Zisserman 2015): stacks of 3x3 convolutions (padding 1) and 2x2 max pooling.

Two 3x3 convolutions see a 5x5 region and three see 7x7, with fewer parameters and more
nonlinearities than one large filter. Configurations "D" (VGG-16, 138,357,544 parameters at
224x224 / 1000 classes) and "E" (VGG-19, 143,667,240) use torchvision's names, so its exported
weights load; ``batch_norm=True`` gives the vgg16_bn / vgg19_bn layouts.

x: (N, 3, H, W), H and W multiples of 32 are natural -> scores (N, num_classes).
"""
from __future__ import annotations

from deepbasic import init, nn

CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_features(config, in_channels: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part: a channel count is conv3x3(pad 1) [+ BatchNorm2d] + ReLU, "M" a
    2x2 stride-2 max pool."""
    layers = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        in_channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` (the conv stacks), ``avgpool`` to ``pool_size`` and a three-layer
    ``classifier`` of width ``hidden`` (4096 in the paper). Small-input variants shrink
    ``pool_size`` to 1 and ``hidden`` (see :func:`vgg_small`)."""

    def __init__(self, config="D", num_classes: int = 1000, in_channels: int = 3,
                 batch_norm: bool = False, dropout: float = 0.5, hidden: int = 4096,
                 pool_size: int = 7):
        super().__init__()
        if isinstance(config, str):
            if config not in CONFIGS:
                raise ValueError(f"VGG: unknown configuration {config!r}, expected one of "
                                 f"{', '.join(CONFIGS)} or a list of channel counts and 'M'")
            config = CONFIGS[config]
        channels = [c for c in config if c != "M"][-1]
        self.features = make_features(config, in_channels, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0.0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.reshape(x.shape[0], -1))


def vgg16(num_classes: int = 1000, **kwargs) -> VGG:
    return VGG("D", num_classes, **kwargs)


def vgg19(num_classes: int = 1000, **kwargs) -> VGG:
    return VGG("E", num_classes, **kwargs)


def vgg_small(num_classes: int = 10, in_channels: int = 1, **kwargs) -> VGG:
    """A VGG for 28x28 / 32x32 inputs: 32-32-M-64-64-M-128-128-M with batch norm, global average
    pooling and a 256-wide classifier (about 0.4M parameters)."""
    kwargs.setdefault("batch_norm", True)
    kwargs.setdefault("hidden", 256)
    kwargs.setdefault("pool_size", 1)
    return VGG([32, 32, "M", 64, 64, "M", 128, 128, "M"], num_classes, in_channels, **kwargs)
