"""Where frames come from: each source kind yields ``FrameItem``s for ``prepare``.

Kinds:
  (a) ``labelled_images``  - a folder of images with an MTJND ``JND-Levels.txt``;
  (b) ``videoset_clips``   - VideoSet-style clips (any container PyAV reads, or raw .yuv) + the
                             per-level CSVs; N frames sampled per clip;
  (c) ``mcljci_images``    - MCL-JCI-style images with per-viewer JPEG quality-factor samples;
  (d) ``proxy_media``      - any images or videos; labels come later from the encoding ladder
                             (objective *proxy labels*, never subjective JND).

``content_id`` is what must never be split across train/valid/test (the source image or clip).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import BadInputError
from .media import is_image, is_video, read_image, read_video_frames


@dataclass
class FrameItem:
    name: str  # unique file stem inside the dataset
    content_id: str  # source content; never in two splits
    load: Callable[[], np.ndarray]  # -> RGB uint8 (H, W, 3)
    labels: np.ndarray | None = None  # (3,) subjective labels in the source unit; None -> proxy
    origin: str = ""  # file (and frame) it came from


@dataclass
class Source:
    kind: str  # "labelled-images" | "videoset" | "mcl-jci" | "proxy" | "default-content"
    unit: str  # "qp" or "qf"
    items: list[FrameItem]
    info: dict = field(default_factory=dict)  # recorded in the manifest
    roots: tuple[Path, ...] = ()  # the files and folders the user named: prepare never writes into them

    @property
    def subjective(self) -> bool:
        return all(it.labels is not None for it in self.items)


def _safe(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "frame"


def _image_item(path: Path, labels: np.ndarray | None = None, stem: str | None = None) -> FrameItem:
    stem = stem or _safe(path.stem)
    return FrameItem(stem, stem, lambda p=path: read_image(p), labels, str(path))


@lru_cache(maxsize=2)
def _clip_frames(path: str, n_frames: int, size: tuple[int, int] | None) -> tuple:
    return tuple(read_video_frames(path, n_frames, size))


def _clip_items(path: Path, n_frames: int, labels: np.ndarray | None, size=None, stem: str | None = None) -> list[FrameItem]:
    frames = _clip_frames(str(path), n_frames, size)
    clip = stem or _safe(path.stem)
    items = []
    for pos, vf in enumerate(frames):
        def load(p=str(path), i=pos):
            return _clip_frames(p, n_frames, size)[i].image

        items.append(FrameItem(f"{clip}_f{vf.index:05d}", clip, load, labels, f"{path}#frame={vf.index}"))
    return items


def labelled_images(folder: str | Path, unit: str = "qp", labels_file: str | Path | None = None) -> Source:
    """(a) images of ``folder`` paired with ``JND-Levels.txt`` lines by sorted file name."""
    from .labels.mtjnd import read_split

    folder = Path(folder)
    paths, labels = read_split(folder, unit=unit, labels_file=labels_file)
    items = [_image_item(p, labels[i]) for i, p in enumerate(paths)]
    roots = (folder,) + ((Path(labels_file),) if labels_file is not None else ())
    return Source("labelled-images", unit, items, {"folder": str(folder), "pairing": "sorted file names"}, roots)


def videoset_clips(
    folder: str | Path,
    csvs: Sequence[str | Path],
    frames_per_clip: int = 4,
    sur: float = 0.75,
    size: tuple[int, int] | None = None,
) -> Source:
    """(b) clips whose file name holds the VideoSet sequence index as its first number (e.g. ``video_037.mp4``)."""
    from .labels.videoset import load_videoset_labels

    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, "clip folder not found")
    if len(csvs) != 3:
        raise BadInputError(folder, f"need the three per-level CSVs (1st, 2nd, 3rd JND), got {len(csvs)}")
    table = load_videoset_labels(*csvs, sur=sur)
    clips = sorted(p for p in folder.iterdir() if p.is_file() and is_video(p))
    if not clips:
        raise BadInputError(folder, "no video clips found")
    items: list[FrameItem] = []
    for clip in clips:
        m = re.search(r"\d+", clip.stem)
        if not m or int(m.group()) not in table:
            raise BadInputError(clip, "no VideoSet label row for this clip (sequence index = first number in the file name)")
        items += _clip_items(clip, frames_per_clip, np.asarray(table[int(m.group())], dtype=np.float32), size)
    return Source("videoset", "qp", items, {"folder": str(folder), "csvs": [str(c) for c in csvs], "sur": sur,
                                            "frames_per_clip": frames_per_clip}, (folder, *map(Path, csvs)))


def mcljci_images(folder: str | Path, labels_folder: str | Path, sur: float = 0.75) -> Source:
    """(c) MCL-JCI images; labels (JPEG quality factors) from the per-viewer samples."""
    from .labels.mcljci import load_mcljci_labels

    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, "image folder not found")
    table = {str(k).lower(): v for k, v in load_mcljci_labels(labels_folder, sur=sur).items()}
    by_number = {int(m.group()): v for k, v in table.items() if (m := re.search(r"\d+", k))}
    items = []
    for p in sorted(q for q in folder.iterdir() if q.is_file() and is_image(q)):
        m = re.search(r"\d+", p.stem)
        labels = table.get(p.stem.lower())
        if labels is None and m:
            labels = by_number.get(int(m.group()))
        if labels is None:
            raise BadInputError(p, "no MCL-JCI label for this image (matched by name, then by its first number)")
        items.append(_image_item(p, np.asarray(labels, dtype=np.float32)))
    if not items:
        raise BadInputError(folder, "no images found")
    return Source("mcl-jci", "qf", items, {"folder": str(folder), "labels": str(labels_folder), "sur": sur},
                  (folder, Path(labels_folder)))


def proxy_media(inputs: Sequence[str | Path], unit: str = "qp", frames_per_clip: int = 4) -> Source:
    """(d) any images and videos (files or folders, searched recursively); proxy labels from ladders."""
    items: list[FrameItem] = []
    for path, stem in _unique_stems(_expand(inputs)):
        if is_video(path):
            items += _clip_items(path, frames_per_clip, None, stem=stem)
        else:
            items.append(_image_item(path, stem=stem))
    return Source("proxy", unit, items, {"inputs": [str(p) for p in inputs], "frames_per_clip": frames_per_clip},
                  tuple(map(Path, inputs)))


def _expand(inputs: Sequence[str | Path]) -> list[Path]:
    out: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and (is_image(q) or is_video(q)))
            if not found:
                raise BadInputError(p, "folder holds no images or videos")
            out += found
        elif p.is_file():
            if not (is_image(p) or is_video(p)):
                raise BadInputError(p, "not an image or video file extension")
            out.append(p)
        else:
            raise BadInputError(p, "file or folder not found")
    return out


def _unique_stems(paths: list[Path]) -> list[tuple[Path, str]]:
    """Two inputs with the same stem (a/x.png, b/x.mp4) get distinct names and content ids."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = _safe(p.stem)
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        out.append((p, f"{stem}-{n}" if n else stem))
    return out
