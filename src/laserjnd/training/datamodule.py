"""LightningDataModule over the dataset layout (``train``/``valid``/``test`` + JND frames + saliency)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from ..data.dataset import open_split
from ..data.layout import manifest_hash
from ..errors import BadInputError


class JNDDataModule(L.LightningDataModule):
    def __init__(self, data_dir: str | Path, input_size: tuple[int, int], batch_size: int = 8, workers: int = 0,
                 jnd_frames: bool = False, saliency: bool = False):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.input_size = input_size  # (H, W) or a data.preprocess.Geometry
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.flags = {"jnd_frames": jnd_frames, "saliency": saliency}
        self.train_ds = open_split(self.data_dir, "train", self.input_size, **self.flags)
        self.val_ds = open_split(self.data_dir, "valid", self.input_size, **self.flags)
        if len(self.train_ds) == 0 or len(self.val_ds) == 0:
            raise BadInputError(self.data_dir, "train and valid splits must each hold at least one frame")

    @property
    def unit(self) -> str:
        return getattr(self.train_ds, "unit", "qp")

    @property
    def manifest_hash(self) -> str:
        return manifest_hash(self.train_ds.manifest)

    def _loader(self, ds, shuffle: bool) -> DataLoader:
        return DataLoader(ds, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.workers,
                          persistent_workers=self.workers > 0, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_ds, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_ds, False)
