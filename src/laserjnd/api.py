"""Python API: ``predictor = laserjnd.load("model.pt"); predictor.predict("frame.png")``.

``predict`` returns ``{"jnd1": .., "jnd2": .., "jnd3": ..}`` for the levels the model predicts, in
``predictor.unit`` ("qp": H.264 QP, higher = more compression; "qf": JPEG quality factor).
"""

from __future__ import annotations

from pathlib import Path

from .inference.predictor import Predictor


def load(checkpoint: str | Path | None = None, device: str | None = None, batch_size: int = 8,
         precision: str = "auto", backend: str = "torch") -> Predictor:
    """Load a checkpoint written by ``laserjnd train`` (compact ``.pt`` or Lightning ``.ckpt``),
    a Keras import, or - with no argument - the default model bundled with the package.
    ``precision``: auto, fp32, bf16, int8 (CPU) or fp16 (CUDA); ``backend``: torch or onnxruntime
    (precision fp32 or int8); see ``inference/engine.py``."""
    if checkpoint is None:
        return Predictor.default(device=device, batch_size=batch_size, precision=precision, backend=backend)
    return Predictor.from_checkpoint(checkpoint, device=device, batch_size=batch_size, precision=precision,
                                     backend=backend)


__all__ = ["load", "Predictor"]
