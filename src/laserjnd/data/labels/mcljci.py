"""MCL-JCI subjective JND labels, in JPEG quality factor (QF, 1..100, higher = better).

Files (as published, in one folder):

- ``JND_first.mat``, ``JND_second.mat``, ``JND_third.mat``: **per-viewer samples**, not per-image
  JND points. Each holds one uint8 matrix (``JND_result_first`` ...) of shape (50 images, 30
  viewers): the QF at which that viewer saw the 1st / 2nd / 3rd difference. ``0`` means the viewer
  reported fewer JNDs (no 2nd: 7 cases, no 3rd: 153 of 1500). Row ``i`` is image ``SRC{i+1:02d}``.
- ``MCL-JCI_JND_samples.xlsx``: one row per image (number, text list). The list concatenates each
  viewer's full, strictly falling sequence of JND points (often more than three). Viewer
  boundaries are not marked, so we split where the value stops falling; that reproduces the
  ``.mat`` triples for 46 of 50 images. In the other four it cannot: two viewers merge where the
  next one starts below the previous one's last point (images 27, 41, 46), and image 4 starts with
  ``3`` where the ``.mat`` has 23. The ``.mat`` files are therefore the source of the labels; the
  workbook is only read by the tests, which check this agreement.
- ``mcl-jci-sur-10fold.csv``: fitted SUR values per image, patch and QF (``dist_patch`` =
  ``SRCnn_qqq_p``: image, QF ``qqq``, patch ``p``; identical across the 5 patches of an image)
  and the 10-fold split (``set``, 5 images per fold, constant per image).

Per-image JND (see ``videoset`` for the rule): SUR(qf) = fraction of viewers with sample < qf
(a viewer with no k-th JND, ``0``, stays satisfied down to QF 1), JND_k = ``ceil(quantile(samples,
0.75) - 0.5)``. It agrees with the 0.75 crossing of the fitted curves in the CSV to within about
1.4 QF on average (the fit is a smooth model, not the empirical curve).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import BadInputError, JNDError
from .units import QF, validate_labels
from .videoset import jnd_from_samples, jnd_from_sur_curve

__all__ = [
    "MAT_FILES",
    "XLSX_FILE",
    "SUR_CSV",
    "image_name",
    "read_mcljci_samples",
    "mcljci_jnd",
    "MCLJCISur",
    "read_mcljci_sur_csv",
    "load_mcljci_labels",
]

MAT_FILES = (("JND_first.mat", "JND_result_first"), ("JND_second.mat", "JND_result_second"),
             ("JND_third.mat", "JND_result_third"))
XLSX_FILE = "MCL-JCI_JND_samples.xlsx"
SUR_CSV = "mcl-jci-sur-10fold.csv"
LEVEL_COLUMNS = ("first_SUR", "second_SUR", "third_SUR")


def image_name(i: int) -> str:
    """0-based row -> MCL-JCI source image name (``SRC01`` ...)."""
    return f"SRC{i + 1:02d}"


def _load_mat(path: Path, key: str) -> np.ndarray:
    if not path.is_file():
        raise BadInputError(path, "MCL-JCI .mat file not found")
    try:
        import scipy.io

        data = scipy.io.loadmat(str(path))
        arrays = {k: v for k, v in data.items() if not k.startswith("__")}
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        import h5py

        with h5py.File(path, "r") as f:
            arrays = {k: np.asarray(f[k]).T for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except Exception as e:  # scipy raises several types on a corrupt file
        raise BadInputError(path, f"not a readable .mat file ({e})") from None
    if key in arrays:
        a = arrays[key]
    elif len(arrays) == 1:
        a = next(iter(arrays.values()))
    else:
        raise BadInputError(path, f"expected variable {key!r}, found {sorted(arrays)}")
    a = np.asarray(a)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.number):
        raise BadInputError(path, f"expected a numeric (images, viewers) matrix, got {a.dtype} {a.shape}")
    return a.astype(np.float64)


def read_mcljci_samples(folder: str | Path) -> np.ndarray:
    """Per-viewer samples from the three ``.mat`` files -> (images, viewers, 3) int array in QF.

    ``0`` = the viewer reported no such JND.
    """
    folder = Path(folder)
    mats = [_load_mat(folder / f, k) for f, k in MAT_FILES]
    for (f, _), m in zip(MAT_FILES[1:], mats[1:]):
        if m.shape != mats[0].shape:
            raise BadInputError(folder / f, f"shape {m.shape} differs from {MAT_FILES[0][0]} {mats[0].shape}")
    s = np.stack(mats, axis=-1)
    for k, (f, _) in enumerate(MAT_FILES):
        lv = s[..., k]
        bad = ~np.isfinite(lv) | (lv != np.round(lv)) | (lv < 0) | (lv > QF.hi)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise BadInputError(folder / f, f"image {i + 1}, viewer {j + 1}: {lv[i, j]} is not a QF 1..100 (or 0 = none)")
    if np.any(s[..., 0] == 0):
        i, j = np.argwhere(s[..., 0] == 0)[0]
        raise BadInputError(folder / MAT_FILES[0][0], f"image {i + 1}, viewer {j + 1}: no 1st JND")
    return s.astype(np.int64)


def mcljci_jnd(samples: np.ndarray, sur: float = 0.75, *, drop_missing: bool = False) -> np.ndarray:
    """(images, viewers, 3) samples -> (images, 3) JND in QF at SUR level ``sur``.

    A missing JND (``0``) counts as "satisfied down to QF 1"; ``drop_missing=True`` leaves those
    viewers out of that level instead.
    """
    s = np.asarray(samples)
    out = np.empty((s.shape[0], s.shape[2]), dtype=np.float64)
    for i in range(s.shape[0]):
        for k in range(s.shape[2]):
            x = s[i, :, k]
            if drop_missing:
                x = x[x > 0]
                if x.size == 0:
                    raise JNDError(f"image {image_name(i)}: no viewer reported JND{k + 1}")
            out[i, k] = jnd_from_samples(x, sur, unit=QF)
    return out


@dataclass
class MCLJCISur:
    """Fitted SUR table: ``sur[i, q, k]`` for image ``images[i]``, QF ``qf[q]``, level k."""

    images: list[str]
    qf: np.ndarray  # (Q,) int, increasing
    sur: np.ndarray  # (images, Q, 3)
    fold: dict[str, int]  # image -> 10-fold split id (1..10)
    patches: dict[str, list[str]] = field(default_factory=dict)  # image -> ref_patch names

    def folds(self) -> list[int]:
        return sorted(set(self.fold.values()))

    def split(self, fold: int) -> tuple[list[str], list[str]]:
        """(train images, test images) for one fold of the 10-fold split."""
        if fold not in self.fold.values():
            raise JNDError(f"no fold {fold}; folds are {self.folds()}")
        test = [n for n in self.images if self.fold[n] == fold]
        return [n for n in self.images if self.fold[n] != fold], test

    def jnd(self, sur: float = 0.75) -> dict[str, tuple[float, float, float]]:
        """Where each fitted curve crosses ``sur`` (QF, interpolated, not rounded)."""
        return {
            n: tuple(jnd_from_sur_curve(self.qf, self.sur[i, :, k], sur, unit=QF) for k in range(self.sur.shape[2]))
            for i, n in enumerate(self.images)
        }


_DIST = re.compile(r"^(?P<img>.+)_(?P<qf>\d+)_(?P<patch>\d+)$")


def read_mcljci_sur_csv(path: str | Path) -> MCLJCISur:
    """Read ``mcl-jci-sur-10fold.csv`` into an :class:`MCLJCISur` (errors name file and line)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "MCL-JCI SUR CSV not found")
    need = ("ref_img", "ref_patch", "dist_patch", *LEVEL_COLUMNS, "set")
    values: dict[str, dict[int, tuple[float, float, float]]] = {}
    fold: dict[str, int] = {}
    patches: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInputError(path, f"line 1: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            img = row["ref_img"].strip()
            m = _DIST.match(row["dist_patch"].strip())
            if not m or m["img"] != img:
                raise BadInputError(path, f"line {line}: dist_patch {row['dist_patch']!r} is not {img}_<QF>_<patch>")
            qf = int(m["qf"])
            if not QF.in_range(qf):
                raise BadInputError(path, f"line {line}: QF {qf} outside 1..100")
            try:
                v = tuple(float(row[c]) for c in LEVEL_COLUMNS)
                s = int(row["set"])
            except (TypeError, ValueError):
                raise BadInputError(path, f"line {line}: SUR values and set must be numbers") from None
            if not all(math.isfinite(x) and -1e-9 <= x <= 1 + 1e-9 for x in v):
                raise BadInputError(path, f"line {line}: SUR values must lie in 0..1")
            if fold.setdefault(img, s) != s:
                raise BadInputError(path, f"line {line}: image {img} is in set {s} here but set {fold[img]} before")
            prev = values.setdefault(img, {}).setdefault(qf, v)
            if prev is not v and max(abs(a - b) for a, b in zip(prev, v)) > 1e-9:
                raise BadInputError(path, f"line {line}: SUR of {img} at QF {qf} differs between patches")
            ps = patches.setdefault(img, [])
            if row["ref_patch"] not in ps:
                ps.append(row["ref_patch"])
    if not values:
        raise BadInputError(path, "no data rows")
    images = sorted(values)
    qfs = sorted(values[images[0]])
    for n in images:
        if sorted(values[n]) != qfs:
            raise BadInputError(path, f"image {n} has other QF levels than {images[0]}")
    sur = np.array([[values[n][q] for q in qfs] for n in images], dtype=np.float64)
    return MCLJCISur(images, np.asarray(qfs, dtype=np.int64), sur, fold, patches)


def load_mcljci_labels(
    folder: str | Path, *, sur: float = 0.75, source: str = "samples", non_monotone: str = "warn"
) -> dict[str, tuple[float, float, float]]:
    """``image name (SRC01 ...) -> (JND1, JND2, JND3)`` in QF.

    ``source="samples"`` (default): the SUR rule on the ``.mat`` per-viewer samples (whole QF).
    ``source="sur_csv"``: the crossing of the fitted curves in ``mcl-jci-sur-10fold.csv``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, "MCL-JCI label folder not found")
    if source == "samples":
        table = mcljci_jnd(read_mcljci_samples(folder), sur)
        names = [image_name(i) for i in range(len(table))]
        origin = folder / MAT_FILES[0][0]
    elif source == "sur_csv":
        fitted = read_mcljci_sur_csv(folder / SUR_CSV).jnd(sur)
        names = list(fitted)
        table = np.array([fitted[n] for n in names], dtype=np.float64)
        origin = folder / SUR_CSV
    else:
        raise JNDError(f"source must be 'samples' or 'sur_csv', not {source!r}")
    validate_labels(table, QF, origin, non_monotone=non_monotone)
    return {n: tuple(float(v) for v in row) for n, row in zip(names, table)}
