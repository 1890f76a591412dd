"""VideoSet subjective JND labels (one CSV per JND level) and the satisfied-user-ratio (SUR) rule.

CSV columns: ``anchor, jnd, mean, normality, samples, samples_no, sequence_index,
standard_deviation``. ``samples`` lists each viewer's JND as an absolute QP; for the 2nd/3rd JND
``anchor`` is the previous level's JND (every sample lies above it), so the rule below does not
need the anchor.

**SUR rule (reproduces the ``jnd`` column of all 3 x 220 rows of the 720p files exactly):**
a viewer's sample ``s`` is the first QP at which that viewer sees the difference, so the
satisfied user ratio at QP ``q`` is the fraction of viewers with ``s > q``. The JND at SUR level
``p`` (0.75) is the ``1 - p`` quantile of the samples with linear interpolation between order
statistics (numpy's default ``method="linear"``, position ``(1 - p) * (n - 1)`` in the sorted
samples), rounded half *up* (towards more compression). Neither the Gaussian fit (``mean``,
``standard_deviation``, ``normality``) nor outlier removal is involved: the Gaussian rule
``round(mean - 0.674 * std)`` reproduces only 46% / 73% / 73% of the rows, and numpy's
half-to-even rounding 95% / 99% / 99.5%. ``standard_deviation`` is the sample std (ddof=1).

In SUR terms: the JND is where the piecewise-linear SUR curve (``sur_curve(..., interpolate=True)``)
falls to ``p``. The step curve (``interpolate=False``) is the plain fraction of viewers.

For the JPEG quality factor (MCL-JCI) the same rule runs on severity (``101 - QF``): SUR(qf) is the
fraction of viewers with ``s < qf``, the JND is the ``p`` quantile, rounded half *down*.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import BadInputError, JNDError
from .units import QP, LabelUnit, get_unit, validate_labels

__all__ = [
    "VideoSetRecord",
    "read_videoset_csv",
    "sur_curve",
    "jnd_from_samples",
    "jnd_from_sur_curve",
    "load_videoset_labels",
]

COLUMNS = ("anchor", "jnd", "mean", "normality", "samples", "samples_no", "sequence_index", "standard_deviation")


@dataclass(frozen=True)
class VideoSetRecord:
    """One row of a VideoSet CSV (one sequence, one JND level)."""

    sequence_index: int
    anchor: int  # previous level's JND (0 for the 1st JND)
    jnd: int  # the published JND (QP)
    samples: np.ndarray  # each viewer's JND, absolute QP (int)
    mean: float
    std: float  # sample standard deviation (ddof=1) of ``samples``
    normality: bool  # passed the dataset's normality test
    samples_no: int
    line: int  # line in the CSV (header = 1)


# --- SUR rule ---------------------------------------------------------------------------------


def _samples(samples, unit: LabelUnit) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise JNDError("no samples to compute a SUR / JND from")
    if not np.all(np.isfinite(x)):
        raise JNDError("samples contain NaN or inf")
    return unit.severity(x)


def _round_half_up(x):
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5)


def sur_curve(samples, levels=None, *, unit: str | LabelUnit = "qp", interpolate: bool = False) -> np.ndarray:
    """Satisfied user ratio at each of ``levels``: the fraction of viewers who do not yet see a difference.

    QP: ``SUR(q) = mean(samples > q)``; QF: ``SUR(qf) = mean(samples < qf)``. With
    ``interpolate=True`` the piecewise-linear curve whose crossing of ``p`` is exactly
    ``jnd_from_samples(samples, p, rounded=False)`` (linear interpolation between sorted samples
    at plotting positions ``i / (n - 1)``). ``levels`` defaults to all levels of the unit
    (QP 0..51, QF 1..100).
    """
    u = get_unit(unit)
    sev = np.sort(_samples(samples, u))
    lv = np.arange(u.lo, u.hi + 1) if levels is None else np.asarray(levels, dtype=np.float64)
    q = u.severity(lv)
    if not interpolate:
        return (sev[None, :] > np.atleast_1d(q)[:, None]).mean(axis=1).reshape(np.shape(q))
    n = sev.size
    qa = np.atleast_1d(q).astype(np.float64)
    k = np.searchsorted(sev, qa, side="right") - 1  # last sample <= q
    cdf = np.empty_like(qa)
    cdf[k < 0] = 0.0
    cdf[k >= n - 1] = 1.0
    mid = (k >= 0) & (k < n - 1)
    km = k[mid]
    lo, hi = sev[km], sev[km + 1]  # lo <= q < hi, so hi > lo
    cdf[mid] = (km + (qa[mid] - lo) / (hi - lo)) / (n - 1)
    return (1.0 - cdf).reshape(np.shape(q))


def jnd_from_samples(samples, sur: float = 0.75, *, unit: str | LabelUnit = "qp", rounded: bool = True):
    """The level where the SUR falls to ``sur`` (see module doc for the exact rule).

    QP: ``floor(quantile(samples, 1 - sur) + 0.5)``; QF: ``ceil(quantile(samples, sur) - 0.5)``.
    Returns an ``int`` (``float`` when ``rounded=False``).
    """
    if not 0.0 < sur < 1.0:
        raise JNDError(f"SUR level must be between 0 and 1, got {sur}")
    u = get_unit(unit)
    q = float(np.quantile(_samples(samples, u), 1.0 - sur, method="linear"))
    if not rounded:
        return float(u.from_severity(q))
    return int(u.from_severity(_round_half_up(q)))


def jnd_from_sur_curve(levels, sur_values, sur: float = 0.75, *, unit: str | LabelUnit = "qp") -> float:
    """Where a tabulated SUR curve crosses ``sur`` (linear interpolation, not rounded).

    The curve must be non-increasing in severity. Returns the most severe level if it never drops
    to ``sur``, the least severe one if it starts below.
    """
    u = get_unit(unit)
    sev = u.severity(levels)
    y = np.asarray(sur_values, dtype=np.float64)
    order = np.argsort(sev, kind="stable")
    sev, y = sev[order], y[order]
    if np.any(np.diff(y) > 1e-9):
        raise JNDError("SUR curve must not rise as distortion grows")
    # np.interp needs increasing x: SUR falls with severity, so interpolate on -SUR.
    return float(u.from_severity(np.interp(-sur, -y, sev)))


# --- CSV reading ------------------------------------------------------------------------------


def _int(path, line, col, v) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise BadInputError(path, f"line {line}: column {col!r} {v!r} is not a number") from None
    if not math.isfinite(f) or not f.is_integer():
        raise BadInputError(path, f"line {line}: column {col!r} {v!r} is not a whole number")
    return int(f)


def _float(path, line, col, v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise BadInputError(path, f"line {line}: column {col!r} {v!r} is not a number") from None


def read_videoset_csv(path: str | Path) -> list[VideoSetRecord]:
    """Read one VideoSet per-level CSV. Errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "VideoSet CSV not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(path, "not a UTF-8 text file") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise BadInputError(path, "empty file")
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadInputError(path, f"line 1: missing column(s) {', '.join(missing)}; found {', '.join(header)}")
    idx = {c: header.index(c) for c in COLUMNS}
    out: list[VideoSetRecord] = []
    seen: dict[int, int] = {}
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise BadInputError(path, f"line {line}: {len(row)} fields, header has {len(header)}")
        get = {c: row[i].strip() for c, i in idx.items()}
        try:
            raw = json.loads(get["samples"])
        except json.JSONDecodeError:
            raise BadInputError(path, f"line {line}: 'samples' is not a list like [33, 35, 31]") from None
        if not isinstance(raw, list) or not raw or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            raise BadInputError(path, f"line {line}: 'samples' must be a non-empty list of numbers")
        samples = np.asarray(raw, dtype=np.float64)
        if not np.all(np.isfinite(samples)) or not np.all(samples == np.round(samples)):
            raise BadInputError(path, f"line {line}: 'samples' must be whole QP values")
        if not np.all(QP.in_range(samples)):
            raise BadInputError(path, f"line {line}: a sample lies outside the QP range {QP.lo}..{QP.hi}")
        rec = VideoSetRecord(
            sequence_index=_int(path, line, "sequence_index", get["sequence_index"]),
            anchor=_int(path, line, "anchor", get["anchor"]),
            jnd=_int(path, line, "jnd", get["jnd"]),
            samples=samples.astype(np.int64),
            mean=_float(path, line, "mean", get["mean"]),
            std=_float(path, line, "standard_deviation", get["standard_deviation"]),
            normality=bool(_int(path, line, "normality", get["normality"])),
            samples_no=_int(path, line, "samples_no", get["samples_no"]),
            line=line,
        )
        if rec.samples_no != samples.size:
            raise BadInputError(path, f"line {line}: samples_no is {rec.samples_no} but 'samples' has {samples.size} values")
        for col, v in (("jnd", rec.jnd), ("anchor", rec.anchor)):
            if not QP.in_range(v):
                raise BadInputError(path, f"line {line}: {col} = {v} outside the QP range {QP.lo}..{QP.hi}")
        if rec.sequence_index in seen:
            raise BadInputError(path, f"line {line}: sequence_index {rec.sequence_index} repeats line {seen[rec.sequence_index]}")
        seen[rec.sequence_index] = line
        out.append(rec)
    if not out:
        raise BadInputError(path, "no data rows")
    return out


