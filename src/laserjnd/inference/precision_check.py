"""Record in a checkpoint what bf16 changes on its weights, measured on frames the user names.

``train`` records this on its validation split. Weights from elsewhere (``import-keras`` of the
authors' files, or a checkpoint written before the check existed) carry no record, so ``auto``
keeps them in fp32. ``laserjnd check-precision`` measures the change on frames the model will not
be tested on and writes it where ``auto`` reads it (``meta.precision_check``); the weights are
copied unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import FORMAT, is_safetensors, load_payload_file, model_from_payload, read_checkpoint
from ..errors import BadInputError, JNDError
from ..utils.atomic import atomic_save
from .engine import AUTO_BF16_LIMIT, cpu_has_bf16, precision_record

MAX_FRAMES = 64  # as for train's check: enough for a mean, cheap for the largest models


def read_frames(items: list[tuple[str, Path]], video_frames: int, max_frames: int = MAX_FRAMES) -> list[np.ndarray]:
    """RGB frames of ("image" | "video", path) items, spread over the items when there are more than
    ``max_frames``; any unreadable file is a one-line error naming it."""
    from ..data.media import read_image, read_video_frames, sample_indices

    frames: list[np.ndarray] = []
    for i in sample_indices(len(items), max_frames):
        kind, path = items[i]
        frames += [read_image(path)] if kind == "image" else [vf.image for vf in read_video_frames(path, video_frames)]
    if not frames:
        raise JNDError("no frames to measure on")
    return frames[:max_frames]


def rewritable_in_place(checkpoint: Path) -> bool:
    """Only a plain laserjnd checkpoint is rewritten as itself; Lightning and safetensors files keep
    their format, so their record goes to a new file."""
    if is_safetensors(checkpoint):
        return False
    raw = load_payload_file(checkpoint)
    return isinstance(raw, dict) and raw.get("format") == FORMAT


def check_precision(checkpoint: Path, frames: list[np.ndarray], source: str, output: Path,
                    batch_size: int = 8) -> tuple[dict[str, Any], str]:
    """Measure bf16's change on ``frames``, write the checkpoint with the record to ``output``
    (atomically); return the record (``{"bf16": {...}}``) and the checkpoint's label unit."""
    payload = read_checkpoint(checkpoint)
    model = model_from_payload(payload, checkpoint)
    if not model.spec.levels:
        raise BadInputError(checkpoint, f"model {model.spec.name!r} predicts no JND level; nothing to check")
    geometry = model.spec.convention.geometry
    batches = (geometry.to_batch(frames[i:i + batch_size]) for i in range(0, len(frames), batch_size))
    record = precision_record(model, batches, source)
    payload["meta"] = dict(payload.get("meta") or {}) | {"precision_check": record}
    atomic_save(output, lambda tmp: torch.save(payload, tmp))
    return record, payload["label_unit"]


def verdict(record: dict[str, Any], unit: str) -> str:
    """One line on what ``auto`` will do with these weights."""
    bf16 = record["bf16"]
    passes = bf16["mean_abs_change"] <= AUTO_BF16_LIMIT
    said = (f"bf16 changes the predictions by {bf16['mean_abs_change']:.4f} {unit} on average "
            f"(max {bf16['max_abs_change']:.4f}) over {bf16['frames']} frames")
    if not passes:
        return f"{said}: above the {AUTO_BF16_LIMIT} limit, auto keeps fp32"
    here = "this one has them" if cpu_has_bf16() else "this one has none"
    return f"{said}: within the {AUTO_BF16_LIMIT} limit, auto runs bf16 on CPUs with bf16 units ({here})"
