"""``laserjnd demo``: the main job on the embedded default content, ending in a report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import OutputExistsError
from .common import Verbose, configure_output

DEMO_MARKER = ".laserjnd-demo"  # a folder holding it is a demo's own output; a rerun may replace its files


def demo_command(
    out: Path = typer.Option(Path("outputs/demo"), "--out", "-o", help="Folder for data, model, plots and report."),
    quick: bool = typer.Option(False, "--quick", help="Shortened form (CI): few tiny photos, two epochs."),
    model: Optional[str] = typer.Option(None, "--model", help="Train this model from scratch instead of fine-tuning the bundled default."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Training epochs (default 30, quick 2)."),
    seed: int = typer.Option(0, "--seed"),
    verbose: Verbose = 0,
):
    """Prepare the default content, fine-tune the bundled model, evaluate before/after on held-out photos, predict, report."""
    configure_output(verbose, lightning=True)
    from ..demo import DemoConfig, run_demo

    claim_demo_folder(out)
    cfg = DemoConfig.quick(out) if quick else DemoConfig(out=out)
    cfg.model, cfg.seed = model, seed
    if epochs is not None:
        cfg.epochs = epochs
    report = run_demo(cfg)
    typer.echo(f"report: {report.resolve()}  (took {cfg.timings['total']:.0f} s)")


def claim_demo_folder(out: Path) -> None:
    """The demo writes into a new or empty folder, or one an earlier demo wrote; never among other files."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / DEMO_MARKER).is_file():
        raise OutputExistsError(out, "folder is not empty and was not written by `laserjnd demo`; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("written by laserjnd demo; a rerun replaces the files it wrote here\n")
