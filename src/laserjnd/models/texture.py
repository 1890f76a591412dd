"""``texture``: our content-aware default model (not from the papers).

Why this design: x264's JND QP is set by how much texture masks the coding error, at the pixel
scale the encoder works on. Squashing a whole frame to a small input erases exactly that, and a
CNN trained on a few hundred proxy-labelled photos learnt less than simple texture statistics (see
``benchmarks/DEFAULT_MODEL.md``). So:

- input: a 512x512 canvas of 64 native-resolution 64x64 tiles spread evenly over the frame
  (``Geometry`` mode ``tiles``: nothing resampled, any frame size, any aspect ratio);
- ``features``: fixed texture statistics, filtered within each tile and pooled over all of them
  (Sobel gradient mean and spread, Laplacian variance, 8x8 block contrast, colourfulness, entropy,
  Gaussian-pyramid band energies, at native and half scale, and mean luma: ``layers.texture``,
  19 numbers);
- ``mean``/``std`` buffers: a fixed standardisation fitted on the train split;
- ``linear``: a linear read-out whose start is the ridge-regression solution on the train split
  (penalty chosen on the valid split) -- the hand-crafted baseline, inside the network;
- ``mlp``: a small residual MLP (zero at start) that training adds on top, with the linear part;
  a softplus keeps outputs positive (the identity, to 1e-2 QP, above 5), and a running maximum
  over the levels keeps them ordered (``order="increasing"``, QP: JND1 <= JND2 <= JND3;
  ``"decreasing"`` for quality-factor labels; ``"none"``). Unlike base + increments, the running
  maximum leaves the ridge start unchanged wherever the ridge already predicts the levels in order.
``fit_start(train, valid)`` sets the buffers and the start; the training recipe calls it (it
replaces the median output bias other models start from). Test frames never reach it.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JNDError
from ..layers.texture import FEATURE_NAMES, TextureStatistics
from .base import JNDModel, ModelSpec
from .convention import InputConvention
from .registry import register_model
from .spec import LEVELS, ModelEntry

TEXTURE_CONVENTION = InputConvention("rgb", 1.0, (512, 512), geometry_mode="tiles", tile=64)
ORDERS = ("increasing", "decreasing", "none")
RIDGE_PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)  # per standardised feature; chosen on the valid split


class TextureModel(JNDModel):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.order = spec.cfg["order"]
        if self.order not in ORDERS:
            raise JNDError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        n, hidden, k = len(FEATURE_NAMES), int(spec.cfg["hidden"]), len(spec.levels)
        self.features = TextureStatistics(spec.convention.tile)
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        self.linear = nn.Linear(n, k)
        nn.init.zeros_(self.linear.weight)  # until fitted, a constant
        self.mlp = nn.Sequential(nn.Linear(n, hidden), nn.GELU(), nn.Linear(hidden, k))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        return (self.features(x) - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.standardised(x)
        v = F.softplus(self.linear(z) + self.mlp(z))  # labels are never negative; exact above ~5
        return {"jnd": ordered(v, self.order)}

    def init_output_bias(self, values) -> None:
        with torch.no_grad():
            self.linear.bias.copy_(torch.as_tensor([float(v) for v in values]))

    @torch.no_grad()
    def frame_features(self, ds) -> np.ndarray:
        """Raw (unstandardised) features of every frame of a dataset, in order."""
        loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=False)
        conv = self.spec.convention
        return np.concatenate([self.features(conv.to_model(b["frame"])).double().numpy() for b in loader])

    @torch.no_grad()
    def fit_start(self, train_ds, valid_ds) -> dict[str, float]:
        """Standardisation from the train split; ridge start fitted on train, penalty chosen on valid."""
        cols = [k - 1 for k in self.spec.levels]
        x_tr, y_tr = self.frame_features(train_ds), np.asarray(train_ds.labels, np.float64)[:, cols]
        x_va, y_va = self.frame_features(valid_ds), np.asarray(valid_ds.labels, np.float64)[:, cols]
        mean, std = x_tr.mean(0), x_tr.std(0)
        std[std < 1e-6] = 1.0  # a constant feature carries nothing; keep it at 0
        z_tr, z_va = (x_tr - mean) / std, (x_va - mean) / std
        best = min(((valid_mae(*ridge(z_tr, y_tr, a), z_va, y_va), a) for a in RIDGE_PENALTIES))
        w, b = ridge(z_tr, y_tr, best[1])
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))
        self.linear.weight.copy_(torch.as_tensor(w.T, dtype=torch.float32))
        self.linear.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
        return {"ridge_penalty": best[1], "ridge_valid_mae": best[0]}


def ordered(v: torch.Tensor, order: str) -> torch.Tensor:
    """(B, L) level values -> running maximum (increasing) or minimum (decreasing) along the levels."""
    if order == "none" or v.shape[1] < 2:
        return v
    pick = torch.maximum if order == "increasing" else torch.minimum  # not cummax: ONNX has no such op
    cols = [v[:, 0]]
    for k in range(1, v.shape[1]):
        cols.append(pick(cols[-1], v[:, k]))
    return torch.stack(cols, dim=1)


def ridge(z: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge on centred data: (weights (F, L), intercepts (L,))."""
    ym = y.mean(0)
    zc = z - z.mean(0)
    w = np.linalg.solve(zc.T @ zc + penalty * np.eye(z.shape[1]), zc.T @ (y - ym))
    return w, ym - z.mean(0) @ w


def valid_mae(w: np.ndarray, b: np.ndarray, z: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(z @ w + b - y).mean())


TEXTURE = ModelEntry(
    name="texture", family="texture",
    description="ours: native-resolution tile texture statistics, ridge start + residual MLP (default model)",
    convention=TEXTURE_CONVENTION, outputs=("jnd",), levels=LEVELS, default_epochs=60,
    cfg_defaults=MappingProxyType({"hidden": 32, "order": "increasing"}), min_side=64, size_multiple=64,
)


@register_model(TEXTURE)
def texture(spec: ModelSpec) -> TextureModel:
    return TextureModel(spec)
