"""Fixed (not learned) texture statistics of a frame's native-resolution tiles: its masking cues.

Input: a canvas of ``tile`` x ``tile`` tiles (``data.preprocess.Geometry`` mode ``tiles``), RGB in
[0, 1]. Filters never cross a tile border (each tile is a separate piece of the frame); the
statistics are then pooled over every pixel of every tile, so they describe the frame as a whole.
They are the classic full-frame measures: Sobel gradient mean and spread (spatial information),
Laplacian variance, 8x8 block contrast, colourfulness, luma entropy, Gaussian-pyramid band energies,
each at native scale and again at half scale (2x2 averages: the coarser texture an encoder's
larger blocks see), and mean luma. No frame-to-frame "shape" statistic (flat-area fractions, the darkest or flattest
tile): those described the collection a photo came from more than its masking, and moved the
predictions of photos from another collection (see ``docs/MODEL_CARD.md``). Luma is BT.601 on the
0..255 scale; scale-like statistics are log1p-compressed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SCALE_FEATURES = ("grad_mean", "spatial_information", "laplacian_var", "block_contrast", "colourfulness", "entropy",
                  "band1", "band2", "band3")
FEATURE_NAMES = (*SCALE_FEATURES, *(f"{n}_half" for n in SCALE_FEATURES), "luma_mean")
_LUMA = (0.299, 0.587, 0.114)
BANDS = 3
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)  # the 5-tap kernel of the Burt-Adelson Gaussian pyramid


def to_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    """(B, C, R*t, K*t) -> (B*R*K, C, t, t), tiles of one frame consecutive."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // tile, tile, w // tile, tile)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b * (h // tile) * (w // tile), c, tile, tile)


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) RGB -> (N, 1, h, w) BT.601 luma."""
    return _LUMA[0] * rgb[:, 0:1] + _LUMA[1] * rgb[:, 1:2] + _LUMA[2] * rgb[:, 2:3]


def _kernel(rows, device, dtype) -> torch.Tensor:
    return torch.tensor(rows, device=device, dtype=dtype)[None, None]


def _sobel(y: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=y.device, dtype=y.dtype)
    return F.conv2d(y, torch.stack([k, k.t()])[:, None]).pow(2).sum(1).sqrt()  # valid: no tile border


def _laplacian(y: torch.Tensor) -> torch.Tensor:
    return F.conv2d(y, _kernel([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], y.device, y.dtype))


def _blur(y: torch.Tensor) -> torch.Tensor:
    """5x5 binomial low-pass, reflected at the tile border (a tile never reads its neighbour)."""
    k = torch.tensor(_BINOMIAL, device=y.device, dtype=y.dtype) / 16.0
    y = F.pad(y, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(F.conv2d(y, k.view(1, 1, 1, 5)), k.view(1, 1, 5, 1))


def _entropy(y: torch.Tensor, frames: int) -> torch.Tensor:
    """Shannon entropy (bits) of each frame's 256-bin luma histogram."""
    levels = y.reshape(frames, -1).round().clamp(0, 255).long()
    hist = torch.zeros(frames, 256, device=y.device, dtype=y.dtype).scatter_add(1, levels, torch.ones_like(y.reshape(frames, -1)))
    p = hist / hist.sum(1, keepdim=True)
    return -(p * torch.log(p.clamp_min(1e-12))).sum(1) / math.log(2.0)  # scatter_add and log: exportable to ONNX


class TextureStatistics(nn.Module):
    """(B, 3, H, W) tiled canvas, RGB in [0, 1] -> (B, len(FEATURE_NAMES)) frame features."""

    def __init__(self, tile: int):
        super().__init__()
        if int(tile) % 16:  # half scale, then three octaves, inside one tile
            raise ValueError(f"texture statistics need a tile side divisible by 16, got {tile}")
        self.tile = int(tile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        rgb = to_tiles(x.float() * 255.0, self.tile)
        half = F.avg_pool2d(rgb, 2)  # within each tile (its side is even)
        luma_mean = _luma(rgb).reshape(b, -1).mean(1) / 255.0
        return torch.cat([scale_statistics(rgb, b), scale_statistics(half, b), luma_mean[:, None]], dim=1)


def scale_statistics(rgb: torch.Tensor, b: int) -> torch.Tensor:
    """(B*n, 3, t, t) RGB tiles on the 0..255 scale, n tiles per frame -> (B, len(SCALE_FEATURES))."""
    r, g, bl = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    y = _luma(rgb)
    frame = lambda t: t.reshape(b, -1)  # noqa: E731  (all pixels of all tiles of one frame)
    grad = frame(_sobel(y))
    mean8, sq8 = F.avg_pool2d(y, 8), F.avg_pool2d(y * y, 8)
    block_std = frame((sq8 - mean8 * mean8).clamp_min(0).sqrt())
    rg, yb = frame(r - g), frame(0.5 * (r + g) - bl)
    colour = (rg.std(1) ** 2 + yb.std(1) ** 2).sqrt() + 0.3 * (rg.mean(1) ** 2 + yb.mean(1) ** 2).sqrt()
    stats = [grad.mean(1).log1p(), grad.std(1).log1p(), frame(_laplacian(y)).var(1).log1p(),
             block_std.mean(1).log1p(), colour.log1p(), _entropy(y, b)]
    level = y
    for _ in range(BANDS):  # band-pass energy: the detail one octave of low-pass removes
        low = _blur(level)
        stats.append(frame(level - low).abs().mean(1).log1p())
        level = low[:, :, ::2, ::2]
    return torch.stack(stats, dim=1)
