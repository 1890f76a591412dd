"""The prepared dataset's folder layout (the one the published code trains on).

Written by ``prepare``; read by ``dataset``, ``saliency`` and evaluation, all through
:class:`DatasetLayout`::

    root/{train,valid,test}/<name>.png        frames (RGB, native size after optional scaling)
    root/{split}/JND-Levels.txt               JND1 JND2 JND3 per line, lines in sorted file-name order
    root/jnd{1,2,3}{split}/<name>.png         each frame encoded at its JND-k level and decoded
    root/ladders/{split}/<name>.json          each frame's encoding ladder (bits, PSNR, SSIM, VMAF)
    root/saliency{split}/<name>.png           optional visual-attention targets (--saliency)
    root/manifest.json                        sources, codec settings, label rule, split seed, hash
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInputError
from .labels.mtjnd import LABELS_FILE

SPLITS = ("train", "valid", "test")
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class DatasetLayout:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def frames_dir(self, split: str) -> Path:
        return self.root / split

    def labels_file(self, split: str) -> Path:
        return self.frames_dir(split) / LABELS_FILE

    def jnd_frames_dir(self, split: str, level: int) -> Path:
        """Frames encoded at their JND-``level`` value (level 1..3)."""
        return self.root / f"jnd{level}{split}"

    def ladders_dir(self, split: str) -> Path:
        return self.root / "ladders" / split

    def ladder_path(self, split: str, stem: str) -> Path:
        return self.ladders_dir(split) / f"{stem}.json"

    def saliency_dir(self, split: str) -> Path:
        return self.root / f"saliency{split}"

    def frame_folders(self, split: str) -> tuple[Path, ...]:
        """Every folder holding one file per frame of ``split``, named like the frame."""
        return (self.frames_dir(split), *(self.jnd_frames_dir(split, k) for k in (1, 2, 3)), self.saliency_dir(split))

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_FILE

    def read_manifest(self) -> dict:
        """The manifest, or ``{}`` for a folder without one (e.g. hand-made MTJND layouts)."""
        path = self.manifest_path
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise BadInputError(path, f"manifest is not valid JSON ({e.msg} at line {e.lineno})") from None


def read_manifest(root: str | Path) -> dict:
    return DatasetLayout(root).read_manifest()


def manifest_hash(manifest: dict | None) -> str:
    """The content hash ``prepare`` recorded (``"unknown"`` without a manifest): ties models to data."""
    return str((manifest or {}).get("hash", "unknown"))
