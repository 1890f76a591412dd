"""MTJND (Nami et al., ICIP 2023): VGG16 trunk + per-level QP heads (+ a visual-attention tail).

Registered: ``mt-3ljnd``, ``mt-1ljnd-va``, ``mt-3ljnd-va``. The single-level model without VA is
the direct-regression baseline, registered as ``direct`` in ``direct.py``.

Published parameter totals at 270x480 (Keras count): MT_3LJND 62,000,451; MT_1LJND without the VA
tail 30,476,609; each head 15,761,921; VGG16 conv 14,714,688.

Design choices where the original is silent or unpublished:

- **Flatten order.** Heads flatten the 8x15x512 map in Keras (H, W, C) order, so the first Dense
  kernel of a Keras MTJND file maps onto ``Linear.weight`` with a plain transpose.
- **VGG init / freezing.** Random Glorot init (Keras default) unless ``vgg_weights`` names a weight
  file (see ``layers/vgg.py``). ``freeze_blocks`` defaults to 3 (the original) when weights are
  given and to 0 with random init: frozen random conv layers would be fixed random features.
- **VA tail** (never released; ours): taps VGG block 4 (last conv+ReLU before pool 4, 512 ch at
  1/8 of the input), so blocks 1-4 are shared by the attention and the JND tasks::

      Conv 1x1 512->64, ReLU            (1/8)   32,832
      ConvT 4x4 s2 p1 64->32, ReLU      (1/4)   32,800
      Conv 3x3 32->1, sigmoid           (1/4)      289
                                        total   65,921 params

  Output: (B, 1, 8*floor(H/8)/4 ..) i.e. ``2*floor(H/8) x 2*floor(W/8)`` (66x120 at 270x480).
- **VA loss**: binary cross-entropy between the map and the saliency target (a classical
  saliency map in [0,1], see ``data/saliency.py``) area-resized to the map size; BCE is the usual
  loss for soft saliency maps and keeps gradients alive where the sigmoid saturates less than MSE.
  Use :func:`saliency_loss`. Weight ``va_weight`` (default 1.0: one VA term beside each
  per-level MAE, in the 1:1:1 spirit of the original's multi-level loss).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JNDError
from ..layers.keras_init import glorot_init_
from ..layers.vgg import VGG16Features, load_vgg16_weights
from .base import JNDModel, ModelSpec, count_params
from .convention import MTJND_CONVENTION, InputConvention
from .registry import register_model

HEAD_PARAMS = 15_761_921  # Dense 256 -> 128 -> 1 on 61,440 features
DEFAULT_VA_WEIGHT = 1.0
VA_TAP = "block4"


class JNDHead(nn.Module):
    """Flatten (Keras H,W,C order) -> Dense 256 ReLU -> Dense 128 ReLU -> Dense 1 ReLU."""

    def __init__(self, in_features: int):
        super().__init__()
        self.fc1 = nn.Linear(in_features, 256)
        self.fc2 = nn.Linear(256, 128)
        self.out = nn.Linear(128, 1)
        glorot_init_(self)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = feats.permute(0, 2, 3, 1).flatten(1)  # NHWC order, as Keras' Flatten
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.relu(self.out(x))  # QP is never negative


class SaliencyTail(nn.Module):
    """Small upsampling decoder: VGG block-4 features (1/8) -> 1-channel sigmoid map (1/4)."""

    def __init__(self, in_channels: int = 512, mid: int = 64, out_mid: int = 32):
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, mid, 1)
        self.up = nn.ConvTranspose2d(mid, out_mid, 4, stride=2, padding=1)
        self.out = nn.Conv2d(out_mid, 1, 3, padding=1)
        glorot_init_(self)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.reduce(feats))
        x = F.relu(self.up(x))
        return torch.sigmoid(self.out(x))


def saliency_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE between a predicted map (B,1,h,w) in [0,1] and a target (B,1,H,W) or (B,H,W) in [0,1].

    The target is area-resized to the prediction's size (average pooling keeps it in [0,1]).
    Computed in float32 so it is safe under autocast.
    """
    if target.dim() == 3:
        target = target.unsqueeze(1)
    target = target.to(device=pred.device, dtype=torch.float32)
    if target.shape[-2:] != pred.shape[-2:]:
        target = F.interpolate(target, size=pred.shape[-2:], mode="area")
    p = pred.float().clamp(1e-6, 1 - 1e-6)
    return F.binary_cross_entropy(p, target.clamp(0, 1))


