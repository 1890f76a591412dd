"""``mj-lite``: our lightweight multi-JND model (not from the papers).

Idea kept from MJ-LAT: features of a reconstruction-trained AE encoder feed channel-attention
LATBlocks, and the three JND levels are learned jointly. What changes: MJ-LAT spends ~19.8M of its
26.1M params on three Flatten->Dense heads and 4.3M on three encoders. Here:

- ``encoder``: ONE AE encoder (1,443,776), loaded from ``ae`` with ``target`` = cfg ``ae_target``
  (default 0, the raw-reconstruction AE: it keeps everything about the frame, while AE_k's latent is
  specialised to one level; 1..3 also allowed). Frozen by default (``freeze_encoder=True``), like
  LAT; ``False`` fine-tunes it.
- ``bn`` (192, trainable) -> ``blocks`` [LATBlock 64, LATBlock 128, MaxPool, LATBlock 256].
- global average + global max pooling (512 values, no dependence on input size) -> ``mlp``
  [Dense 512->128 ReLU, Dense 128->3].
- Ordered outputs by construction: the lowest QP and two non-negative increments, each through
  softplus (non-negative, and unlike ReLU never a dead unit at init), cumulatively summed:
  ``order="increasing"`` (QP, default) gives JND1 <= JND2 <= JND3; ``"decreasing"`` (quality
  factor labels) reverses it; ``"none"`` predicts three independent softplus outputs.
  ``init_levels=(q1, q2, q3)`` optionally sets the output biases so the untrained model already
  predicts typical labels (with Adam at lr 1e-5 the biases alone would take very long to get there).

Parameters (Keras count): 2,014,075 at any input size, 7.7% of MJ-LAT's 26,070,091; 569,019
trainable weights with the encoder frozen. Layer order: encoder.0/2/4/6, bn, blocks.0 (conv, bn, ca.fc1, ca.fc2), blocks.1,
blocks.3, mlp.0, mlp.2. Input: BGR 0..255, sides multiples of 16, >= 32.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JNDError
from ..layers.blocks import DOWNSCALE, LATENT_CHANNELS, ConvEncoder, LATBlock
from ..layers.keras_init import glorot_init_, keras_batchnorm2d
from .autoencoder import LASER_EPOCHS, LaserModel, ae_target, load_strict, sub_state_dict
from .base import ModelSpec
from .convention import LASER_CONVENTION
from .registry import register_model
from .spec import LEVELS, ModelEntry

ORDERS = ("increasing", "decreasing", "none")
HIDDEN = 128


def _inv_softplus(y: float) -> float:
    y = max(float(y), 1e-4)
    return y + math.log(-math.expm1(-y))


class MJLiteModel(LaserModel):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.order = spec.cfg["order"]
        self.encoder = ConvEncoder()
        self.bn = keras_batchnorm2d(LATENT_CHANNELS)
        self.blocks = nn.Sequential(LATBlock(LATENT_CHANNELS, 64), LATBlock(64, 128), nn.MaxPool2d(2), LATBlock(128, 256))
        self.mlp = glorot_init_(nn.Sequential(nn.Linear(2 * 256, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 3)))
        if spec.cfg["init_levels"] is not None:
            self._init_output_bias(spec.cfg["init_levels"])
        self._freeze(*spec.frozen)

    def _raw_targets(self, levels: list[float]) -> list[float]:
        """Label values -> what each softplus output must produce (base + increments, in level order)."""
        if self.order == "none":
            return levels
        asc = levels if self.order == "increasing" else levels[::-1]
        vals = [asc[0]] + [b - a for a, b in zip(asc, asc[1:])]
        return vals if self.order == "increasing" else vals[::-1]

    def init_output_bias(self, values) -> None:
        self._init_output_bias(values)

    def _init_output_bias(self, init_levels) -> None:
        levels = [float(v) for v in init_levels]
        if len(levels) != 3:
            raise JNDError(f"init_levels needs 3 values, got {init_levels!r}")
        with torch.no_grad():
            self.mlp[-1].bias.copy_(torch.tensor([_inv_softplus(v) for v in self._raw_targets(levels)]))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.blocks(self.bn(self.encoder(x)))
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        v = F.softplus(self.mlp(pooled))
        if self.order == "increasing":  # v = [JND1, JND2-JND1, JND3-JND2]
            v = v.cumsum(dim=1)
        elif self.order == "decreasing":  # v = [JND1-JND2, JND2-JND3, JND3]
            v = v.flip(1).cumsum(dim=1).flip(1)
        return {"jnd": v}

    def load_prerequisite(self, slot: str, state_dict: dict[str, torch.Tensor]) -> None:
        if slot != "ae":
            raise JNDError(f"mj-lite has no prerequisite slot {slot!r} (only 'ae')")
        load_strict(self.encoder, sub_state_dict(state_dict, "encoder."), slot)


def _lite_parts(entry: ModelEntry, cfg: dict[str, Any], level: int | None) -> dict[str, Any]:
    target = ae_target(cfg["ae_target"], "ae_target")
    if cfg["order"] not in ORDERS:
        raise JNDError(f"order must be one of {', '.join(ORDERS)}, got {cfg['order']!r}")
    return {"requires": {"ae": ("ae", {"target": target})}, "frozen": ("encoder",) if cfg["freeze_encoder"] else ()}


MJ_LITE = ModelEntry(
    name="mj-lite", family="lite", description="ours: one AE encoder, LATBlocks, pooled MLP, ordered levels",
    convention=LASER_CONVENTION, outputs=("jnd",), levels=LEVELS, default_epochs=LASER_EPOCHS,
    cfg_defaults=MappingProxyType({"ae_target": 0, "freeze_encoder": True, "order": "increasing", "init_levels": None}),
    min_side=32, size_multiple=DOWNSCALE, parts=_lite_parts,
)


@register_model(MJ_LITE)
def mj_lite(spec: ModelSpec) -> MJLiteModel:
    return MJLiteModel(spec)
