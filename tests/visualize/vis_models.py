"""Small models built to know the answer, shared by the visualization tests."""
from __future__ import annotations

import numpy as np

from deepbasic import backend, nn


REGION_DEFAULT = (2, 5, 3, 6)


class RegionClassifier(nn.Module):
    """Scores from the pixels of x[:, :, r0:r1, c0:c1] only: crop -> Linear -> ReLU -> Linear.
    Every other pixel has no influence on any score."""

    def __init__(self, region=REGION_DEFAULT, channels=1, size=8, classes=4, hidden=16):
        super().__init__()
        self.input_shape = (channels, size, size)
        self.region = region
        r0, r1, c0, c1 = region
        self.fc1 = nn.Linear(channels * (r1 - r0) * (c1 - c0), hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        r0, r1, c0, c1 = self.region
        crop = x[:, :, r0:r1, c0:c1]
        return self.fc2(self.act(self.fc1(crop.reshape(crop.shape[0], -1))))


def seeded(model, seed=0):
    """``model`` in float64 with its weights drawn again from a seeded normal."""
    rng = np.random.default_rng(seed)
    model.double()
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.data.shape)
    backend.manual_seed(seed)
    return model.eval()


def mlp(sizes, activation, seed=0):
    """Flatten -> Linear -> activation -> ... -> Linear, float64, seeded."""
    layers = [nn.Flatten()]
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return seeded(nn.Sequential(*layers), seed)
