"""A fully convolutional network for semantic segmentation: a score for every class at every pixel.

    model = FCN(num_classes=7, upsample="unpool")
    scores = model(images)                      # (N, 3, H, W) -> (N, 7, H, W)
    loss = segmentation_loss(scores, masks)     # per-pixel cross-entropy, masks (N, H, W) int64

The encoder halves the resolution three times, with both kinds of downsampling:

    stage 0   (H)      conv3x3-BN-ReLU x 2, c0 channels                        -> skip 0
    stage 1   (H/2)    2x2 max pool (indices kept), conv3x3-BN-ReLU x 2, c1    -> skip 1
    stage 2   (H/4)    2x2 max pool (indices kept), conv3x3-BN-ReLU x 2, c2    -> skip 2
    stage 3   (H/8)    conv3x3 stride 2 -BN-ReLU, conv3x3-BN-ReLU, c3          (the bottleneck)

and the decoder mirrors it, each step doubling the resolution and returning to the channels of the
stage it mirrors, then (with ``skips=True``) adding that stage's features (FCN / U-Net style skip
connections; addition keeps the parameter count of the three choices alike) and refining with
conv3x3-BN-ReLU:

    up 3:  H/8 -> H/4   mirrors the stride-2 convolution
    up 2:  H/4 -> H/2   mirrors max pool 2
    up 1:  H/2 -> H     mirrors max pool 1
    head:  conv1x1 to num_classes scores

``upsample`` picks how the resolution is doubled:

* ``"transpose"``: a learned 2x2, stride-2 :class:`~deepbasic.nn.ConvTranspose2d` (FCN's
  "deconvolution"), followed by BN-ReLU.
* ``"unpool"``: SegNet: a conv3x3-BN-ReLU to the channels of the pooled map, then
  :class:`~deepbasic.nn.MaxUnpool2d` with the indices of the matching max pool, which puts each
  value back where its maximum came from (zeros elsewhere), so the decoder knows where edges were.
  A stride-2 convolution has no indices to return to, so the step mirroring it (up 3) is a
  transposed convolution here too (its adjoint); the two steps mirroring the pools unpool.
* ``"bilinear"``: fixed bilinear interpolation (:class:`~deepbasic.nn.Upsample`, scale 2), then a
  learned conv3x3-BN-ReLU.

Input sides must be divisible by 8 (:attr:`FCN.factor`): three halvings must come back to the same
size for the skip connections and the unpooling; other sizes raise a ``ValueError`` that says so.
"""
from __future__ import annotations

from deepbasic import init, nn
from deepbasic.nn import functional as F

