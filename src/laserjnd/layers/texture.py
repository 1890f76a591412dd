"""Fixed (not learned) texture statistics of a frame's native-resolution tiles: its masking cues.

Input: a canvas of ``tile`` x ``tile`` tiles (``data.preprocess.Geometry`` mode ``tiles``), RGB in
[0, 1]. Filters never cross a tile border (each tile is a separate piece of the frame); the
statistics are then pooled over every pixel of every tile, so they describe the frame as a whole,
like the classic full-frame measures (spatial information = the spread of the Sobel gradient,
Laplacian-pyramid band energies, 8x8 block contrast, entropy, colourfulness). Luma is BT.601 on the
0..255 scale; scale-like statistics are log1p-compressed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_NAMES = (
    "grad_mean", "spatial_information", "flat_pixels", "band0", "band1", "band2", "band3", "band0_var",
    "block_contrast", "flat_blocks", "luma_mean", "luma_std", "entropy", "colourfulness",
    "min_tile_grad", "max_tile_grad", "std_tile_grad",
)
_LUMA = (0.299, 0.587, 0.114)
FLAT_GRADIENT = 4.0  # Sobel magnitude below which a pixel counts as flat (0..255 scale)
FLAT_BLOCK = 2.0  # 8x8 block standard deviation below which a block counts as flat
BANDS = 4


def to_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    """(B, C, R*t, K*t) -> (B*R*K, C, t, t), tiles of one frame consecutive."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // tile, tile, w // tile, tile)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b * (h // tile) * (w // tile), c, tile, tile)


def _sobel(y: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=y.device, dtype=y.dtype)
    return F.conv2d(y, torch.stack([k, k.t()])[:, None]).pow(2).sum(1).sqrt()  # valid: no tile border


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
        self.tile = int(tile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        rgb = to_tiles(x.float() * 255.0, self.tile)
        n = rgb.shape[0] // b
        r, g, bl = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
        y = _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * bl
        frame = lambda t: t.reshape(b, -1)  # noqa: E731  (all pixels of all tiles of one frame)
        grad = _sobel(y)
        stats = [frame(grad).mean(1).log1p(), frame(grad).std(1).log1p(), (frame(grad) < FLAT_GRADIENT).float().mean(1)]
        level, band0 = y, None
        for _ in range(BANDS):  # Laplacian pyramid: the detail one octave of low-pass removes
            low = F.avg_pool2d(level, 2)
            band = level - F.interpolate(low, scale_factor=2, mode="nearest")
            band0 = band if band0 is None else band0
            stats.append(frame(band).abs().mean(1).log1p())
            level = low
        stats.append(frame(band0).var(1).log1p())
        mean8, sq8 = F.avg_pool2d(y, 8), F.avg_pool2d(y * y, 8)
        block_std = frame((sq8 - mean8 * mean8).clamp_min(0).sqrt())
        stats += [block_std.mean(1).log1p(), (block_std < FLAT_BLOCK).float().mean(1)]
        stats += [frame(y).mean(1) / 255.0, frame(y).std(1).log1p(), _entropy(y, b)]
        rg, yb = frame(r - g), frame(0.5 * (r + g) - bl)
        colour = (rg.std(1) ** 2 + yb.std(1) ** 2).sqrt() + 0.3 * (rg.mean(1) ** 2 + yb.mean(1) ** 2).sqrt()
        stats.append(colour.log1p())
        tile_grad = grad.mean((1, 2)).log1p().reshape(b, n)
        spread = tile_grad.std(1, unbiased=False) if n > 1 else torch.zeros_like(tile_grad[:, 0])
        stats += [tile_grad.amin(1), tile_grad.amax(1), spread]
        return torch.stack(stats, dim=1)
