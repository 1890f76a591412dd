"""The embedded default content: real photos shipped inside installed packages, no download.

Every frame gets objective **proxy labels** later (from its encoding ladder); none of this is
subjective JND data. Synthetic images (logos, colour wheels, phantoms, binary masks) are left out.
Scaled copies of one photo share its ``content_id``, so they always land in the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .media import read_image, to_rgb_uint8
from .sources import FrameItem, Source


@dataclass(frozen=True)
class Photo:
    name: str
    package: str
    load: Callable[[], np.ndarray]  # raw array in whatever form the package ships


def _skimage(name: str) -> Photo:
    def load():
        import skimage.data

        a = getattr(skimage.data, name)()
        return a[0] if isinstance(a, tuple) else a  # stereo_motorcycle: left view

    return Photo(name, "scikit-image", load)


def _package_file(package: str, relpath: str, name: str) -> Photo:
    def load():
        import importlib.util

        spec = importlib.util.find_spec(package)
        root = Path(spec.submodule_search_locations[0])
        return read_image(root / relpath)

    return Photo(name, package, load)


# Real photographs and micrographs; gray ones become gray RGB frames.
SKIMAGE_PHOTOS = (
    "astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
    "immunohistochemistry", "moon", "page", "rocket", "text", "retina", "clock", "cell", "stereo_motorcycle",
)
OTHER_PHOTOS = (("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper"),)


def available_photos() -> list[Photo]:
    """Every default photo whose package is installed and whose data loads offline."""
    photos = [_skimage(n) for n in SKIMAGE_PHOTOS]
    photos += [_package_file(pkg, rel, name) for pkg, rel, name in OTHER_PHOTOS]
    out = []
    for p in photos:
        try:
            p.load()
        except Exception:  # package or file missing on this install: skip, the rest still works
            continue
        out.append(p)
    return out


def fit_even(frame: np.ndarray, max_side: int | None, scale: float = 1.0) -> np.ndarray:
    """Downscale (area) so the longer side is at most ``max_side * scale``; crop to even sizes for 4:2:0."""
    h, w = frame.shape[:2]
    target = (max_side or max(h, w)) * scale
    f = min(1.0, target / max(h, w))
    if f < 1.0:
        frame = cv2.resize(frame, (max(2, round(w * f)), max(2, round(h * f))), interpolation=cv2.INTER_AREA)
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])


def default_content(max_side: int | None = 384, scales: Sequence[float] = (1.0,), limit: int | None = None) -> Source:
    """The default proxy-labelled content: one frame per (photo, scale)."""
    items: list[FrameItem] = []
    photos = available_photos()[:limit]
    for photo in photos:
        for s in scales:
            def load(p=photo, s=s):
                return fit_even(to_rgb_uint8(p.load(), p.name), max_side, s)

            name = photo.name if len(scales) == 1 else f"{photo.name}_s{round(s * 100):03d}"
            items.append(FrameItem(name, photo.name, load, None, f"{photo.package}:{photo.name}"))
    return Source("default-content", "qp", items, {
        "photos": [f"{p.package}:{p.name}" for p in photos], "max_side": max_side, "scales": list(scales),
    })
