"""``laserjnd test``: predict a split, compare with its labels and ladders, write CSV + JSON + plots.

Per level: MAE in label units; Spearman and Pearson correlation with the labels; quality error |Q(pred) - Q(true)| (``psnr_y`` in dB by default) and
bits error |bits(pred) - bits(true)| / bits(true) in percent, both read off each frame's ladder
(see ``metrics.py``). The constant training-median predictor is scored beside the model.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..errors import BadInputError, JNDError
from ..utils.atomic import atomic_write_json, atomic_write_text
from .metrics import LadderCurve, bits_error_pct, correlations, load_curve, mae, nanmean, quality_error


@dataclass
class EvalResult:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    csv_path: Path
    json_path: Path
    plots: list[Path] = field(default_factory=list)


def check_model_matches(path: Path, model, *, level: int | None = None, input_size: tuple[int, int] | None = None) -> None:
    spec = model.spec
    if level is not None and tuple(spec.levels) != (level,):
        raise BadInputError(path, f"checkpoint predicts levels {list(spec.levels)}, not JND{level} as requested")
    if input_size is not None and tuple(spec.input_size) != tuple(input_size):
        h, w = spec.input_size
        raise BadInputError(path, f"checkpoint was trained at {h}x{w}, not the requested --input-size {input_size[0]}x{input_size[1]}")


def summary_paths(result_path: Path) -> tuple[Path, Path]:
    result_path = Path(result_path)
    return result_path.with_name(result_path.stem + "_summary.json"), result_path.with_name(result_path.stem + "_plots")


def evaluate(
    checkpoint: str | Path,
    data_dir: str | Path,
    result_path: str | Path,
    *,
    expect_model: str | None = None,
    level: int | None = None,
    input_size: tuple[int, int] | None = None,
    split: str = "test",
    quality_metric: str = "psnr_y",
    batch_size: int = 8,
    device: str | None = None,
    plots: bool = True,
    n_ladder_plots: int = 3,
    precision: str = "auto",
    backend: str = "torch",
) -> EvalResult:
    checkpoint, result_path = Path(checkpoint), Path(result_path)
    model, payload = load_checkpoint(checkpoint, expect_model=expect_model)
    check_model_matches(checkpoint, model, level=level, input_size=input_size)
    unit = payload.get("label_unit", "qp")
    ds = _open_labelled_split(checkpoint, model, unit, data_dir, split)
    levels = list(model.spec.levels)
    pred = predict_split(model, ds, batch_size, device, precision, backend, payload)
    check_finite(checkpoint, ds, pred)
    true = np.asarray(ds.labels, dtype=np.float64)[:, [k - 1 for k in levels]]
    baseline = train_median(data_dir, model.spec.input_size, levels)
    curves: list[LadderCurve | None] = [load_curve(ds.ladder_path(i)) for i in range(len(ds))]
    rows = [frame_row(name, true[i], pred[i], curves[i], levels, quality_metric, baseline)
            for i, name in enumerate(ds.names)]
    summary = _summary(model, payload, checkpoint, data_dir, split, ds, curves, quality_metric,
                       level_summary(rows, true, pred, levels, quality_metric, baseline), baseline is not None)
    json_path, plot_dir = summary_paths(result_path)
    _write_csv(result_path, rows)
    atomic_write_json(json_path, _finite_or_none(summary))
    plot_paths: list[Path] = []
    if plots:
        from .plots import make_plots

        plot_paths = make_plots(plot_dir, rows, levels, unit, curves, quality_metric, n_ladder_plots)
    return EvalResult(rows, summary, result_path, json_path, plot_paths)


def _open_labelled_split(checkpoint: Path, model, unit: str, data_dir: str | Path, split: str):
    """The split the checkpoint is tested on, checked against what the model predicts."""
    from ..data.dataset import open_split

    if "jnd" not in model.spec.outputs:
        raise BadInputError(checkpoint, f"model {model.spec.name!r} predicts no JND level; nothing to test")
    ds = open_split(data_dir, split, model.spec.convention.geometry)
    if len(ds) == 0:
        raise BadInputError(Path(data_dir) / split, "split holds no frames")
    if getattr(ds, "unit", unit) != unit:
        raise BadInputError(checkpoint, f"checkpoint predicts {unit.upper()} but the dataset is labelled in {ds.unit.upper()}")
    return ds


def predict_split(model, ds, batch_size: int = 8, device: str | None = None, precision: str = "auto",
                  backend: str = "torch", payload: dict | None = None) -> np.ndarray:
    """(N, L) predictions for every frame of ``ds``, in dataset order (the inference engine ``predict`` uses)."""
    from ..inference.engine import make_engine
    from ..inference.predictor import default_device, predict_canonical

    engine = make_engine(model, backend, precision, torch.device(device) if device else default_device(), payload,
                         outputs=("jnd",))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)
    preds = [predict_canonical(engine, batch["frame"]).cpu().numpy() for batch in loader]
    return np.concatenate(preds).astype(np.float64)


def check_finite(checkpoint: Path, ds, pred: np.ndarray) -> None:
    """Never dropped from the metrics: a model that answers NaN or inf has failed the test."""
    bad = ~np.isfinite(pred).all(axis=1)
    if bad.any():
        raise BadInputError(checkpoint, f"the model predicts NaN or inf for {int(bad.sum())} of {len(pred)} frames "
                                        f"(first: {ds.names[int(np.argmax(bad))]}); no metrics written")


def train_median(data_dir: str | Path, input_size: tuple[int, int], levels: list[int]) -> np.ndarray | None:
    """The constant predictor: per-level median of the train labels (None without a train split)."""
    from ..data.dataset import open_split

    try:
        labels = np.asarray(open_split(data_dir, "train", tuple(input_size)).labels, dtype=np.float64)
    except BadInputError:
        return None  # no train split: the baseline is left out of the report
    return np.nanmedian(labels[:, [k - 1 for k in levels]], axis=0)


def _ladder_errors(curve: LadderCurve | None, true: float, value: float, metric: str) -> tuple[float, float]:
    """(quality error, bits error %) of predicting ``value`` for a frame whose label is ``true``."""
    ok = curve is not None and np.isfinite(true)
    quality = quality_error(curve, true, value, metric) if ok and metric in curve.metrics else float("nan")
    bits = bits_error_pct(curve, true, value) if ok and "bits" in curve.metrics else float("nan")
    return quality, bits


def frame_row(name: str, true: np.ndarray, pred: np.ndarray, curve: LadderCurve | None, levels: list[int],
              metric: str, baseline: np.ndarray | None) -> dict[str, Any]:
    """One CSV row: per level the label, the prediction, and their errors (and the baseline's)."""
    row: dict[str, Any] = {"name": name}
    for j, k in enumerate(levels):
        t, p = true[j], pred[j]
        row[f"true_jnd{k}"] = t
        row[f"pred_jnd{k}"] = p
        row[f"abs_err_jnd{k}"] = abs(p - t)
        row[f"{metric}_err_jnd{k}"], row[f"bits_err_pct_jnd{k}"] = _ladder_errors(curve, t, p, metric)
        if baseline is not None:
            b = float(baseline[j])
            row[f"baseline_jnd{k}"] = b
            row[f"baseline_{metric}_err_jnd{k}"], row[f"baseline_bits_err_pct_jnd{k}"] = _ladder_errors(curve, t, b, metric)
    return row


def level_summary(rows: list[dict[str, Any]], true: np.ndarray, pred: np.ndarray, levels: list[int], metric: str,
                  baseline: np.ndarray | None) -> dict[str, Any]:
    """Per level: MAE, mean quality and bits errors, means (and the baseline's figures)."""
    def col(key: str) -> list[float]:
        return [r[key] for r in rows]

    per_level = {}
    for j, k in enumerate(levels):
        entry = {
            "mae": mae(true[:, j], pred[:, j]),
            **correlations(true[:, j], pred[:, j]),
            f"{metric}_error": nanmean(col(f"{metric}_err_jnd{k}")),
            "bits_error_pct": nanmean(col(f"bits_err_pct_jnd{k}")),
            "mean_true": nanmean(true[:, j]),
            "mean_pred": nanmean(pred[:, j]),
        }
        if baseline is not None:
            entry["baseline"] = {
                "value": float(baseline[j]),
                "mae": mae(true[:, j], np.full(len(rows), baseline[j])),
                f"{metric}_error": nanmean(col(f"baseline_{metric}_err_jnd{k}")),
                "bits_error_pct": nanmean(col(f"baseline_bits_err_pct_jnd{k}")),
            }
        per_level[f"jnd{k}"] = entry
    return per_level


def _summary(model, payload: dict[str, Any], checkpoint: Path, data_dir, split: str, ds, curves: list, metric: str,
             per_level: dict[str, Any], with_baseline: bool) -> dict[str, Any]:
    from ..data.layout import manifest_hash

    spec = model.spec
    return {
        "model": spec.name,
        "model_cfg": {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.cfg.items()},
        "checkpoint": str(checkpoint),
        "data_dir": str(data_dir),
        "split": split,
        "n_frames": len(ds),
        "n_frames_with_ladder": int(sum(c is not None for c in curves)),
        "unit": payload.get("label_unit", "qp"),
        "quality_metric": metric,
        "quality_error_unit": "dB" if metric.startswith("psnr") else metric,
        "interpolation": "linear between integer ladder levels, clamped to the ladder's range",
        "baseline": "constant: median of the train split labels" if with_baseline else None,
        "data_manifest_hash": manifest_hash(ds.manifest),
        "trained_on_manifest_hash": payload.get("meta", {}).get("data_manifest_hash"),
        "levels": per_level,
    }


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        raise JNDError("nothing to write")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_text(path, buf.getvalue())


def _finite_or_none(obj):
    """JSON has no NaN: missing figures (no ladder) become null."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
