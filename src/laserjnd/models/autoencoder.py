"""LASeR-JND reconstruction autoencoder (``ae``) and helpers shared by the LASeR family.

``ae`` (cfg ``target`` 0..3): maps a raw frame (BGR, 0..255) to its JND-``target``-quality frame
(``target=0``: the raw frame itself). MSE loss. 2,887,363 params (encoder 1,443,776 + decoder
1,443,587), independent of input size. Layer order (= Keras order, weight-carrying only):
``encoder.0, .2, .4, .6`` (Conv 5x5 s2: 3->128->128->128->192), ``decoder.0, .2, .4, .6``
(ConvTranspose 5x5 s2: 192->128->128->128->3). Input sides must be multiples of 16 so the
reconstruction has the input's size (352x640 is).
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable

import torch
from torch import nn

from ..errors import JNDError
from ..layers.blocks import DOWNSCALE, ConvDecoder, ConvEncoder
from .base import JNDModel, ModelSpec
from .convention import LASER_CONVENTION, InputConvention
from .registry import register_model

PUBLISHED_SIZE = LASER_CONVENTION.input_size


def laser_convention(input_size: Iterable[int] | None) -> InputConvention:
    return InputConvention("bgr", 255.0, check_input_size(input_size, 16))


def check_input_size(input_size: Iterable[int] | None, min_side: int) -> tuple[int, int]:
    """(H, W) as ints; sides must be multiples of 16 (four stride-2 stages) and >= ``min_side``."""
    if input_size is None:
        return PUBLISHED_SIZE
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise JNDError(f"input_size must be (H, W), got {input_size!r}") from None
    if h % DOWNSCALE or w % DOWNSCALE or min(h, w) < min_side:
        raise JNDError(f"input_size {h}x{w}: LASeR-JND models need sides that are multiples of 16 and >= {min_side}")
    return h, w


def resolve_level(level: int | None, jnd_column: int | None) -> int:
    """JND level 1..3; ``jnd_column`` 0..2 (MTJND's name) is accepted as an alias."""
    if level is None and jnd_column is None:
        raise JNDError("this model needs cfg 'level' (1..3) or 'jnd_column' (0..2)")
    if jnd_column is not None:
        from_col = int(jnd_column) + 1
        if level is not None and int(level) != from_col:
            raise JNDError(f"level={level} and jnd_column={jnd_column} disagree")
        level = from_col
    level = int(level)
    if level not in (1, 2, 3):
        raise JNDError(f"level must be 1, 2 or 3, got {level}")
    return level


def warn_unused(name: str, cfg: dict[str, Any]) -> None:
    # Unknown keys are tolerated (callers may pass shared configs) but not silently.
    if cfg:
        warnings.warn(f"model {name!r} ignores cfg keys: {', '.join(sorted(cfg))}", stacklevel=3)


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


class LaserModel(JNDModel):
    """Base of the family: frozen submodules (``_frozen`` names) keep eval mode and get no gradient."""

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
    def __init__(self, target: int = 0, input_size=PUBLISHED_SIZE):
        super().__init__()
        if int(target) not in (0, 1, 2, 3):
            raise JNDError(f"ae target must be 0 (raw frame) or a JND level 1..3, got {target}")
        self.target = self.recon_target = int(target)
        self.encoder = ConvEncoder()
        self.decoder = ConvDecoder()
        self.spec = ModelSpec(
            name="ae",
            family="laser",
            levels=(),
            convention=laser_convention(input_size),
            outputs=("recon",),
            loss_weights={"recon": 1.0},
            cfg={"target": self.target},
            published_params=2_887_363,
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"recon": self.decoder(self.encoder(x))}


@register_model("ae")
def ae(target: int = 0, input_size=PUBLISHED_SIZE, **cfg) -> ReconAutoencoder:
    warn_unused("ae", cfg)
    return ReconAutoencoder(target=target, input_size=input_size)
