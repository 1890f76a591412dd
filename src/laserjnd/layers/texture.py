"""Fixed (not learned) texture statistics of native-resolution tiles, the masking cues of a frame.

Input: a canvas of ``tile`` x ``tile`` tiles (``data.preprocess.Geometry`` mode ``tiles``), RGB in
[0, 1]. Each tile is measured on its own (no filter crosses a tile border); the per-tile numbers
are then pooled over the frame. All statistics are of the BT.601 luma on the 0..255 scale except
colourfulness; scale-like ones are log1p-compressed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TILE_STATS = ("grad_mean", "grad_std", "flat_pixels", "band0", "band1", "band2", "band3",
              "block_contrast", "flat_blocks", "luma_mean", "luma_std", "colourfulness")
# Pooled over the tiles: the mean of every statistic, and how the busiest and flattest tiles differ.
SPREAD_STATS = ("grad_mean", "block_contrast")
FEATURE_NAMES = tuple(f"mean_{s}" for s in TILE_STATS) + tuple(
    f"{how}_{s}" for s in SPREAD_STATS for how in ("min", "max", "std"))

_LUMA = (0.299, 0.587, 0.114)
FLAT_GRADIENT = 4.0  # Sobel magnitude below which a pixel counts as flat (0..255 scale)
FLAT_BLOCK = 2.0  # 8x8 block standard deviation below which a block counts as flat
BANDS = 4


def to_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    """(B, C, R*t, K*t) -> (B, R*K, C, t, t)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // tile, tile, w // tile, tile)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // tile) * (w // tile), c, tile, tile)


def _sobel_kernel(device, dtype) -> torch.Tensor:
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=device, dtype=dtype)
    return torch.stack([k, k.t()])[:, None]


def tile_statistics(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, t, t) RGB in [0, 1] -> (N, len(TILE_STATS))."""
    r, g, b = (rgb[:, i:i + 1] * 255.0 for i in range(3))
    y = _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b
    grad = F.conv2d(y, _sobel_kernel(y.device, y.dtype)).pow(2).sum(1).sqrt()  # valid: no border
    stats = [grad.mean((1, 2)).log1p(), grad.std((1, 2)).log1p(), (grad < FLAT_GRADIENT).float().mean((1, 2))]
    level = y
    for _ in range(BANDS):  # Laplacian pyramid: detail lost by one octave of low-pass
        low = F.avg_pool2d(level, 2)
        band = level - F.interpolate(low, scale_factor=2, mode="nearest")
        stats.append(band.abs().mean((1, 2, 3)).log1p())
        level = low
    mean8, sq8 = F.avg_pool2d(y, 8), F.avg_pool2d(y * y, 8)
    block_std = (sq8 - mean8 * mean8).clamp_min(0).sqrt()
    stats += [block_std.mean((1, 2, 3)).log1p(), (block_std < FLAT_BLOCK).float().mean((1, 2, 3))]
    stats += [y.mean((1, 2, 3)) / 255.0, y.std((1, 2, 3)).log1p()]
    rg, yb = r - g, 0.5 * (r + g) - b
    colour = (rg.std((1, 2, 3)).pow(2) + yb.std((1, 2, 3)).pow(2)).sqrt() + 0.3 * (
        rg.mean((1, 2, 3)).pow(2) + yb.mean((1, 2, 3)).pow(2)).sqrt()
    stats.append(colour.log1p())
    return torch.stack(stats, dim=1)


class TextureStatistics(nn.Module):
    """(B, 3, H, W) tiled canvas, RGB in [0, 1] -> (B, len(FEATURE_NAMES)) frame features."""

    def __init__(self, tile: int):
        super().__init__()
        self.tile = int(tile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tiles = to_tiles(x.float(), self.tile)
        b, n = tiles.shape[:2]
        per_tile = tile_statistics(tiles.reshape(b * n, *tiles.shape[2:])).reshape(b, n, len(TILE_STATS))
        pooled = [per_tile.mean(1)]
        for name in SPREAD_STATS:
            v = per_tile[:, :, TILE_STATS.index(name)]
            spread = v.std(1, unbiased=False) if n > 1 else torch.zeros_like(v[:, 0])
            pooled.append(torch.stack([v.amin(1), v.amax(1), spread], dim=1))
        return torch.cat(pooled, dim=1)
