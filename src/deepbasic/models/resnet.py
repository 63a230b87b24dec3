"""ResNet (He, Zhang, Ren & Sun 2016): residual blocks y = relu(F(x) + shortcut(x)).

The identity shortcut lets the gradient reach early layers unchanged (dL/dx = dL/dy (dF/dx + 1)),
which is what makes 50 or 152 layers trainable. Two block types:

- ``BasicBlock`` (ResNet-18/34, and the small ResNet-20): two 3x3 convolutions.
- ``Bottleneck`` (ResNet-50/101/152): 1x1 reduce, 3x3 (carrying the stride, as torchvision's
  "v1.5"), 1x1 expand by 4.

Where the shape changes (stride 2 or more channels) the shortcut is a 1x1 convolution + batch norm
(``downsample``). Names follow torchvision (``layer1.0.conv1.weight``, ``fc.bias``), so its exported
weights load; parameter counts at 224x224 / 1000 classes: ResNet-18 11,689,512, ResNet-34
21,797,672, ResNet-50 25,557,032, ResNet-101 44,549,160, ResNet-152 60,192,808.

x: (N, 3, H, W) -> scores (N, num_classes).
"""
from __future__ import annotations

from deepbasic import init, nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut, then ReLU.
    x: (N, C_in, H, W) -> (N, planes, H/stride, W/stride)."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (planes) -> 3x3 (planes, stride) -> 1x1 (4 planes), BN after each, ReLU between, plus
    the shortcut. x: (N, C_in, H, W) -> (N, 4 planes, H/stride, W/stride)."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """The ImageNet ResNet: 7x7/2 conv, 3x3/2 max pool, four stages of residual blocks (64, 128,
    256, 512 planes; stages 2-4 halve the resolution), global average pooling, one linear layer.

    ``small_input=True`` replaces the stem by one 3x3 stride-1 convolution without max pooling,
    for 28x28 / 32x32 images.
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3,
                 widths=(64, 128, 256, 512), small_input: bool = False,
                 zero_init_residual: bool = False):
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"ResNet: {len(layers)} stage depths for {len(widths)} widths")
        self.in_planes = widths[0]
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, padding=1)
        for i, (planes, blocks) in enumerate(zip(widths, layers)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, planes, blocks,
                                                            stride=1 if i == 0 else 2))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:  # each block starts as the identity
            for m in self.modules():
                last = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else (
                    getattr(m, "bn2", None) if isinstance(m, BasicBlock) else None)
                if last is not None:
                    init.zeros_(last.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.in_planes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.avgpool(x)
        return self.fc(x.reshape(x.shape[0], -1))


def resnet18(num_classes: int = 1000, **kw) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, **kw)


def resnet34(num_classes: int = 1000, **kw) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, **kw)


def resnet50(num_classes: int = 1000, **kw) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, **kw)


def resnet101(num_classes: int = 1000, **kw) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, **kw)


def resnet152(num_classes: int = 1000, **kw) -> ResNet:
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, **kw)


def resnet20(num_classes: int = 10, in_channels: int = 3, **kw) -> ResNet:
    """The CIFAR ResNet-20 of the paper (section 4.2): a 3x3 stem with 16 channels, three stages of
    three basic blocks (16, 32, 64 channels, 32x32 -> 16x16 -> 8x8), global pooling, one linear
    layer; 6n+2 = 20 weighted layers. Shortcuts that change shape use 1x1 projections (the paper's
    option B), about 0.27M parameters."""
    return ResNet(BasicBlock, [3, 3, 3], num_classes, in_channels, widths=(16, 32, 64),
                  small_input=True, **kw)
