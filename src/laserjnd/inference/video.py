"""Per-clip figures from per-frame predictions (frames are sampled by ``data.media.read_video_frames``)."""

from __future__ import annotations

import numpy as np


AGGREGATES = {"median": np.median, "mean": np.mean, "min": np.min, "max": np.max}


def aggregate(values: list[dict[str, float]], how: str = "median") -> dict[str, float]:
    """Per-clip figure from per-frame predictions (median by default: robust to a few odd frames)."""
    fn = AGGREGATES.get(how)
    if fn is None:
        raise ValueError(f"aggregate must be median, mean, min or max, got {how!r}")
    keys = list(values[0]) if values else []
    return {k: float(fn([v[k] for v in values])) for k in keys}
