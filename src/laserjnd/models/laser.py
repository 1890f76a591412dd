"""LASeR-JND predictors: ``lat``, ``rec``, ``e2e-lat``, ``e2e-rec``, ``mj-lat``, ``mj-rec``.

All take BGR 0..255 frames (default 352x640; sides multiples of 16) and output ``"jnd"`` (B, L)
QP, ReLU at the end. Flatten sizes follow ``input_size``; totals below are at 352x640.
Submodules are registered in the Keras layer order of the reference (weight-carrying layers;
LATBlock = conv, bn, ca.fc1, ca.fc2; RECBlock = conv, bn; Flatten is channels-last, so Keras
Dense kernels import by transposing):

- ``lat`` (level k, 9,783,225): ``encoder`` (frozen, from ae target k) -> ``bn`` (192, trainable)
  -> ``blocks`` [LATBlock 64, 128, MaxPool, LATBlock 256, 512, MaxPool] -> ``fc``
  [Flatten 5x10x512, Dense 256, Dense 128, Dense 1].
- ``rec`` (level k, 8,078,384): ``ae`` (whole AE, frozen, from ae target k) -> ``bn`` (3)
  -> ``blocks`` [RECBlock 512, 256, 128, 64, 32] -> ``fc`` [Flatten 11x20x32, Dense 512, Dense 1].
- ``e2e-lat`` (11,226,812 = lat + the decoder's 1,443,587): ``encoder``, ``decoder`` (loaded from
  ae target 0, all trainable; ``decoder.6``, the last transposed conv, is new and produces the
  JND-k frame, output ``"recon"``), then lat's ``bn`` (present, 768), ``blocks``, ``fc`` on the
  latent. The raw AE's own last deconv is not kept, so the extra over lat is exactly one decoder.
- ``e2e-rec`` (8,078,384, same as rec): ``ae`` (encoder + decoder with new ``decoder.6``, from ae
  target 0, trainable) -> rec's ``bn``, ``blocks``, ``fc`` on the produced frame.
- ``mj-lat`` (26,070,091): ``encoders`` x3 (frozen, ae targets 1,2,3) -> ``bns`` x3 -> ``branches``
  x3 LATBlock 64; the three maps multiplied -> ``trunk`` [LATBlock 128, MaxPool, LATBlock 256,
  512, MaxPool] -> ``heads`` x3 [Flatten, Dense 256, 128, 1] for JND1, 2, 3.
- ``mj-rec`` (13,886,928): ``aes`` x3 (frozen) -> ``bns`` x3 -> ``branches`` x3 RECBlock 512;
  multiplied -> ``trunk`` [RECBlock 256, 128, 64, 32] -> ``fc`` [Flatten, Dense 512] shared ->
  ``outs`` x3 Dense 1.

Frozen parts (``spec.frozen``) have ``requires_grad=False`` and stay in eval mode under ``train()``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JNDError
from ..layers.blocks import (
    DOWNSCALE,
    LATENT_CHANNELS,
    ConvAutoencoder,
    ConvDecoder,
    ConvEncoder,
    FlattenNHWC,
    LATBlock,
    RECBlock,
)
from ..layers.keras_init import glorot_init_, keras_batchnorm2d
from .autoencoder import LASER_EPOCHS, LaserModel, load_strict, sub_state_dict
from .base import ModelSpec
from .convention import LASER_CONVENTION
from .registry import register_model
from .spec import LEVELS, ModelEntry

MIN_SIDE_LAT = 64  # latent / 4 must keep >= 1 pixel
MIN_SIDE_REC = 32  # five 2x2 pools
REC_CHANNELS = (512, 256, 128, 64, 32)
LAT_DENSE = (256, 128)
REC_DENSE = 512
LAST_DECONV = "decoder.6."  # the layer E2E replaces
E2E_LOSS = MappingProxyType({"recon": 0.01, "jnd": 0.99})
REC_PARAMS = 8_078_384  # rec and e2e-rec: E2E-REC replaces one deconv by one of the same shape


def lat_flat_features(input_size: tuple[int, int]) -> int:
    h, w = (s // DOWNSCALE // 2 // 2 for s in input_size)
    return h * w * 512


def rec_flat_features(input_size: tuple[int, int]) -> int:
    h, w = (s // 32 for s in input_size)
    return h * w * REC_CHANNELS[-1]


def dense_stack(in_features: int, widths: tuple[int, ...], out: int | None = 1) -> nn.Sequential:
    """Flatten (NHWC) -> Dense+ReLU per width -> optional Dense ``out`` + ReLU (QPs are never negative)."""
    layers: list[nn.Module] = [FlattenNHWC()]
    for w in widths:
        layers += [nn.Linear(in_features, w), nn.ReLU()]
        in_features = w
    if out is not None:
        layers += [nn.Linear(in_features, out), nn.ReLU()]
    return glorot_init_(nn.Sequential(*layers))


def lat_trunk(first_in: int | None) -> nn.Sequential:
    """LAT head convs; ``first_in=None`` drops the first LATBlock 64 (MJ-LAT has it per branch)."""
    layers: list[nn.Module] = [LATBlock(first_in, 64)] if first_in is not None else []
    layers += [LATBlock(64, 128), nn.MaxPool2d(2), LATBlock(128, 256), LATBlock(256, 512), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


def rec_trunk(channels: tuple[int, ...], first_in: int) -> nn.Sequential:
    ins = (first_in,) + channels[:-1]
    return nn.Sequential(*(RECBlock(i, c) for i, c in zip(ins, channels)))


def _is_e2e(spec: ModelSpec) -> bool:
    return "recon" in spec.outputs


class LATModel(LaserModel):
    """LAT (frozen AE_k encoder) or, for ``e2e-lat``, E2E-LAT (trainable raw AE + new last deconv)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.e2e = _is_e2e(spec)
        self.encoder = ConvEncoder()
        if self.e2e:
            self.decoder = ConvDecoder()
        self.bn = keras_batchnorm2d(LATENT_CHANNELS)
        self.blocks = lat_trunk(LATENT_CHANNELS)
        self.fc = dense_stack(lat_flat_features(spec.input_size), LAT_DENSE)
        self._freeze(*spec.frozen)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        out = {"jnd": self.fc(self.blocks(self.bn(z)))}
        if self.e2e and self.wants("recon"):
            out["recon"] = self.decoder(z)
        return out

    def load_prerequisite(self, slot: str, state_dict: dict[str, torch.Tensor]) -> None:
        if slot != "ae":
            raise JNDError(f"{self.spec.name} has no prerequisite slot {slot!r} (only 'ae')")
        load_strict(self.encoder, sub_state_dict(state_dict, "encoder."), slot)
        if self.e2e:  # all but the replaced last transposed conv
            load_strict(self.decoder, sub_state_dict(state_dict, "decoder."), slot, skip=(LAST_DECONV[len("decoder.") :],))


