"""Evaluation figures (PNG, matplotlib Agg): predicted vs true, error histogram, ladders of a few frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.labels.units import get_unit
from ..utils.atomic import atomic_save


def axis_label(unit: str) -> str:
    return get_unit(unit).title


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return path


def make_plots(out_dir: str | Path, rows: list[dict[str, Any]], levels: list[int], unit: str, curves: list,
               quality_metric: str = "psnr_y", n_ladders: int = 3) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lab = axis_label(unit)
    paths = []

    fig, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 4), squeeze=False, layout="constrained")
    for ax, k in zip(axes[0], levels):
        t = np.array([r[f"true_jnd{k}"] for r in rows], float)
        p = np.array([r[f"pred_jnd{k}"] for r in rows], float)
        ax.scatter(t, p, s=14, alpha=0.7)
        lo, hi = np.nanmin(np.r_[t, p]) - 1, np.nanmax(np.r_[t, p]) + 1
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set(xlabel=f"true JND{k} ({lab})", ylabel=f"predicted JND{k} ({lab})", title=f"JND{k}: MAE {np.nanmean(np.abs(p - t)):.2f}")
    paths.append(_save(fig, out / "pred_vs_true.png"))

    fig, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 3.5), squeeze=False, layout="constrained")
    for ax, k in zip(axes[0], levels):
        e = np.array([r[f"pred_jnd{k}"] - r[f"true_jnd{k}"] for r in rows], float)
        ax.hist(e[np.isfinite(e)], bins=min(30, max(5, len(e))))
        ax.axvline(0, color="k", lw=1)
        ax.set(xlabel=f"predicted - true ({lab})", ylabel="frames", title=f"JND{k} error")
    paths.append(_save(fig, out / "error_hist.png"))

    with_ladder = [i for i, c in enumerate(curves) if c is not None][:n_ladders]
    if with_ladder:
        names = [m for m in (quality_metric, "vmaf") if any(m in curves[i].metrics for i in with_ladder)]
        names = list(dict.fromkeys(names)) or [quality_metric]
        fig, axes = plt.subplots(len(names), len(with_ladder), figsize=(4 * len(with_ladder), 3.2 * len(names)), squeeze=False, layout="constrained")
        for col, i in enumerate(with_ladder):
            c = curves[i]
            for row, m in enumerate(names):
                ax = axes[row][col]
                if m not in c.metrics:
                    ax.set_axis_off()
                    continue
                ax.plot(c.levels, c.metrics[m], "-", color="0.4", lw=1)
                for j, k in enumerate(levels):
                    t, p = rows[i][f"true_jnd{k}"], rows[i][f"pred_jnd{k}"]
                    ax.plot([t], [c.at(m, t)], "o", color=f"C{j}", label=f"true JND{k}")
                    ax.plot([p], [c.at(m, p)], "x", color=f"C{j}", ms=9, label=f"pred JND{k}")
                ax.set(xlabel=lab, ylabel=m, title=str(rows[i]["name"]))
                if not get_unit(unit).higher_is_worse:
                    ax.invert_xaxis()  # quality falls to the right, as with QP
                if row == 0 and col == 0:
                    ax.legend(fontsize=7)
        paths.append(_save(fig, out / "ladders.png"))
    return paths
