"""``laserjnd demo``: the main job on the embedded default content, ending in a report."""

from __future__ import annotations

from pathlib import Path

import typer


def demo_command(
    out: Path = typer.Option(Path("outputs/demo"), "--out", "-o", help="Folder for data, model, plots and report."),
    quick: bool = typer.Option(False, "--quick", help="Shortened form (CI): few tiny photos, two epochs."),
    model: str = typer.Option("mj-lite", "--model", help="Model of the default recipe."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs (default 40, quick 2)."),
    seed: int = typer.Option(0, "--seed"),
):
    """Prepare the default content, train, evaluate on held-out photos, predict, write a report."""
    from ..demo import DemoConfig, run_demo

    cfg = DemoConfig.quick(out) if quick else DemoConfig(out=out)
    cfg.model, cfg.seed = model, seed
    if epochs is not None:
        cfg.epochs = epochs
    report = run_demo(cfg)
    typer.echo(f"report: {report.resolve()}  (took {cfg.timings['total']:.0f} s)")