class RECModel(LaserModel):
    """REC (frozen whole AE_k) or, for ``e2e-rec``, E2E-REC (trainable raw AE + new last deconv)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.e2e = _is_e2e(spec)
        self.ae = ConvAutoencoder()
        self.bn = keras_batchnorm2d(3)
        self.blocks = rec_trunk(REC_CHANNELS, 3)
        self.fc = dense_stack(rec_flat_features(spec.input_size), (REC_DENSE,))
        self._freeze(*spec.frozen)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        frame = self.ae(x)
        out = {"jnd": self.fc(self.blocks(self.bn(frame)))}
        if self.e2e:
            out["recon"] = frame
        return out

    def load_prerequisite(self, slot: str, state_dict: dict[str, torch.Tensor]) -> None:
        if slot != "ae":
            raise JNDError(f"{self.spec.name} has no prerequisite slot {slot!r} (only 'ae')")
        load_strict(self.ae, state_dict, slot, skip=(LAST_DECONV,) if self.e2e else ())


MJ_SLOTS = ("ae1", "ae2", "ae3")


def _mj_slot_index(model: LaserModel, slot: str) -> int:
    if slot not in MJ_SLOTS:
        raise JNDError(f"{model.spec.name} has no prerequisite slot {slot!r} (choose {', '.join(MJ_SLOTS)})")
    return MJ_SLOTS.index(slot)


class MJLATModel(LaserModel):
    """MJ-LAT: three frozen AE_k encoders, gated by element-wise product, shared trunk, three Dense heads."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.encoders = nn.ModuleList(ConvEncoder() for _ in range(3))
        self.bns = nn.ModuleList(keras_batchnorm2d(LATENT_CHANNELS) for _ in range(3))
        self.branches = nn.ModuleList(LATBlock(LATENT_CHANNELS, 64) for _ in range(3))
        self.trunk = lat_trunk(None)
        flat = lat_flat_features(spec.input_size)
        self.heads = nn.ModuleList(dense_stack(flat, LAT_DENSE) for _ in range(3))
        self._freeze(*spec.frozen)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = None
        for enc, bn, branch in zip(self.encoders, self.bns, self.branches):
            b = branch(bn(enc(x)))
            f = b if f is None else f * b
        f = self.trunk(f)
        return {"jnd": torch.cat([h(f) for h in self.heads], dim=1)}

    def load_prerequisite(self, slot: str, state_dict: dict[str, torch.Tensor]) -> None:
        i = _mj_slot_index(self, slot)
        load_strict(self.encoders[i], sub_state_dict(state_dict, "encoder."), slot)


