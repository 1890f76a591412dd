"""Predict JND levels for images with a trained checkpoint.

Input rule: a path is read with ``laserjnd.data.media.read_image`` (gray -> replicated to RGB,
RGBA -> alpha dropped, 16-bit -> ``round(v / 257)``). A numpy array is taken as RGB (H, W[, C]) and
converted by the same rules (uint8 0..255, uint16 0..65535, float in [0, 1]). The frame is then
shaped to the model input by the same path training uses (``data.preprocess.Geometry``: resized,
or native-resolution tiles), scaled to [0, 1] and converted to the model's convention.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..errors import BadInputError, JNDError
from ..models import JNDModel

ImageLike = str | Path | np.ndarray


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_rgb_frame(image: ImageLike) -> np.ndarray:
    """A path (read by the media rules) or an array (converted by the same rules) -> RGB uint8."""
    from ..data.media import read_image, to_rgb_uint8

    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise JNDError(f"cannot predict on a {type(image).__name__}; give a path or an RGB numpy array")
    return to_rgb_uint8(image)


def predict_canonical(engine, frames: torch.Tensor) -> torch.Tensor:
    """Canonical RGB [0,1] batch (B, 3, H, W) -> (B, L) labels, through an :class:`InferenceEngine`."""
    out = engine(frames)
    if "jnd" not in out:
        raise JNDError(f"model {engine.spec.name!r} does not predict JND levels (outputs: {', '.join(out)})")
    return out["jnd"]


class Predictor:
    """A loaded model + what it needs to turn images into ``{"jnd1": .., ...}``."""

    def __init__(self, model: JNDModel, payload: dict[str, Any] | None = None, device: str | torch.device | None = None,
                 batch_size: int = 8, precision: str = "auto", backend: str = "torch"):
        from .engine import make_engine

        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        self.payload = payload or {}
        self.engine = make_engine(self.model, backend, precision, self.device, self.payload, outputs=("jnd",))
        self.batch_size = max(1, int(batch_size))

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, device=None, batch_size: int = 8,
                        expect_model: str | None = None, precision: str = "auto", backend: str = "torch") -> "Predictor":
        model, payload = load_checkpoint(checkpoint, expect_model=expect_model)
        if "jnd" not in model.spec.outputs:
            raise BadInputError(checkpoint, f"model {model.spec.name!r} reconstructs frames and predicts no JND level")
        if model.spec.family == "constant" and not getattr(model, "is_fitted", True):
            raise BadInputError(checkpoint, "constant predictor was never fitted")
        return cls(model, payload, device, batch_size, precision, backend)

    @classmethod
    def default(cls, device=None, batch_size: int = 8, precision: str = "auto", backend: str = "torch") -> "Predictor":
        """The model bundled with the package (see docs/MODEL_CARD.md)."""
        from ..zoo import load_pretrained

        model, payload = load_pretrained()
        return cls(model, payload, device, batch_size, precision, backend)

    @property
    def spec(self):
        return self.model.spec

    @property
    def unit(self) -> str:
        return self.payload.get("label_unit", "qp")

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(self.model.spec.levels)

    @property
    def keys(self) -> list[str]:
        return [f"jnd{k}" for k in self.levels]

    @property
    def geometry(self):
        return self.model.spec.convention.geometry

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.model.spec.input_size)

    def predict(self, image: ImageLike) -> dict[str, float]:
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[ImageLike] | Iterable[ImageLike]) -> list[dict[str, float]]:
        rows = self.predict_rgb([as_rgb_frame(im) for im in images])
        if not all(np.isfinite(v) for r in rows for v in r.values()):
            raise JNDError(f"model {self.spec.name!r} predicted NaN or inf; no usable JND level")
        return rows

    def predict_rgb(self, frames: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """RGB uint8 frames -> one dict per frame, batched."""
        rows: list[dict[str, float]] = []
        for i in range(0, len(frames), self.batch_size):
            batch = self.geometry.to_batch(frames[i:i + self.batch_size])
            pred = predict_canonical(self.engine, batch).cpu().numpy()
            rows += [{k: float(v) for k, v in zip(self.keys, p)} for p in pred]
        return rows

    def __repr__(self) -> str:
        return (f"Predictor({self.spec.name}, levels={self.levels}, unit={self.unit}, input={self.input_size}, "
                f"device={self.device}, precision={self.engine.precision})")
