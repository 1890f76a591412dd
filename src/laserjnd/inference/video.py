"""Uniform frame sampling from clips, streaming: only the sampled frames are kept in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np



def sample_frames(path: str | Path, n_frames: int = 8) -> list[tuple[int, np.ndarray]]:
    """``n_frames`` (index, RGB uint8) pairs spread uniformly over the clip (the one sampler in ``data.media``)."""
    from ..data.media import read_video_frames

    return [(f.index, f.image) for f in read_video_frames(path, n_frames)]


def aggregate(values: list[dict[str, float]], how: str = "median") -> dict[str, float]:
    """Per-clip figure from per-frame predictions (median by default: robust to a few odd frames)."""
    fn = {"median": np.median, "mean": np.mean, "min": np.min, "max": np.max}.get(how)
    if fn is None:
        raise ValueError(f"aggregate must be median, mean, min or max, got {how!r}")
    keys = list(values[0]) if values else []
    return {k: float(fn([v[k] for v in values])) for k in keys}
