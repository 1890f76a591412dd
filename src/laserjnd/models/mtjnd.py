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

from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JNDError
from ..layers.keras_init import glorot_init_
from ..layers.vgg import MIN_INPUT_SIDE, VGG16Features, load_vgg16_weights
from .base import JNDModel, ModelSpec
from .convention import MTJND_CONVENTION
from .registry import register_model
from .spec import LEVELS, ModelEntry

MT_3LJND_PARAMS = 62_000_451  # published totals at 270x480 (Keras count)
MT_1LJND_PARAMS = 30_476_609  # the single-level body, without any VA tail (also ``direct``)
MTJND_EPOCHS = 500  # the paper's budget
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


class MTJND(JNDModel):
    """VGG16 trunk + one head per level (+ optional VA tail). ``forward`` -> {"jnd", ["saliency"]}."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        h, w = VGG16Features.output_size(spec.input_size)
        self.backbone = VGG16Features()
        self.heads = nn.ModuleList(JNDHead(h * w * 512) for _ in spec.levels)
        self.va = SaliencyTail() if "saliency" in spec.outputs else None
        if spec.cfg.get("vgg_weights") is not None:
            load_vgg16_weights(self.backbone, spec.cfg["vgg_weights"])
        self.frozen_blocks = len(spec.frozen)
        self.backbone.freeze_blocks(self.frozen_blocks)

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


# ------------------------------------------------------------------ spec table


def _mtjnd_parts(entry: ModelEntry, cfg: dict[str, Any], level: int | None) -> dict[str, Any]:
    """Frozen VGG blocks (3, the original, on given ImageNet weights; 0 on random init) and the VA weight.

    With ``vgg_weights`` the resolved ``freeze_blocks`` is recorded instead of the file: a checkpoint
    already holds the trained weights, and resumed training must freeze the same blocks.
    """
    n = cfg["freeze_blocks"] if cfg["freeze_blocks"] is not None else (3 if cfg["vgg_weights"] is not None else 0)
    if not 0 <= int(n) <= 5:
        raise JNDError(f"freeze_blocks must be 0..5, got {n}")
    parts: dict[str, Any] = {"frozen": tuple(f"backbone.block{b}" for b in range(1, int(n) + 1))}
    if cfg["vgg_weights"] is not None:
        parts["cfg"] = cfg | {"freeze_blocks": int(n)}
    if "saliency" in entry.outputs:
        parts["loss_weights"] = {"jnd": 1.0, "saliency": float(cfg["va_weight"])}
    return parts


def _entry(name: str, family: str, description: str, published: int, *, single: bool, va: bool) -> ModelEntry:
    cfg = {"vgg_weights": None, "freeze_blocks": None} | ({"va_weight": DEFAULT_VA_WEIGHT} if va else {})
    return ModelEntry(
        name=name, family=family, description=description, convention=MTJND_CONVENTION,
        outputs=("jnd", "saliency") if va else ("jnd",), levels=LEVELS, single_level=single,
        published_params=published, default_epochs=MTJND_EPOCHS, cfg_defaults=MappingProxyType(cfg),
        build_only=("vgg_weights",), min_side=MIN_INPUT_SIDE, parts=_mtjnd_parts,
    )


MT_3LJND = _entry("mt-3ljnd", "mtjnd", "VGG16 + three JND heads", MT_3LJND_PARAMS, single=False, va=False)
MT_1LJND_VA = _entry("mt-1ljnd-va", "mtjnd", "VGG16 + one JND head + visual-attention tail (ours)", MT_1LJND_PARAMS,
                     single=True, va=True)
MT_3LJND_VA = _entry("mt-3ljnd-va", "mtjnd", "VGG16 + three JND heads + visual-attention tail (ours)",
                     MT_3LJND_PARAMS, single=False, va=True)


@register_model(MT_3LJND)
def mt_3ljnd(spec: ModelSpec) -> MTJND:
    return MTJND(spec)


@register_model(MT_1LJND_VA)
def mt_1ljnd_va(spec: ModelSpec) -> MTJND:
    """One level (``level`` 1..3 or the original's ``jnd_column`` 0..2) + VA tail.

    ``published_params`` is the published body (MT_1LJND) without the unreleased tail.
    """
    return MTJND(spec)


@register_model(MT_3LJND_VA)
def mt_3ljnd_va(spec: ModelSpec) -> MTJND:
    """Three levels + VA tail. ``published_params`` = MT_3LJND's body; the tail is ours."""
    return MTJND(spec)
