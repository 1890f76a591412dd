"""Shared fixtures: real photos at tiny sizes, a tiny proxy-labelled dataset, the ../shared data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    p = Path(os.environ.get("LASERJND_SHARED", REPO.parent / "shared"))
    return p if (p / "data").is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    p = shared_dir()
    if p is None:
        pytest.skip("../shared with the real label files is not present")
    return p


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (skimage astronaut), 96x128 RGB uint8."""
    import cv2
    import skimage.data

    return cv2.resize(skimage.data.astronaut(), (128, 96), interpolation=cv2.INTER_AREA)


def make_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Write an H.264 clip with PyAV (test media is generated, never committed)."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return Path(os.environ.get("LASERJND_CACHE_DIR") or tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, cache_dir) -> Path:
    """Six real photos (64 px longest side) prepared with proxy labels: 4 train / 1 valid / 1 test."""
    from laserjnd.data.default_content import default_content
    from laserjnd.data.prepare import PrepareConfig, prepare_dataset

    root = tmp_path_factory.mktemp("data") / "tiny"
    src = default_content(max_side=64, limit=6)
    return prepare_dataset(root, src, PrepareConfig(cache_dir=cache_dir, progress=False, saliency=True))