UPSAMPLE_CHOICES = ("transpose", "unpool", "bilinear")


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """conv3x3 (padding 1, no bias) -> BatchNorm2d -> ReLU: (N, cin, H, W) -> (N, cout, H/s, W/s)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class UpStep(nn.Module):
    """Double the resolution, from ``cin`` to ``cout`` channels: (N, cin, h, w) -> (N, cout, 2h, 2w).

    mode ``"transpose"``: ConvTranspose2d(cin, cout, 2, stride 2) -> BN -> ReLU; ``"unpool"``:
    conv3x3-BN-ReLU to cout, then MaxUnpool2d(2) with the matching pool's indices (passed to
    :meth:`forward`); ``"bilinear"``: Upsample(scale 2, bilinear) -> conv3x3-BN-ReLU.
    """

    def __init__(self, cin: int, cout: int, mode: str):
        super().__init__()
        if mode not in UPSAMPLE_CHOICES:
            raise ValueError(f"UpStep: mode must be one of {', '.join(UPSAMPLE_CHOICES)}, "
                             f"got {mode!r}")
        self.mode = mode
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)
            self.post = nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU())
        elif mode == "unpool":
            self.pre = conv_bn_relu(cin, cout)
            self.up = nn.MaxUnpool2d(2, 2)
        else:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear")
            self.post = conv_bn_relu(cin, cout)

    def forward(self, x, indices=None):
        if self.mode == "transpose":
            return self.post(self.up(x))
        if self.mode == "unpool":
            if indices is None:
                raise ValueError("UpStep(unpool): needs the indices of the matching max pool")
            return self.up(self.pre(x), indices)
        return self.post(self.up(x))


class FCN(nn.Module):
    """Fully convolutional segmentation network: (N, in_channels, H, W) -> (N, num_classes, H, W).

    channels: (c0, c1, c2, c3), the widths of the four encoder stages (see the module docstring);
    upsample: ``"transpose"``, ``"unpool"`` or ``"bilinear"``; skips: add each encoder stage's
    features to the decoder step that returns to its resolution. H and W must be divisible by 8.
    """

    factor = 8

    def __init__(self, num_classes: int, in_channels: int = 3, channels=(16, 32, 64, 96),
                 upsample: str = "transpose", skips: bool = True):
        super().__init__()
        if upsample not in UPSAMPLE_CHOICES:
            raise ValueError(f"FCN: upsample must be one of {', '.join(UPSAMPLE_CHOICES)}, "
                             f"got {upsample!r}")
        channels = tuple(int(c) for c in channels)
        if len(channels) != 4 or min(channels) < 1:
            raise ValueError(f"FCN: channels must be four positive widths (c0, c1, c2, c3), "
                             f"got {channels}")
        if int(num_classes) < 2:
            raise ValueError(f"FCN: num_classes must be at least 2, got {num_classes}")
        c0, c1, c2, c3 = channels
        self.num_classes, self.in_channels = int(num_classes), int(in_channels)
        self.channels, self.upsample, self.skips = channels, upsample, bool(skips)
        self.stage0 = nn.Sequential(conv_bn_relu(in_channels, c0), conv_bn_relu(c0, c0))
        self.pool1 = nn.MaxPool2d(2, 2, return_indices=True)
        self.stage1 = nn.Sequential(conv_bn_relu(c0, c1), conv_bn_relu(c1, c1))
        self.pool2 = nn.MaxPool2d(2, 2, return_indices=True)
        self.stage2 = nn.Sequential(conv_bn_relu(c1, c2), conv_bn_relu(c2, c2))
        self.stage3 = nn.Sequential(conv_bn_relu(c2, c3, stride=2), conv_bn_relu(c3, c3))
        # the step mirroring the strided convolution has no pooling indices: transposed conv
        self.up3 = UpStep(c3, c2, "transpose" if upsample == "unpool" else upsample)
        self.dec2 = conv_bn_relu(c2, c2)
        self.up2 = UpStep(c2, c1, upsample)
        self.dec1 = conv_bn_relu(c1, c1)
        self.up1 = UpStep(c1, c0, upsample)
        self.dec0 = conv_bn_relu(c0, c0)
        self.classifier = nn.Conv2d(c0, num_classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m is not self.classifier:
                init.kaiming_normal_(m.weight, nonlinearity="relu")

    def check_input(self, x) -> None:
        """Raise a ValueError unless x is (N, in_channels, H, W) with H, W divisible by 8."""
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"FCN: expected images (N, {self.in_channels}, H, W), got shape {shape}")
        h, w = shape[2:]
        if h % self.factor or w % self.factor or h == 0 or w == 0:
            raise ValueError(f"FCN: height and width must be positive multiples of {self.factor} "
                             f"(three 2x downsamplings), got {h}x{w}")

    def _merge(self, x, skip):
        return x + skip if self.skips else x

    def forward(self, x):
        """x: (N, in_channels, H, W) -> scores (N, num_classes, H, W)."""
        self.check_input(x)
        s0 = self.stage0(x)                       # (N, c0, H, W)
        p1, i1 = self.pool1(s0)                   # (N, c0, H/2, W/2)
        s1 = self.stage1(p1)                      # (N, c1, H/2, W/2)
        p2, i2 = self.pool2(s1)                   # (N, c1, H/4, W/4)
        s2 = self.stage2(p2)                      # (N, c2, H/4, W/4)
        s3 = self.stage3(s2)                      # (N, c3, H/8, W/8)
        d2 = self.dec2(self._merge(self.up3(s3), s2))        # (N, c2, H/4, W/4)
        d1 = self.dec1(self._merge(self.up2(d2, i2), s1))    # (N, c1, H/2, W/2)
        d0 = self.dec0(self._merge(self.up1(d1, i1), s0))    # (N, c0, H, W)
        return self.classifier(d0)

    def predict(self, x):
        """The most likely class of each pixel: (N, in_channels, H, W) -> (N, H, W) int64 array
        (NumPy, or CuPy for CuPy input), computed in evaluation mode without gradients."""
        from deepbasic.tensor import Tensor, no_grad

        was_training = self.training
        self.eval()
        try:
            with no_grad():
                x = x if isinstance(x, Tensor) else Tensor._make(x)
                return self(x).data.argmax(axis=1)
        finally:
            self.train(was_training)

    def extra_repr(self) -> str:
        return f"upsample={self.upsample!r}, skips={self.skips}"


def segmentation_loss(scores, masks):
    """Mean per-pixel softmax cross-entropy: scores (N, C, H, W), masks (N, H, W) int class ids.

    loss = -1/(N H W) sum_{n,h,w} log softmax(scores[n, :, h, w])[masks[n, h, w]]; the gradient
    with respect to the scores is (softmax - onehot) / (N H W).
    """
    return F.cross_entropy(scores, masks)
