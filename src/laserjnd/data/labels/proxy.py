"""Objective **proxy labels** for any content, from an encoding ladder.

These are *proxy labels*, not subjective JNDs: no viewer was asked. Proxy JND_k is the most
compressed level at which an objective metric (VMAF by default) stays within ``k * delta`` points
of the reference (best-quality) encode, walking from the reference outwards, so a curve with a
dip cannot skip past it:

    JND_k = the last level q (in order of growing distortion, from the reference) such that every
            level q' from the reference up to q has  score(ref) - score(q') <= k * delta.

QP: the largest such QP; QF: the smallest such QF. If even the most compressed level stays within
the band, the label is that level and it is flagged *censored* (the true point lies beyond the
ladder). All metrics are treated as higher-is-better (VMAF, PSNR, SSIM).

Default band: VMAF 6 points per JND (a commonly used "one JND" step for VMAF). PSNR and SSIM have
no agreed step, so their ``delta`` must be given explicitly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ...errors import JNDError
from .units import LabelUnit, get_unit, unit_for_codec

__all__ = ["ProxyRule", "DEFAULT_DELTAS", "KNOWN_METRICS", "proxy_labels", "proxy_labels_from_ladder", "ladder_unit"]

KNOWN_METRICS = ("vmaf", "psnr_y", "psnr_rgb", "ssim")
DEFAULT_DELTAS = {"vmaf": 6.0}
_TOL = 1e-9  # scores exactly on the band edge count as inside despite float noise


@dataclass(frozen=True)
class ProxyRule:
    """How proxy labels are made. ``delta=None`` takes :data:`DEFAULT_DELTAS` (VMAF only).

    ``reference=None`` uses the best-quality level of the ladder (QP 0 / QF 100 for a full one).
    """

    metric: str = "vmaf"
    delta: float | None = None
    reference: int | None = None
    n_levels: int = 3
    kind: str = field(default="proxy", init=False)

    def __post_init__(self):
        metric = str(self.metric).strip().lower()
        object.__setattr__(self, "metric", metric)
        if metric not in KNOWN_METRICS:
            raise JNDError(f"unknown proxy metric {self.metric!r}; expected one of {', '.join(KNOWN_METRICS)}")
        delta = self.delta
        if delta is None:
            if metric not in DEFAULT_DELTAS:
                raise JNDError(f"proxy metric {metric} has no default step: give delta (metric points per JND)")
            delta = DEFAULT_DELTAS[metric]
        delta = float(delta)
        if not math.isfinite(delta) or delta <= 0:
            raise JNDError(f"proxy delta must be a positive number, got {self.delta}")
        object.__setattr__(self, "delta", delta)
        if not isinstance(self.n_levels, int) or self.n_levels < 1:
            raise JNDError(f"n_levels must be a positive integer, got {self.n_levels!r}")

    @property
    def description(self) -> str:
        ref = "the best-quality encode" if self.reference is None else f"the encode at level {self.reference}"
        return (
            f"proxy labels (objective, not subjective JND): JND_k is the most compressed level whose "
            f"{self.metric} stays within k x {self.delta:g} points of {ref} at every level up to it, "
            f"k = 1..{self.n_levels}; censored when the whole ladder stays within"
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["description"] = self.description
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProxyRule":
        if d.get("kind", "proxy") != "proxy":
            raise JNDError(f"not a proxy label rule (kind {d.get('kind')!r})")
        return cls(**{k: d[k] for k in ("metric", "delta", "reference", "n_levels") if k in d})


def proxy_labels(levels, scores, unit: str | LabelUnit, rule: ProxyRule | None = None, *, return_censored: bool = False):
    """Proxy labels (not subjective JND) from one ladder: ``levels`` and the metric ``scores`` at them.

    Returns a float array of ``rule.n_levels`` labels in ``unit``; with ``return_censored=True``
    also a bool array, True where the label is the ladder's most compressed level because the
    metric never left the band.
    """
    rule = rule or ProxyRule()
    u = get_unit(unit)
    lv = np.asarray(levels, dtype=np.float64).ravel()
    sc = np.asarray(scores, dtype=np.float64).ravel()
    if lv.size != sc.size:
        raise JNDError(f"ladder has {lv.size} levels but {sc.size} {rule.metric} scores")
    if lv.size < 2:
        raise JNDError("a ladder needs at least two levels to make proxy labels")
    if not np.all(np.isfinite(sc)):
        raise JNDError(f"ladder {rule.metric} scores contain NaN or inf at level(s) {lv[~np.isfinite(sc)].tolist()}")
    if not np.all(u.in_range(lv)):
        raise JNDError(f"ladder levels outside the {u.name} range {u.lo}..{u.hi}")
    step = np.diff(lv)
    if not (np.all(step > 0) or np.all(step < 0)):
        raise JNDError("ladder levels must be strictly monotone")
    order = np.argsort(u.severity(lv))  # reference side first
    lv, sc = lv[order], sc[order]
    if rule.reference is None:
        start = 0
    else:
        hits = np.flatnonzero(lv == rule.reference)
        if hits.size == 0:
            raise JNDError(f"reference level {rule.reference} is not on the ladder {lv.astype(int).tolist()}")
        start = int(hits[0])
    lv, sc = lv[start:], sc[start:]
    drop = sc[0] - sc  # how far each level fell below the reference
    labels = np.empty(rule.n_levels)
    censored = np.zeros(rule.n_levels, dtype=bool)
    for k in range(1, rule.n_levels + 1):
        out = np.flatnonzero(drop > k * rule.delta + _TOL)
        if out.size == 0:
            labels[k - 1], censored[k - 1] = lv[-1], True
        else:
            labels[k - 1] = lv[out[0] - 1]  # out[0] >= 1: the reference itself has drop 0
    sev = u.severity(labels)
    assert np.all(np.diff(sev) >= 0), "proxy labels must grow in distortion with k"
    return (labels, censored) if return_censored else labels


def ladder_unit(ladder) -> LabelUnit:
    """The unit of a ladder: ``ladder.unit`` if it has one, else from ``ladder.settings`` codec."""
    unit = getattr(ladder, "unit", None)
    if unit is not None:
        return get_unit(unit)
    settings = getattr(ladder, "settings", None)
    codec = settings.get("codec") if isinstance(settings, dict) else getattr(settings, "codec", None)
    if codec is None:
        raise JNDError("ladder has no unit and no settings['codec'] to derive it from")
    return unit_for_codec(codec)


def proxy_labels_from_ladder(ladder, rule: ProxyRule | None = None, *, return_censored: bool = False):
    """Proxy labels (not subjective JND) from a ladder with ``.levels``, ``.metric(name)`` and
    ``.settings["codec"]`` (h264/h265 -> QP, jpeg -> QF)."""
    rule = rule or ProxyRule()
    return proxy_labels(ladder.levels, ladder.metric(rule.metric), ladder_unit(ladder), rule,
                        return_censored=return_censored)
