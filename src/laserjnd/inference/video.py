"""Uniform frame sampling from clips, streaming: only the sampled frames are kept in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInputError


def sample_frames(path: str | Path, n_frames: int = 8) -> list[tuple[int, np.ndarray]]:
    """``n_frames`` (index, RGB uint8) pairs spread uniformly over the clip (PyAV; raw .yuv via media)."""
    from ..data.media import read_video_frames, sample_indices

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found")
    if path.suffix.lower() == ".yuv":
        return [(f.index, f.image) for f in read_video_frames(path, n_frames)]
    import av

    try:
        with av.open(str(path)) as c:  # pass 1: count packets (no decoding)
            if not c.streams.video:
                raise BadInputError(path, "file has no video stream")
            total = sum(1 for p in c.demux(c.streams.video[0]) if p.size)
        keep = set(sample_indices(total, n_frames))
        out = []
        with av.open(str(path)) as c:  # pass 2: decode, keep the sampled frames
            for i, frame in enumerate(c.decode(c.streams.video[0])):
                if i in keep:
                    out.append((i, frame.to_ndarray(format="rgb24")))
                if i >= max(keep, default=-1):
                    break
    except BadInputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise BadInputError(path, f"video cannot be read ({str(e).splitlines()[0][:100]})") from None
    if not out:
        raise BadInputError(path, "video has no decodable frames")
    return out


def aggregate(values: list[dict[str, float]], how: str = "median") -> dict[str, float]:
    """Per-clip figure from per-frame predictions (median by default: robust to a few odd frames)."""
    fn = {"median": np.median, "mean": np.mean, "min": np.min, "max": np.max}.get(how)
    if fn is None:
        raise ValueError(f"aggregate must be median, mean, min or max, got {how!r}")
    keys = list(values[0]) if values else []
    return {k: float(fn([v[k] for v in values])) for k in keys}
