"""Checkpoint IO and logging pieces the trainer plugs in."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..checkpoint import load_torch_file
from ..utils.atomic import atomic_save, atomic_write_text


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write temp file + ``os.replace``: a kill -9 mid-save leaves the previous checkpoint intact.

    Reading (``--resume``) goes through laserjnd's one safe loader whatever Lightning asks for:
    tensors and plain data only, never code from the file.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        atomic_save(Path(path), lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"Checkpoint file not found: {path}")
        return load_torch_file(path, map_location=map_location if map_location is not None else "cpu")


class EpochCSVLogger(L.Callback):
    """One row per finished epoch at ``path`` (the originals' Keras ``CSVLogger``).

    The file is rewritten atomically each epoch. On (re)start rows of epochs >= the starting epoch are
    dropped, so a resumed run neither loses finished epochs nor duplicates an interrupted one.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        start = trainer.current_epoch
        self.rows = [r for r in self._read() if r.get("epoch", "").isdigit() and int(r["epoch"]) < start] if start else []
        if trainer.is_global_zero:
            self._write()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, Any] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        for k, v in sorted(trainer.callback_metrics.items()):
            val = float(v)
            row[k] = f"{val:.6g}" if math.isfinite(val) else str(val)
        self.rows = [r for r in self.rows if str(r.get("epoch")) != str(row["epoch"])] + [row]
        if trainer.is_global_zero:
            self._write()

    def _write(self) -> None:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys or ["epoch"], restval="")
        w.writeheader()
        w.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())
