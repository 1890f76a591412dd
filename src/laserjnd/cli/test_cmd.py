"""``laserjnd test MODEL``: the original scripts' test flags plus kebab-case spellings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..utils.size import parse_size
from .common import Backend, InferencePrecision, QualityMetric, Split, Verbose, check_device, check_output_file, configure_output, value


def _fmt(v, nd=2) -> str:
    return "-" if v is None or v != v else f"{v:.{nd}f}"


def test_command(
    model: str = typer.Argument(..., help="registered model name the checkpoint must hold"),
    data_dir: Path = typer.Option(..., "--data_dir", "--data-dir", help="prepared dataset root"),
    model_weights_path: Path = typer.Option(..., "--model_weights_path", "--model-weights-path", "--checkpoint",
                                            help="checkpoint written by `laserjnd train` (.pt, Lightning .ckpt or .safetensors)"),
    result_path: Path = typer.Option(..., "--result_path", "--result-path", help="per-frame CSV; summary JSON and plots beside it"),
    jnd_column: Optional[int] = typer.Option(None, "--jnd_column", "--jnd-column", min=0, max=2, help="0..2; must match the checkpoint"),
    level: Optional[int] = typer.Option(None, "--level", min=1, max=3, help="1..3; alias of --jnd_column+1"),
    input_size: Optional[str] = typer.Option(None, "--input-size", "--input_size", help="HxW; must match the checkpoint"),
    split: Split = typer.Option(Split.test, "--split"),
    metric: QualityMetric = typer.Option(QualityMetric.psnr_y, "--metric", help="ladder quality metric for the quality error"),
    batch_size: int = typer.Option(8, "--batch_size", "--batch-size", min=1),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: cuda if available)"),
    precision: Annotated[InferencePrecision, typer.Option("--precision", help="inference precision (see `laserjnd predict --help`)")] = "auto",
    backend: Annotated[Backend, typer.Option("--backend", help="torch or onnxruntime")] = "torch",
    plots: bool = typer.Option(True, "--plots/--no-plots"),
    verbose: Verbose = 0,
) -> None:
    """Evaluate a checkpoint on a split: per-frame CSV, summary JSON, plots, and a table vs the median baseline."""
    configure_output(verbose)
    from rich.console import Console
    from rich.table import Table

    from ..evaluation.evaluate import evaluate, summary_paths
    from ..models import resolve_level

    metric = value(metric)
    check_device(device)
    check_output_file(result_path, "--result_path", [model_weights_path, data_dir])
    check_output_file(summary_paths(result_path)[0], "--result_path", [model_weights_path])
    res = evaluate(model_weights_path, data_dir, result_path, expect_model=model, level=resolve_level(level, jnd_column),
                   input_size=parse_size(input_size), split=value(split), quality_metric=metric, batch_size=batch_size,
                   device=device, plots=plots, precision=value(precision),
                   backend=value(backend))
    s = res.summary
    unit = s["unit"].upper()
    qunit = s["quality_error_unit"]
    table = Table(title=f"{s['model']} on {s['split']} ({s['n_frames']} frames, {s['n_frames_with_ladder']} with ladders)")
    for c in ("level", "predictor", f"MAE ({unit})", "SRCC", "PLCC", f"{metric} err ({qunit})", "bits err (%)"):
        table.add_column(c, justify="right")
    for lv, e in s["levels"].items():
        table.add_row(lv.upper(), s["model"], _fmt(e["mae"]), _fmt(e["spearman"]), _fmt(e["pearson"]),
                      _fmt(e[f"{metric}_error"]), _fmt(e["bits_error_pct"], 1))
        b = e.get("baseline")
        if b:
            table.add_row("", "train median", _fmt(b["mae"]), "", "", _fmt(b[f"{metric}_error"]), _fmt(b["bits_error_pct"], 1))
    Console().print(table)
    typer.echo(f"wrote {res.csv_path}, {res.json_path}" + (f", {len(res.plots)} plots in {res.plots[0].parent}" if res.plots else ""))


if __name__ == "__main__":
    from .main import run_single

    run_single(test_command)
