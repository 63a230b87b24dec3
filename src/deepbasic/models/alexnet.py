"""AlexNet (Krizhevsky, Sutskever & Hinton 2012), in torchvision's single-GPU layout.

Five convolutions (11x11 stride 4, 5x5, three 3x3) with overlapping 3x3 stride-2 max pooling,
then three fully connected layers with dropout. At 224x224 and 1000 classes it has 61,100,840
parameters, and its state-dict names (``features.0.weight``, ``classifier.6.bias``, ...) are
torchvision's, so weights exported from ``torchvision.models.alexnet`` load into it.

x: (N, 3, H, W) with H, W >= 63 -> scores (N, num_classes). The adaptive pooling to 6x6 lets any
input at least that large through (it is a no-op at 224x224).
"""
from __future__ import annotations

from deepbasic import nn


class AlexNet(nn.Module):
    """``lrn=True`` adds the original paper's local response normalization after the first two
    convolutions (size 5, alpha 1e-4, beta 0.75, k 2). It has no parameters, but it shifts the
    positions in ``features``, so torchvision's weights only load with ``lrn=False``."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3,
                 lrn: bool = False):
        super().__init__()

        def norm():
            return [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)] if lrn else []

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(), *norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(), *norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.reshape(x.shape[0], -1))
