"""Small convolutional networks for 28x28 / 32x32 images.

``ThreeLayerConvNet`` is CS231n's first ConvNet: conv - relu - 2x2 max pool - affine - relu -
affine. ``ConvNet`` is the chapter's workhorse: a few blocks of 3x3 convolution -> batch norm ->
ReLU -> 2x2 max pool, then dropout and one linear layer; with the default two blocks (32 and 64
filters) it has about 50K parameters on 1-channel 28x28 input.
"""
from __future__ import annotations

from deepbasic import init, nn


def _spatial_after_pools(size: int, pools: int) -> int:
    for _ in range(pools):
        size //= 2
    return size


class ThreeLayerConvNet(nn.Module):
    """x: (N, C, H, W) -> conv (filters, filter_size, 'same' padding) -> ReLU -> 2x2 max pool ->
    Linear(filters * H/2 * W/2, hidden) -> ReLU -> Linear(hidden, num_classes)."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, filters: int = 32,
                 filter_size: int = 7, hidden: int = 100):
        super().__init__()
        if filter_size % 2 != 1:
            raise ValueError(f"ThreeLayerConvNet: filter_size must be odd (to keep H and W), "
                             f"got {filter_size}")
        c, h, w = input_shape
        self.conv = nn.Conv2d(c, filters, filter_size, padding=filter_size // 2)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(filters * (h // 2) * (w // 2), hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.pool(self.relu(self.conv(x)))
        x = self.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc2(x)


class ConvNet(nn.Module):
    """[conv3x3 (pad 1) -> BatchNorm2d -> ReLU] * convs_per_block -> MaxPool 2x2, once per entry
    of ``channels``; then dropout and Linear(channels[-1] * (H/2^k) * (W/2^k), num_classes)
    (``hidden`` inserts one more ReLU layer of that width).

    x: (N, C, H, W) -> scores (N, num_classes). He initialization for the convolutions.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, channels=(32, 64),
                 convs_per_block: int = 1, batch_norm: bool = True, dropout: float = 0.25,
                 hidden: int | None = None):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"ConvNet: input_shape must be (C, H, W), got {tuple(input_shape)}")
        c, h, w = input_shape
        if min(h, w) < 2 ** len(channels):
            raise ValueError(f"ConvNet: {len(channels)} pooling stages need H, W >= "
                             f"{2 ** len(channels)}, got {h}x{w}")
        self.input_shape, self.channels = tuple(input_shape), tuple(channels)
        layers = []
        for out in channels:
            for _ in range(convs_per_block):
                layers.append(nn.Conv2d(c, out, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU())
                c = out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        flat = c * _spatial_after_pools(h, len(channels)) * _spatial_after_pools(w, len(channels))
        head = [nn.Flatten()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        if hidden:
            head += [nn.Linear(flat, hidden), nn.ReLU()]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            flat = hidden
        head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x))

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.features[0]
