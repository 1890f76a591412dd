"""Building blocks of the LASeR-JND family, with Keras layer semantics.

Padding. Keras/TensorFlow ``padding="same"`` with stride 2 pads *asymmetrically*: for a 5x5
kernel on an even size it pads 1 before and 2 after. PyTorch ``padding=2`` gives the same output
size but samples the grid one pixel shifted, so Keras weights would not reproduce Keras outputs.
:class:`Conv2dSame` and :class:`ConvTranspose2dSame` compute TensorFlow's padding / cropping from
the actual input size, so imported weights give the original numbers; parameter shapes are those
of plain ``nn.Conv2d`` / ``nn.ConvTranspose2d`` (state-dict keys ``weight``, ``bias``).
3x3 stride-1 "same" convs are symmetric, so they use ``nn.Conv2d(padding=1)``.

Initialisation follows Keras defaults (``keras_init``): Glorot-uniform + zero bias for convs and
dense layers, He-normal for the channel-attention MLP, BatchNorm eps 1e-3 / momentum 0.01.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .keras_init import glorot_init_, he_normal_init_, keras_batchnorm2d

LEAKY_SLOPE = 0.05
LATENT_CHANNELS = 192
AE_CHANNELS = 128
DOWNSCALE = 16  # four stride-2 convs


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding TensorFlow uses for ``padding="same"``; the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "same" padding, computed from the input size.

    No branching on sizes, so torch.fx / export can trace it (kernel >= stride keeps the pad >= 0).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = True):
        if kernel_size < stride:
            raise ValueError("Conv2dSame needs kernel_size >= stride")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = (-(-x.shape[-2] // sh) - 1) * sh + kh - x.shape[-2]
        pw = (-(-x.shape[-1] // sw) - 1) * sw + kw - x.shape[-1]
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return super().forward(x)


class ConvTranspose2dSame(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` with TensorFlow "same" semantics: output = input * stride.

    TF defines it as the adjoint of the "same" conv on the larger size, i.e. the full transposed
    output cropped by that conv's (before, after) padding, which is always (k-s)//2 before and the
    rest after: (1, 2) for k=5, s=2. PyTorch's ``padding=2, output_padding=1`` crops (2, 1)
    instead: same size, one pixel shifted.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = True):
        if kernel_size < stride:
            raise ValueError("ConvTranspose2dSame needs kernel_size >= stride")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)
        self._crop = [(t // 2, t - t // 2) for t in (k - s for k, s in zip(self.kernel_size, self.stride))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        (top, bottom), (left, right) = self._crop
        return y[..., top : y.shape[-2] - bottom, left : y.shape[-1] - right]


class ConvEncoder(nn.Sequential):
    """AE encoder: 3 -> 128 -> 128 -> 128 -> 192, 5x5 stride 2, LeakyReLU(0.05) between; 1,443,776 params.

    Keras layer order (weights): conv 0, 2, 4, 6 (indices in this Sequential). Latent H/16 x W/16 x 192.
    """

    def __init__(self):
        c, z = AE_CHANNELS, LATENT_CHANNELS
        super().__init__(
            Conv2dSame(3, c, 5, 2), nn.LeakyReLU(LEAKY_SLOPE),
            Conv2dSame(c, c, 5, 2), nn.LeakyReLU(LEAKY_SLOPE),
            Conv2dSame(c, c, 5, 2), nn.LeakyReLU(LEAKY_SLOPE),
            Conv2dSame(c, z, 5, 2),  # linear latent
        )  # fmt: skip
        glorot_init_(self)


class ConvDecoder(nn.Sequential):
    """AE decoder, the encoder's mirror: 192 -> 128 -> 128 -> 128 -> 3 transposed 5x5 stride 2; 1,443,587 params.

    LeakyReLU(0.05) after the first three, the last (index 6) is linear. Keras order: 0, 2, 4, 6.
    """

    def __init__(self):
        c, z = AE_CHANNELS, LATENT_CHANNELS
        super().__init__(
            ConvTranspose2dSame(z, c, 5, 2), nn.LeakyReLU(LEAKY_SLOPE),
            ConvTranspose2dSame(c, c, 5, 2), nn.LeakyReLU(LEAKY_SLOPE),
            ConvTranspose2dSame(c, c, 5, 2), nn.LeakyReLU(LEAKY_SLOPE),
            ConvTranspose2dSame(c, 3, 5, 2),
        )  # fmt: skip
        glorot_init_(self)

    @property
    def last(self) -> ConvTranspose2dSame:
        return self[-1]


class ConvAutoencoder(nn.Module):
    """Encoder + decoder as a plain module (state-dict keys ``encoder.*``, ``decoder.*``, like the ``ae`` model)."""

    def __init__(self):
        super().__init__()
        self.encoder = ConvEncoder()
        self.decoder = ConvDecoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ChannelAttention(nn.Module):
    """CBAM channel attention: shared MLP c -> c/8 (ReLU) -> c over avg- and max-pooled features, summed, sigmoid.

    Keras order: ``fc1`` (Dense c/8) then ``fc2`` (Dense c), both with bias, He-normal.
    """

    def __init__(self, channels: int, ratio: int = 8):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // ratio)
        self.fc2 = nn.Linear(channels // ratio, channels)
        he_normal_init_(self)

    def _mlp(self, v: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(v)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self._mlp(x.mean(dim=(2, 3))) + self._mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(a)[:, :, None, None]


class LATBlock(nn.Module):
    """Conv 3x3 -> BatchNorm -> ReLU -> channel attention. Keras order: conv, bn, ca.fc1, ca.fc2."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.conv = glorot_init_(nn.Conv2d(in_channels, channels, 3, padding=1))
        self.bn = keras_batchnorm2d(channels)
        self.ca = ChannelAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ca(F.relu(self.bn(self.conv(x))))


class RECBlock(nn.Module):
    """Conv 3x3 -> BatchNorm -> ReLU -> MaxPool 2x2 (floor, as Keras "valid"). Keras order: conv, bn.

    Computed as pool then ReLU: the same values (max commutes with a non-decreasing function), with the
    ReLU on a quarter of the full-resolution, 512-channel activation."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.conv = glorot_init_(nn.Conv2d(in_channels, channels, 3, padding=1))
        self.bn = keras_batchnorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.max_pool2d(self.bn(self.conv(x)), 2))


class FlattenNHWC(nn.Module):
    """Flatten in Keras (channels-last) order, so a Keras Dense kernel imports by a plain transpose."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)