class MTJNDSpec(ModelSpec):
    """ModelSpec whose serialised cfg drops ``vgg_weights``: a checkpoint already holds the trained
    weights, so reloading must not need (or re-read) the ImageNet file. The resolved
    ``freeze_blocks`` is kept instead, so resumed training freezes the same blocks."""

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if d["cfg"].pop("vgg_weights", None) is not None:
            d["cfg"]["freeze_blocks"] = len(self.frozen)
        return d


class MTJND(JNDModel):
    """VGG16 trunk + one head per level (+ optional VA tail). ``forward`` -> {"jnd", ["saliency"]}."""

    def __init__(self, spec: ModelSpec, *, va: bool, vgg_weights: str | Path | None, freeze_blocks: int | None):
        super().__init__()
        self.spec = spec
        h, w = VGG16Features.output_size(spec.input_size)
        self.backbone = VGG16Features()
        self.heads = nn.ModuleList(JNDHead(h * w * 512) for _ in spec.levels)
        self.va = SaliencyTail() if va else None
        if vgg_weights is not None:
            load_vgg16_weights(self.backbone, vgg_weights)
        if freeze_blocks is None:
            freeze_blocks = 3 if vgg_weights is not None else 0
        self.backbone.freeze_blocks(int(freeze_blocks))
        self.frozen_blocks = int(freeze_blocks)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.va is not None:
            feats, taps = self.backbone(x, taps=(VA_TAP,))
            out["saliency"] = self.va(taps[VA_TAP])
        else:
            feats = self.backbone(x)
        out["jnd"] = torch.cat([head(feats) for head in self.heads], dim=1)
        return out

    def unpublished_parts(self) -> dict[str, nn.Module]:
        """Parts the published parameter total leaves out (the VA tail was never released)."""
        return {"va_tail": self.va} if self.va is not None else {}

    def va_tail_params(self) -> int:
        return count_params(self.va) if self.va is not None else 0


def _level_from(cfg_level: int | None, jnd_column: int | None, default: int = 1) -> int:
    if cfg_level is not None and jnd_column is not None and cfg_level != jnd_column + 1:
        raise JNDError(f"level={cfg_level} and jnd_column={jnd_column} disagree (jnd_column is level-1)")
    level = cfg_level if cfg_level is not None else (jnd_column + 1 if jnd_column is not None else default)
    if level not in (1, 2, 3):
        raise JNDError(f"JND level must be 1, 2 or 3 (jnd_column 0..2), got {level}")
    return int(level)


def build_mtjnd(
    name: str,
    family: str,
    levels: tuple[int, ...],
    *,
    va: bool,
    published: int | None,
    input_size: tuple[int, int] = MTJND_CONVENTION.input_size,
    vgg_weights: str | Path | None = None,
    freeze_blocks: int | None = None,
    va_weight: float = DEFAULT_VA_WEIGHT,
) -> MTJND:
    input_size = (int(input_size[0]), int(input_size[1]))
    loss_weights = {"jnd": 1.0}
    if va:
        loss_weights["saliency"] = float(va_weight)
    n_frozen = freeze_blocks if freeze_blocks is not None else (3 if vgg_weights is not None else 0)
    spec = MTJNDSpec(
        name=name,
        family=family,
        levels=levels,
        convention=InputConvention(MTJND_CONVENTION.channel_order, MTJND_CONVENTION.scale, input_size),
        outputs=("jnd", "saliency") if va else ("jnd",),
        loss_weights=loss_weights,
        frozen=tuple(f"backbone.block{b}" for b in range(1, int(n_frozen) + 1)),
        published_params=published,
    )
    return MTJND(spec, va=va, vgg_weights=vgg_weights, freeze_blocks=freeze_blocks)


@register_model("mt-3ljnd")
def mt_3ljnd(**cfg: Any) -> MTJND:
    return build_mtjnd("mt-3ljnd", "mtjnd", (1, 2, 3), va=False, published=62_000_451, **cfg)


@register_model("mt-1ljnd-va")
def mt_1ljnd_va(level: int | None = None, jnd_column: int | None = None, **cfg: Any) -> MTJND:
    """One level (``level`` 1..3 or the original's ``jnd_column`` 0..2) + VA tail.

    ``published_params`` is the published body (30,476,609) without the unreleased tail.
    """
    lv = _level_from(level, jnd_column)
    return build_mtjnd("mt-1ljnd-va", "mtjnd", (lv,), va=True, published=30_476_609, **cfg)


@register_model("mt-3ljnd-va")
def mt_3ljnd_va(**cfg: Any) -> MTJND:
    """Three levels + VA tail. ``published_params`` = MT_3LJND's body; the tail is ours."""
    return build_mtjnd("mt-3ljnd-va", "mtjnd", (1, 2, 3), va=True, published=62_000_451, **cfg)
