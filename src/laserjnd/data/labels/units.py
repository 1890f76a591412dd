"""Label units, their direction, and which codec measures them: the one unit/codec table.

Two units exist:

- ``qp``: H.264/H.265 quantisation parameter, 0..51. Higher = more compression, so the JND
  levels of one frame satisfy JND1 <= JND2 <= JND3. The reference (best quality) is QP 0.
- ``qf``: JPEG quality factor, 1..100. Higher = better quality, so JND1 >= JND2 >= JND3. The
  reference is QF 100.

Code that needs one direction (plots, error metrics, the SUR rule) converts to *severity*
(``LabelUnit.severity``): QP as is, QF reversed as ``101 - QF``, so larger always means more
distortion and the value stays in the same numeric range.

Non-monotone levels (e.g. JND2 below JND1 in QP) are **warned about, not rejected**, by default:
levels computed independently from subjective samples can cross even though each viewer's own
levels are ordered. None of the real VideoSet 720p rows cross; ``non_monotone="error"`` is there
for label files that must be ordered (e.g. ones we wrote ourselves).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import BadInputError, JNDError

__all__ = [
    "LabelUnit",
    "QP",
    "QF",
    "UNITS",
    "CODEC_UNITS",
    "NonMonotoneLabelsWarning",
    "get_unit",
    "unit_for_codec",
    "validate_labels",
    "to_severity",
    "from_severity",
    "is_monotone",
]


class NonMonotoneLabelsWarning(UserWarning):
    """JND levels of a row are not ordered from least to most distortion."""


@dataclass(frozen=True)
class LabelUnit:
    name: str
    lo: int
    hi: int
    higher_is_worse: bool  # True for QP (more compression), False for QF (better quality)
    description: str
    title: str  # axis and table label
    default_codec: str  # the codec ``prepare`` and ``predict --encode`` use for labels in this unit

    @property
    def levels(self) -> range:
        """Every integer level, lowest first (QP 0..51, QF 1..100)."""
        return range(self.lo, self.hi + 1)

    @property
    def reference(self) -> int:
        """Best-quality level (QP 0, QF 100)."""
        return self.lo if self.higher_is_worse else self.hi

    @property
    def most_compressed(self) -> int:
        """Worst-quality level (QP 51, QF 1)."""
        return self.hi if self.higher_is_worse else self.lo

    def severity(self, x):
        """Map labels to distortion severity: larger = more distortion (QP as is, QF -> 101 - QF)."""
        x = np.asarray(x, dtype=np.float64)
        return x if self.higher_is_worse else (self.lo + self.hi) - x

    def from_severity(self, s):
        """Inverse of :meth:`severity` (the map is its own inverse)."""
        return self.severity(s)

    def in_range(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (x >= self.lo) & (x <= self.hi)

    def __str__(self) -> str:
        return self.name


QP = LabelUnit("qp", 0, 51, True, "H.264/H.265 QP, 0..51, higher = more compression (JND1 <= JND2 <= JND3)", "QP", "h264")
QF = LabelUnit("qf", 1, 100, False, "JPEG quality factor, 1..100, higher = better quality (JND1 >= JND2 >= JND3)",
               "quality factor", "jpeg")
UNITS = {"qp": QP, "qf": QF}

# Codec -> the unit its quality knob is measured in; the keys are the codecs ``data/codecs.py`` implements.
CODEC_UNITS = {"h264": QP, "h265": QP, "jpeg": QF}
_CODEC_ALIASES = {"avc": "h264", "x264": "h264", "libx264": "h264", "hevc": "h265", "x265": "h265",
                  "libx265": "h265", "jpg": "jpeg", "mjpeg": "jpeg"}


def get_unit(unit: str | LabelUnit) -> LabelUnit:
    """``"qp"`` / ``"qf"`` (any case) or a :class:`LabelUnit` -> the :class:`LabelUnit`."""
    if isinstance(unit, LabelUnit):
        return unit
    key = str(unit).strip().lower()
    if key not in UNITS:
        raise JNDError(f"unknown label unit {unit!r}; expected one of {sorted(UNITS)}")
    return UNITS[key]


def unit_for_codec(codec: str) -> LabelUnit:
    """Codec name -> the unit its quality knob is measured in (h264/h265 -> qp, jpeg -> qf)."""
    key = str(codec).strip().lower().replace("-", "").replace(".", "")
    key = _CODEC_ALIASES.get(key, key)
    if key not in CODEC_UNITS:
        raise JNDError(f"unknown codec {codec!r}; expected one of {', '.join(CODEC_UNITS)}")
    return CODEC_UNITS[key]


def to_severity(labels, unit: str | LabelUnit) -> np.ndarray:
    return get_unit(unit).severity(labels)


def from_severity(severity, unit: str | LabelUnit) -> np.ndarray:
    return get_unit(unit).from_severity(severity)


def is_monotone(labels, unit: str | LabelUnit) -> np.ndarray:
    """Per row: True when the levels go from least to most distortion (ties allowed)."""
    sev = get_unit(unit).severity(np.atleast_2d(np.asarray(labels, dtype=np.float64)))
    return np.all(np.diff(sev, axis=1) >= 0, axis=1)


def _where(i: int, lines: Sequence[int] | None) -> str:
    return f"line {lines[i]}" if lines is not None else f"row {i + 1}"


def _fmt(v: float) -> str:
    return str(int(v)) if math.isfinite(v) and float(v).is_integer() else repr(float(v))


def validate_labels(
    labels,
    unit: str | LabelUnit,
    source_path: str | Path | None = None,
    *,
    lines: Sequence[int] | None = None,
    non_monotone: str = "warn",
) -> np.ndarray:
    """Check an (N, K) label array (usually K = 3 levels) and return it as float64.

    Raises :class:`BadInputError` naming ``source_path`` and the line (``lines[i]`` is the file
    line of row ``i``; without it the 1-based row) for NaN/inf and out-of-range values.
    Rows whose levels are not ordered (see module doc) follow ``non_monotone``:
    ``"warn"`` (default, :class:`NonMonotoneLabelsWarning`), ``"error"`` or ``"ignore"``.
    """
    u = get_unit(unit)
    if non_monotone not in ("warn", "error", "ignore"):
        raise ValueError(f"non_monotone must be 'warn', 'error' or 'ignore', not {non_monotone!r}")
    try:
        a = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise BadInputError(source_path, f"labels are not numbers ({e})") from None
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2 or a.shape[1] < 1:
        raise BadInputError(source_path, f"labels must be an (N, levels) table, got shape {a.shape}")
    if lines is not None and len(lines) != len(a):
        raise ValueError("lines must give one line number per label row")
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        i, j = bad[0]
        raise BadInputError(source_path, f"{_where(i, lines)}: JND{j + 1} is {a[i, j]} (not a finite number)")
    bad = np.argwhere(~u.in_range(a))
    if len(bad):
        i, j = bad[0]
        raise BadInputError(
            source_path, f"{_where(i, lines)}: JND{j + 1} = {_fmt(a[i, j])} outside the {u.name} range {u.lo}..{u.hi}"
        )
    if non_monotone != "ignore" and a.shape[1] > 1:
        bad = np.flatnonzero(~is_monotone(a, u))
        if bad.size:
            order = "JND1 <= JND2 <= JND3" if u.higher_is_worse else "JND1 >= JND2 >= JND3"
            i = int(bad[0])
            row = " ".join(_fmt(v) for v in a[i])
            msg = f"{_where(i, lines)}: levels {row} are not ordered ({u.name} needs {order})"
            if bad.size > 1:
                msg += f"; {bad.size} rows in all"
            if non_monotone == "error":
                raise BadInputError(source_path, msg)
            where = f"{source_path}: " if source_path is not None else ""
            warnings.warn(where + msg, NonMonotoneLabelsWarning, stacklevel=2)
    return a
