"""The one path from a decoded frame to a model input, shared by training, ``test`` and ``predict``.

A :class:`Geometry` says how an RGB uint8 frame of any size becomes the (3, H, W) float tensor in
[0, 1] a model reads:

- ``resize``: the whole frame resized (not cropped) to (H, W), like the originals; area
  interpolation when shrinking, bilinear when enlarging. Aspect ratio and fine texture are not kept.
- ``tiles``: native-resolution tiles of ``tile`` x ``tile`` pixels, taken on an evenly spaced grid
  that spans the whole frame, laid side by side into the (H, W) canvas. No pixel is resampled, so
  texture reaches the model at the scale the encoder sees it, whatever the frame size; a frame
  whose side is shorter than a tile is first enlarged to that side (the only resampling).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

GEOMETRIES = ("resize", "tiles")


@dataclass(frozen=True)
class Geometry:
    size: tuple[int, int]  # (H, W) of the model input
    mode: str = "resize"
    tile: int = 0  # tiles: tile side in pixels; H and W are multiples of it

    def __post_init__(self):
        if self.mode not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {', '.join(GEOMETRIES)}, got {self.mode!r}")
        if self.mode == "tiles" and (self.tile < 1 or self.size[0] % self.tile or self.size[1] % self.tile):
            raise ValueError(f"tiles geometry: input size {self.size} must be a multiple of the tile side {self.tile}")

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 (h, w, 3) -> RGB uint8 (H, W, 3)."""
        return resize_rgb(rgb, self.size) if self.mode == "resize" else tile_mosaic(rgb, self.size, self.tile)

    def to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """RGB uint8 (h, w, 3) -> canonical (3, H, W) float32 in [0, 1]."""
        return to_tensor(self.apply(rgb))

    def to_batch(self, frames) -> torch.Tensor:
        """RGB uint8 frames -> canonical (B, 3, H, W) float32 in [0, 1], the values of stacked
        ``to_tensor`` in channels_last memory (what the inference engine runs on: no transposing copies)."""
        pixels = torch.from_numpy(np.stack([self.apply(f) for f in frames]))  # (B, H, W, 3) uint8
        return pixels.permute(0, 3, 1, 2).float().div_(255.0)


def as_geometry(size_or_geometry) -> Geometry:
    """A Geometry, or an (H, W) size meaning the whole frame resized."""
    if isinstance(size_or_geometry, Geometry):
        return size_or_geometry
    h, w = (int(v) for v in size_or_geometry)
    return Geometry((h, w))


def resize_rgb(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (not crop) to (H, W); area interpolation when shrinking, bilinear when enlarging."""
    h, w = size
    if frame.shape[:2] == (h, w):
        return frame
    interp = cv2.INTER_AREA if h <= frame.shape[0] and w <= frame.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(frame, (w, h), interpolation=interp)


def tile_origins(length: int, count: int, tile: int) -> list[int]:
    """``count`` tile starts evenly spread over ``length`` pixels (first at 0, last ending at the edge)."""
    if count == 1:
        return [(length - tile) // 2]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_mosaic(frame: np.ndarray, size: tuple[int, int], tile: int) -> np.ndarray:
    """Native-resolution tiles on an evenly spaced grid over the frame, laid out as an (H, W) canvas."""
    h, w = frame.shape[:2]
    if min(h, w) < tile:  # too small for one tile: enlarge just enough
        scale = tile / min(h, w)
        frame = resize_rgb(frame, (max(tile, round(h * scale)), max(tile, round(w * scale))))
        h, w = frame.shape[:2]
    rows, cols = size[0] // tile, size[1] // tile
    ys, xs = tile_origins(h, rows, tile), tile_origins(w, cols, tile)
    out = np.empty((size[0], size[1], frame.shape[2]), frame.dtype)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            out[i * tile:(i + 1) * tile, j * tile:(j + 1) * tile] = frame[y:y + tile, x:x + tile]
    return out


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 -> (C, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1))).float().div_(255.0)
