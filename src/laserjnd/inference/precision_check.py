"""Record in a checkpoint what int8 and bf16 change on its weights, measured on frames the user names.

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

from ..checkpoint import FORMAT, is_safetensors, load_payload_file, model_from_payload, payload_from_raw
from ..errors import BadInputError, JNDError
from ..utils.atomic import atomic_save
from .engine import AUTO_LIMIT, precision_record, resolve_precision, within_limit

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


def read_for_check(checkpoint: Path) -> tuple[dict[str, Any], bool]:
    """The checkpoint's payload (read once), and whether it may be rewritten as itself: only a plain
    laserjnd file; Lightning and safetensors files keep their format, so their record goes elsewhere."""
    raw = load_payload_file(checkpoint)
    plain = not is_safetensors(checkpoint) and isinstance(raw, dict) and raw.get("format") == FORMAT
    return payload_from_raw(raw, checkpoint), plain


def check_precision(payload: dict[str, Any], checkpoint: Path, frames: list[np.ndarray], source: str,
                    output: Path, batch_size: int = 8) -> dict[str, Any]:
    """Measure each reduced precision's change on ``frames`` and write ``payload`` (read from
    ``checkpoint``) with the record to ``output`` (atomically); return the record (``{"int8": {...},
    "bf16": {...}}``)."""
    model = model_from_payload(payload, checkpoint)
    if not model.spec.levels:
        raise BadInputError(checkpoint, f"model {model.spec.name!r} predicts no JND level; nothing to check")
    geometry = model.spec.convention.geometry
    batches = (geometry.to_batch(frames[i:i + batch_size]) for i in range(0, len(frames), batch_size))
    record = precision_record(model, batches, source)
    payload["meta"] = dict(payload.get("meta") or {}) | {"precision_check": record}
    atomic_save(output, lambda tmp: torch.save(payload, tmp))
    return record


def verdict(record: dict[str, Any], unit: str) -> str:
    """One line: each precision's change, and what ``auto`` will run on this CPU."""
    changes = "; ".join(f"{p} {r['mean_abs_change']:.4f} {unit} on average (max {r['max_abs_change']:.4f})"
                        for p, r in record.items())
    frames = next(iter(record.values()))["frames"]
    allowed = within_limit({p: r["mean_abs_change"] for p, r in record.items()})
    here = resolve_precision("auto", torch.device("cpu"), allowed)
    return (f"change against fp32 over {frames} frames: {changes}; within the {AUTO_LIMIT} limit: "
            f"{', '.join(sorted(allowed)) or 'none'}; auto on this CPU: {here}")
