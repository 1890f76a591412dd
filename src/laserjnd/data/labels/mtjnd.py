"""The MTJND layout's ``JND-Levels.txt``: one line per image, ``JND1 JND2 JND3`` separated by
whitespace.

The original code paired lines with the images in directory-listing order, which is undefined.
Our rule, deterministic everywhere: line ``i`` belongs to the ``i``-th image file of the folder
when file names are sorted with plain Python ``sorted`` (code-point order, case-sensitive, so
``B.png`` sorts before ``a.png`` and ``img10.png`` before ``img2.png``). Image files are those
with an extension in :data:`IMAGE_EXTENSIONS` (any case); hidden files (``.name``) and
sub-folders are ignored.

A file may end with blank lines; a blank line between label lines is an error, because it
would silently shift the pairing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import BadInputError
from ...utils.atomic import atomic_write_text
from ..media import IMAGE_EXTENSIONS
from .units import UNITS, LabelUnit, get_unit, validate_labels

__all__ = ["IMAGE_EXTENSIONS", "LABELS_FILE", "list_frames", "read_jnd_levels", "read_split", "write_jnd_levels"]

LABELS_FILE = "JND-Levels.txt"
N_LEVELS = 3


def list_frames(folder: str | Path) -> list[Path]:
    """Image files of ``folder`` (not recursive) in the pairing order: sorted by file name."""
    folder = Path(folder)
    if not folder.exists():
        raise BadInputError(folder, "folder not found")
    if not folder.is_dir():
        raise BadInputError(folder, "not a folder")
    names = sorted(
        p.name for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    return [folder / n for n in names]


def _read_lines(path: Path) -> tuple[np.ndarray, list[int]]:
    if not path.exists():
        raise BadInputError(path, "label file not found")
    if not path.is_file():
        raise BadInputError(path, "not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM written by Windows editors
    except UnicodeDecodeError:
        raise BadInputError(path, "not a UTF-8 text file") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise BadInputError(path, "empty file; expected one line 'JND1 JND2 JND3' per image")
    rows, numbers = [], []
    for no, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            raise BadInputError(path, f"line {no}: blank line between label lines (it would shift the image pairing)")
        if len(fields) != N_LEVELS:
            raise BadInputError(path, f"line {no}: expected {N_LEVELS} columns (JND1 JND2 JND3), found {len(fields)}")
        row = []
        for col, f in enumerate(fields, start=1):
            try:
                row.append(float(f))
            except ValueError:
                raise BadInputError(path, f"line {no}: column {col} {f!r} is not a number") from None
        rows.append(row)
        numbers.append(no)
    return np.asarray(rows, dtype=np.float64), numbers


def read_jnd_levels(path: str | Path, unit: str | LabelUnit = "qp", *, non_monotone: str = "warn") -> np.ndarray:
    """Read ``JND-Levels.txt`` -> (N, 3) float64 array, checked against ``unit``'s range.

    Errors name the file and line. Unordered levels warn by default (see ``units``).
    """
    path = Path(path)
    labels, numbers = _read_lines(path)
    return validate_labels(labels, get_unit(unit), path, lines=numbers, non_monotone=non_monotone)


def read_split(
    folder: str | Path,
    unit: str | LabelUnit = "qp",
    labels_file: str | Path | None = None,
    *,
    non_monotone: str = "warn",
) -> tuple[list[Path], np.ndarray]:
    """Images of ``folder`` and their labels, paired by sorted file name (see module doc).

    ``labels_file`` defaults to ``folder/JND-Levels.txt``. A count mismatch is an error.
    """
    folder = Path(folder)
    frames = list_frames(folder)
    lf = Path(labels_file) if labels_file is not None else folder / LABELS_FILE
    labels = read_jnd_levels(lf, unit, non_monotone=non_monotone)
    if len(frames) != len(labels):
        raise BadInputError(
            lf, f"{len(frames)} images in {folder} but {len(labels)} label lines (lines pair with images sorted by name)"
        )
    return frames, labels


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def write_jnd_levels(
    path: str | Path, labels, unit: str | LabelUnit | None = None, *, non_monotone: str = "warn"
) -> None:
    """Write (N, 3) labels atomically, one ``JND1 JND2 JND3`` line per image (integers without ``.0``).

    Row order must be the sorted-file-name order of the images they belong to. Pass ``unit`` to
    check range and order; without it only finite values within the range of any unit are required.
    """
    path = Path(path)
    if unit is not None:
        a = validate_labels(labels, get_unit(unit), path, non_monotone=non_monotone)
    else:
        a = np.asarray(labels, dtype=np.float64)
        lo, hi = min(u.lo for u in UNITS.values()), max(u.hi for u in UNITS.values())
        if a.ndim == 2 and a.size and (not np.all(np.isfinite(a)) or a.min() < lo or a.max() > hi):
            raise BadInputError(path, f"labels must be finite numbers within {lo}..{hi}")
    if a.ndim != 2 or a.shape[1] != N_LEVELS:
        raise BadInputError(path, f"expected {N_LEVELS} levels per row, got shape {a.shape}")
    if len(a) == 0:
        raise BadInputError(path, "no label rows to write")
    atomic_write_text(path, "".join(" ".join(_fmt(v) for v in row) + "\n" for row in a))