def load_videoset_labels(
    csv_1st: str | Path,
    csv_2nd: str | Path,
    csv_3rd: str | Path,
    *,
    sur: float = 0.75,
    source: str = "auto",
    non_monotone: str = "warn",
) -> dict[int, tuple[float, float, float]]:
    """``sequence_index -> (JND1, JND2, JND3)`` in QP from the three per-level CSVs.

    ``source="file"`` uses the published ``jnd`` column (only valid for ``sur=0.75``, the level it
    was made with); ``source="samples"`` recomputes it from the viewers' samples at ``sur``;
    ``"auto"`` (default) takes the file at 0.75 and recomputes otherwise. At 0.75 both agree on
    every row of the real 720p files.
    The three files must list the same sequences, and each level's ``anchor`` must equal the
    previous level's published JND (otherwise the files come from different sets).
    """
    if source not in ("auto", "file", "samples"):
        raise JNDError(f"source must be 'auto', 'file' or 'samples', not {source!r}")
    if source == "auto":
        source = "file" if math.isclose(sur, 0.75) else "samples"
    if source == "file" and not math.isclose(sur, 0.75):
        raise JNDError(f"the published JND columns are at SUR 0.75; use source='samples' for SUR {sur}")
    paths = [Path(p) for p in (csv_1st, csv_2nd, csv_3rd)]
    levels = [{r.sequence_index: r for r in read_videoset_csv(p)} for p in paths]
    keys = set(levels[0])
    for p, lv in zip(paths[1:], levels[1:]):
        if set(lv) != keys:
            extra = sorted(set(lv) ^ keys)[:5]
            raise BadInputError(p, f"lists other sequences than {paths[0].name} (e.g. sequence_index {extra})")
    for k in (1, 2):
        for seq, rec in levels[k].items():
            if rec.anchor != levels[k - 1][seq].jnd:
                raise BadInputError(
                    paths[k], f"line {rec.line}: anchor {rec.anchor} differs from JND{k} {levels[k - 1][seq].jnd} "
                    f"of sequence {seq} in {paths[k - 1].name}"
                )
    seqs = sorted(keys)
    if source == "file":
        table = np.array([[lv[s].jnd for lv in levels] for s in seqs], dtype=np.float64)
    else:
        table = np.array([[jnd_from_samples(lv[s].samples, sur) for lv in levels] for s in seqs], dtype=np.float64)
    validate_labels(table, QP, paths[0], lines=[levels[0][s].line for s in seqs], non_monotone=non_monotone)
    return {s: tuple(float(v) for v in row) for s, row in zip(seqs, table)}
