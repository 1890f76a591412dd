"""The trivial baseline every learned model must beat: predict the training median per level.

``constant`` holds a buffer ``median`` (one value per level in ``spec.levels``, default (1, 2, 3)),
saved in checkpoints like any weight. ``fit(labels)`` sets it from an (N, 3) label array (columns
JND1..JND3; NaNs, e.g. missing levels, are ignored). ``forward`` broadcasts it to the batch.
Before ``fit`` the median is NaN, so an unfitted predictor cannot pass silently as a real one.
No trainable parameters; ``spec.loss_weights`` is empty.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from ..errors import JNDError
from .base import JNDModel, ModelSpec
from .convention import MTJND_CONVENTION
from .registry import register_model
from .spec import LEVELS, ModelEntry


class ConstantPredictor(JNDModel):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.register_buffer("median", torch.full((len(spec.levels),), float("nan")))

    @property
    def is_fitted(self) -> bool:
        return bool(torch.isfinite(self.median).all())

    def fit(self, labels) -> "ConstantPredictor":
        """``labels``: (N, 3) array/tensor, column k-1 = JND level k (or (N,) for one level)."""
        a = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        a = a.astype(np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] == 0:
            raise JNDError(f"constant predictor: labels must be (N, 3) with N > 0, got shape {a.shape}")
        if a.shape[1] == len(self.spec.levels):
            cols = a
        elif a.shape[1] >= max(self.spec.levels):
            cols = a[:, [lv - 1 for lv in self.spec.levels]]
        else:
            raise JNDError(f"constant predictor: labels have {a.shape[1]} columns, levels {self.spec.levels} need more")
        with np.errstate(all="ignore"):
            med = np.nanmedian(cols, axis=0) if np.isfinite(cols).any(axis=0).all() else None
        if med is None:
            raise JNDError("constant predictor: a level has no finite label to take a median of")
        with torch.no_grad():
            self.median.copy_(torch.as_tensor(med, dtype=self.median.dtype))
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        jnd = self.median.to(dtype=x.dtype if x.is_floating_point() else torch.float32)
        return {"jnd": jnd.unsqueeze(0).expand(x.shape[0], -1).clone()}


def _constant_parts(entry: ModelEntry, cfg: dict[str, Any], level: int | None) -> dict[str, Any]:
    levels = tuple(int(lv) for lv in cfg["levels"])
    if not levels or any(lv not in LEVELS for lv in levels):
        raise JNDError(f"constant predictor: levels must be among {LEVELS}, got {cfg['levels']!r}")
    return {"levels": levels, "cfg": cfg | {"levels": levels}}


CONSTANT = ModelEntry(
    name="constant", family="constant", description="the training median per level (the baseline to beat)",
    convention=MTJND_CONVENTION, outputs=("jnd",), levels=LEVELS, loss_weights=MappingProxyType({}),
    cfg_defaults=MappingProxyType({"levels": LEVELS}), parts=_constant_parts,
)


@register_model(CONSTANT)
def constant(spec: ModelSpec) -> ConstantPredictor:
    """``input_size`` is accepted for uniformity only (the input is never looked at)."""
    return ConstantPredictor(spec)
