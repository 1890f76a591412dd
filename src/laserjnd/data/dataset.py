"""PyTorch ``Dataset`` over the prepared layout (see ``layout.py``).

Each item is a dict of canonical tensors (RGB, float32 in [0, 1], shaped to the model input by
the one preprocessing path, ``preprocess.Geometry``: resized to ``input_size`` = (H, W), or
native-resolution tiles); models convert them to their own convention:

    "frame"       (3, H, W)
    "jnd"         (3,)        labels of JND1..3 in the dataset's unit (QP or quality factor)
    "name"        str
    "jnd_frames"  (3, 3, H, W) JND-1/2/3-quality frames (index k-1 = level k), if requested
    "saliency"    (1, H, W)   visual-attention target, if requested and present
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import BadInputError
from .labels.mtjnd import read_split
from .layout import DatasetLayout, read_manifest  # noqa: F401  (read_manifest: part of this module's API)
from .media import read_image
from .preprocess import Geometry, as_geometry, resize_rgb, to_tensor  # noqa: F401  (resize_rgb, to_tensor: API)


class JNDDataset(Dataset):
    def __init__(
        self,
        root: str | Path,
        split: str,
        input_size: tuple[int, int] | Geometry = (352, 640),
        jnd_frames: bool = False,
        saliency: bool = False,
        unit: str | None = None,
    ):
        self.root = Path(root)
        self.layout = DatasetLayout(self.root)
        self.split = split
        self.geometry = as_geometry(input_size)
        self.input_size = self.geometry.size
        self.manifest = self.layout.read_manifest()
        self.unit = unit or self.manifest.get("label_unit", "qp")
        folder = self.layout.frames_dir(split)
        if not folder.is_dir():
            raise BadInputError(folder, f"split folder {split!r} not found (expected the prepared layout)")
        self.paths, labels = read_split(folder, unit=self.unit)
        self.labels = np.asarray(labels, dtype=np.float32).reshape(-1, 3)
        self.names = [p.stem for p in self.paths]
        self.with_jnd_frames = jnd_frames
        self.with_saliency = saliency
        if jnd_frames:
            for k in (1, 2, 3):
                folder = self.layout.jnd_frames_dir(split, k)
                missing = [p.name for p in self.paths if not (folder / p.name).is_file()]
                if missing:
                    raise BadInputError(folder, f"{len(missing)} JND-quality frames missing, e.g. {missing[0]}")

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, path: Path) -> torch.Tensor:
        return self.geometry.to_tensor(read_image(path))

    def saliency_path(self, i: int) -> Path:
        return self.layout.saliency_dir(self.split) / f"{self.paths[i].stem}.png"

    def ladder_path(self, i: int) -> Path:
        return self.layout.ladder_path(self.split, self.paths[i].stem)

    def __getitem__(self, i: int) -> dict:
        item = {"frame": self._load(self.paths[i]), "jnd": torch.from_numpy(self.labels[i].copy()), "name": self.names[i]}
        if self.with_jnd_frames:
            item["jnd_frames"] = torch.stack(
                [self._load(self.layout.jnd_frames_dir(self.split, k) / self.paths[i].name) for k in (1, 2, 3)]
            )
        if self.with_saliency:
            sal = self.saliency_path(i)
            if sal.is_file():
                m = cv2.imread(str(sal), cv2.IMREAD_GRAYSCALE)
                if m is None:
                    raise BadInputError(sal, "saliency map is not a readable image")
                h, w = self.input_size
                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA)
                item["saliency"] = torch.from_numpy(m).float().div_(255.0)[None]
        return item


def open_split(root: str | Path, split: str, input_size: tuple[int, int] | Geometry, *, jnd_frames: bool = False,
               saliency: bool = False) -> JNDDataset:
    """``JNDDataset`` with a clear error when the prepared dataset lacks the split."""
    folder = DatasetLayout(root).frames_dir(split)
    if not folder.is_dir():
        raise BadInputError(Path(root), f"dataset has no {split!r} split (expected folder {folder})")
    return JNDDataset(root, split, input_size=input_size, jnd_frames=jnd_frames, saliency=saliency)
