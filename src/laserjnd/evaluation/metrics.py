"""Per-level error figures: label MAE, quality error (dB) and bits error (%) read off each frame's ladder.

A ladder gives, per integer level (QP or quality factor), the frame's bits and quality (``psnr_y``,
``psnr_rgb``, ``ssim``, ``vmaf``). A fractional level is read by linear interpolation between the two
neighbouring integer levels; a level outside the ladder is clamped to its end (``np.interp``), so a
wild prediction counts as the ladder's extreme, never as an extrapolated number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInputError


@dataclass
class LadderCurve:
    """The numbers of one ladder, as arrays sorted by level."""

    levels: np.ndarray
    metrics: dict[str, np.ndarray]

    def at(self, name: str, level: float) -> float:
        if name not in self.metrics:
            raise KeyError(name)
        vals = self.metrics[name]
        ok = np.isfinite(vals)
        if not ok.any():
            return float("nan")
        return float(np.interp(float(level), self.levels[ok], vals[ok]))


def curve_from_ladder(ladder, names=("bits", "psnr_y", "psnr_rgb", "ssim", "vmaf")) -> LadderCurve:
    """Any object with ``.levels`` and ``.metric(name)`` (``laserjnd.data.ladder.Ladder``) -> arrays."""
    levels = np.asarray(ladder.levels, dtype=np.float64)
    order = np.argsort(levels)
    metrics = {}
    for n in names:
        try:
            v = ladder.metric(n)
        except (KeyError, ValueError, AttributeError):
            continue
        if v is None:
            continue
        metrics[n] = np.asarray(v, dtype=np.float64)[order]
    return LadderCurve(levels[order], metrics)


def load_curve(path: str | Path) -> LadderCurve | None:
    """A frame's ladder JSON -> curve; None when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    from ..data.ladder import Ladder

    try:
        ladder = Ladder.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as e:
        raise BadInputError(path, f"not a readable ladder ({type(e).__name__}: {e})") from None
    return curve_from_ladder(ladder)


def quality_error(curve: LadderCurve, true_level: float, pred_level: float, metric: str = "psnr_y") -> float:
    """|quality(pred) - quality(true)|, e.g. PSNR error in dB."""
    return abs(curve.at(metric, pred_level) - curve.at(metric, true_level))


def bits_error_pct(curve: LadderCurve, true_level: float, pred_level: float) -> float:
    """|bits(pred) - bits(true)| / bits(true), in percent."""
    ref = curve.at("bits", true_level)
    if not ref > 0:
        return float("nan")
    return 100.0 * abs(curve.at("bits", pred_level) - ref) / ref


def mae(true: np.ndarray, pred: np.ndarray) -> float:
    true, pred = np.asarray(true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(true) & np.isfinite(pred)
    return float(np.abs(true[ok] - pred[ok]).mean()) if ok.any() else float("nan")


def nanmean(values) -> float:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def correlations(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Spearman (rank) and Pearson (linear) correlation, as image-quality papers report them.

    NaN when fewer than 3 labelled frames or when either side is constant (a constant predictor
    ranks nothing).
    """
    from scipy.stats import pearsonr, spearmanr

    true, pred = np.asarray(true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(true) & np.isfinite(pred)
    t, p = true[ok], pred[ok]
    if len(t) < 3 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return {"spearman": float("nan"), "pearson": float("nan")}
    return {"spearman": float(spearmanr(t, p)[0]), "pearson": float(pearsonr(t, p)[0])}