class MJRECModel(LaserModel):
    """MJ-REC: three frozen AE_k, gated by product, shared RECBlocks and Dense 512, three Dense 1 outputs."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.aes = nn.ModuleList(ConvAutoencoder() for _ in range(3))
        self.bns = nn.ModuleList(keras_batchnorm2d(3) for _ in range(3))
        self.branches = nn.ModuleList(RECBlock(3, REC_CHANNELS[0]) for _ in range(3))
        self.trunk = rec_trunk(REC_CHANNELS[1:], REC_CHANNELS[0])
        self.fc = dense_stack(rec_flat_features(spec.input_size), (REC_DENSE,), out=None)
        self.outs = nn.ModuleList(glorot_init_(nn.Linear(REC_DENSE, 1)) for _ in range(3))
        self._freeze(*spec.frozen)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = None
        for ae, bn, branch in zip(self.aes, self.bns, self.branches):
            b = branch(bn(ae(x)))
            f = b if f is None else f * b
        h = self.fc(self.trunk(f))
        return {"jnd": F.relu(torch.cat([o(h) for o in self.outs], dim=1))}

    def load_prerequisite(self, slot: str, state_dict: dict[str, torch.Tensor]) -> None:
        load_strict(self.aes[_mj_slot_index(self, slot)], state_dict, slot)


# ------------------------------------------------------------------ spec table


def _single_level_parts(frozen: tuple[str, ...]):
    """LAT/REC read the frozen AE_k of their level; E2E variants start from the raw AE and produce the JND-k frame."""

    def parts(entry: ModelEntry, cfg: dict[str, Any], level: int | None) -> dict[str, Any]:
        if "recon" in entry.outputs:
            return {"requires": {"ae": ("ae", {"target": 0})}, "recon_target": level}
        return {"requires": {"ae": ("ae", {"target": level})}, "frozen": frozen}

    return parts


def _multi_level_parts(frozen: str):
    def parts(entry: ModelEntry, cfg: dict[str, Any], level: int | None) -> dict[str, Any]:
        return {"requires": {s: ("ae", {"target": k}) for k, s in zip(LEVELS, MJ_SLOTS)}, "frozen": (frozen,)}

    return parts


def _entry(name: str, description: str, published: int, min_side: int, parts, single: bool = True,
           e2e: bool = False) -> ModelEntry:
    return ModelEntry(
        name=name, family="laser", description=description, convention=LASER_CONVENTION,
        outputs=("recon", "jnd") if e2e else ("jnd",), levels=LEVELS, single_level=single,
        loss_weights=E2E_LOSS if e2e else MappingProxyType({"jnd": 1.0}), published_params=published,
        default_epochs=LASER_EPOCHS, min_side=min_side, size_multiple=DOWNSCALE, parts=parts,
    )


LAT = _entry("lat", "JND head on the frozen latent of AE_k", 9_783_225, MIN_SIDE_LAT, _single_level_parts(("encoder",)))
REC = _entry("rec", "JND head on the frozen reconstruction of AE_k", REC_PARAMS, MIN_SIDE_REC, _single_level_parts(("ae",)))
E2E_LAT = _entry("e2e-lat", "LAT fine-tuned end to end from the raw AE, producing the JND-k frame", 11_226_812,
                 MIN_SIDE_LAT, _single_level_parts(()), e2e=True)
E2E_REC = _entry("e2e-rec", "REC fine-tuned end to end from the raw AE, producing the JND-k frame", REC_PARAMS,
                 MIN_SIDE_REC, _single_level_parts(()), e2e=True)
MJ_LAT = _entry("mj-lat", "three JND levels from the latents of AE_1..3", 26_070_091, MIN_SIDE_LAT,
                _multi_level_parts("encoders"), single=False)
MJ_REC = _entry("mj-rec", "three JND levels from the reconstructions of AE_1..3", 13_886_928, MIN_SIDE_REC,
                _multi_level_parts("aes"), single=False)


@register_model(LAT)
def lat(spec: ModelSpec) -> LATModel:
    return LATModel(spec)


@register_model(E2E_LAT)
def e2e_lat(spec: ModelSpec) -> LATModel:
    return LATModel(spec)


@register_model(REC)
def rec(spec: ModelSpec) -> RECModel:
    return RECModel(spec)


@register_model(E2E_REC)
def e2e_rec(spec: ModelSpec) -> RECModel:
    return RECModel(spec)


@register_model(MJ_LAT)
def mj_lat(spec: ModelSpec) -> MJLATModel:
    return MJLATModel(spec)


@register_model(MJ_REC)
def mj_rec(spec: ModelSpec) -> MJRECModel:
    return MJRECModel(spec)
