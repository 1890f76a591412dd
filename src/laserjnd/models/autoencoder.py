"""LASeR-JND reconstruction autoencoder (``ae``) and helpers shared by the LASeR family.

``ae`` (cfg ``target`` 0..3): maps a raw frame (BGR, 0..255) to its JND-``target``-quality frame
(``target=0``: the raw frame itself). MSE loss. 2,887,363 params (encoder 1,443,776 + decoder
1,443,587), independent of input size. Layer order (= Keras order, weight-carrying only):
``encoder.0, .2, .4, .6`` (Conv 5x5 s2: 3->128->128->128->192), ``decoder.0, .2, .4, .6``
(ConvTranspose 5x5 s2: 192->128->128->128->3). Input sides must be multiples of 16 so the
reconstruction has the input's size (352x640 is). Metadata: the ``AE`` entry below.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from ..errors import JNDError
from ..layers.blocks import DOWNSCALE, ConvDecoder, ConvEncoder
from .base import JNDModel, ModelSpec
from .convention import LASER_CONVENTION
from .registry import register_model
from .spec import LEVELS, ModelEntry

LASER_EPOCHS = 300  # the paper's budget for every LASeR-JND stage
AE_TARGETS = (0,) + LEVELS  # 0: the raw frame; k: the JND-k-quality frame


def load_strict(module: nn.Module, state_dict: dict[str, torch.Tensor], slot: str, skip: tuple[str, ...] = ()) -> None:
    """Load ``state_dict`` into ``module``; every key must fit except those starting with ``skip``."""
    sd = {k: v for k, v in state_dict.items() if not k.startswith(skip)}
    missing, unexpected = module.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.startswith(skip)]
    if missing or unexpected:
        raise JNDError(f"prerequisite {slot!r} does not fit: missing {missing[:4]}, unexpected {unexpected[:4]}")


def sub_state_dict(state_dict: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys under ``prefix`` (e.g. ``"encoder."``) with the prefix removed."""
    out = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not out:
        raise JNDError(f"prerequisite state_dict has no '{prefix}*' keys (is it an 'ae' model's?)")
    return out


def ae_target(value: Any, key: str = "target") -> int:
    if int(value) not in AE_TARGETS:
        raise JNDError(f"{key} must be 0 (raw frame) or a JND level 1..3, got {value}")
    return int(value)


class LaserModel(JNDModel):
    """Base of the family: frozen submodules (``spec.frozen`` names) keep eval mode and get no gradient."""

    _frozen: tuple[str, ...] = ()

    def _freeze(self, *names: str) -> None:
        self._frozen = names
        for n in names:
            getattr(self, n).requires_grad_(False).eval()

    def train(self, mode: bool = True):
        super().train(mode)
        for n in self._frozen:
            getattr(self, n).eval()  # frozen parts never update BN stats or use dropout
        return self


class ReconAutoencoder(LaserModel):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.encoder = ConvEncoder()
        self.decoder = ConvDecoder()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"recon": self.decoder(self.encoder(x))}


def _ae_parts(entry: ModelEntry, cfg: dict[str, Any], level: int | None) -> dict[str, Any]:
    target = ae_target(cfg["target"])
    return {"recon_target": target, "cfg": cfg | {"target": target}}


AE = ModelEntry(
    name="ae", family="laser", description="reconstruction autoencoder: raw frame -> JND-target-quality frame",
    convention=LASER_CONVENTION, outputs=("recon",), levels=(), loss_weights=MappingProxyType({"recon": 1.0}),
    published_params=2_887_363, default_epochs=LASER_EPOCHS, cfg_defaults=MappingProxyType({"target": 0}),
    min_side=DOWNSCALE, size_multiple=DOWNSCALE, parts=_ae_parts,
)


@register_model(AE)
def ae(spec: ModelSpec) -> ReconAutoencoder:
    return ReconAutoencoder(spec)
