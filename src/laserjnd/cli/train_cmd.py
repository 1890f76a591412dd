"""``laserjnd train MODEL``: the original scripts' flags (snake_case) plus kebab-case spellings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import JNDError
from ..utils.size import parse_size
from .common import Accelerator, TrainPrecision, Verbose, check_output_file, configure_output, value


def parse_cfg(items: list[str] | None) -> dict:
    """``--cfg key=value`` pairs (values parsed as JSON when possible, else kept as text)."""
    import json

    out = {}
    for it in items or []:
        if "=" not in it:
            raise JNDError(f"--cfg expects key=value, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def train_command(
    model: str = typer.Argument(..., help="registered model name (see `laserjnd models`)"),
    data_dir: Path = typer.Option(..., "--data_dir", "--data-dir", help="prepared dataset root (train/valid/test)"),
    checkpoint_path: Path = typer.Option(..., "--checkpoint_path", "--checkpoint-path",
                                         help="compact checkpoint written at the end (best validation epoch)"),
    csv_log_path: Optional[Path] = typer.Option(None, "--csv_log_path", "--csv-log-path", help="one CSV row per epoch"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="default: 300 (LASeR-JND) / 500 (MTJND)"),
    batch_size: int = typer.Option(8, "--batch_size", "--batch-size", min=1),
    learning_rate: float = typer.Option(1e-5, "--learning_rate", "--learning-rate", help="Adam learning rate"),
    jnd_column: Optional[int] = typer.Option(None, "--jnd_column", "--jnd-column", min=0, max=2,
                                             help="0..2 (level-1), single-level models"),
    level: Optional[int] = typer.Option(None, "--level", min=0, max=3, help="1..3; alias of --jnd_column+1 (ae: target 0..3)"),
    input_size: Optional[str] = typer.Option(None, "--input-size", "--input_size", help="HxW; default the paper's size"),
    devices: str = typer.Option("1", "--devices", help="passed to Lightning as given: a count, 'auto', or GPU ids like 0,1"),
    num_nodes: int = typer.Option(1, "--num-nodes", "--num_nodes", min=1),
    accelerator: Accelerator = typer.Option(Accelerator.auto, "--accelerator"),
    precision: TrainPrecision = typer.Option(TrainPrecision.fp32, "--precision"),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="continue the run from its last.ckpt (same settings)"),
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="start afresh, replacing an earlier run's model, checkpoints and log")] = False,
    workers: int = typer.Option(0, "--workers", min=0, help="DataLoader worker processes"),
    prereq_dir: Optional[Path] = typer.Option(None, "--prereq-dir", "--prereq_dir",
                                              help="cache of trained prerequisite AEs (default <data_dir>_prerequisites)"),
    prereq_epochs: Optional[int] = typer.Option(None, "--prereq-epochs", min=1, help="epochs for prerequisites (default --epochs)"),
    init_output_bias: bool = typer.Option(False, "--init-output-bias", help="start QP outputs at the train-label median (speeds up short runs; not in the originals). A model with a data-fitted start (texture) always fits it on the train split"),
    init_weights: Optional[str] = typer.Option(
        None, "--init-weights", metavar="default|CHECKPOINT",
        help="fine-tune: start from the bundled default model or a checkpoint of the same model (and its input size)"),
    patience: Optional[int] = typer.Option(None, "--patience", min=1, help="early stopping on val_loss"),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Lightning checkpoints + TensorBoard (default <checkpoint>_run)"),
    diverge_factor: float = typer.Option(1e6, "--diverge-factor", help="stop when loss > this x the first loss"),
    cfg: Optional[list[str]] = typer.Option(None, "--cfg", metavar="KEY=VALUE", help="extra model config key=value (repeatable)"),
    tensorboard: Optional[bool] = typer.Option(None, "--tensorboard/--no-tensorboard",
                                               help="TensorBoard logs in the run folder (default: when installed)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
    verbose: Verbose = 0,
) -> None:
    """Train MODEL (first training or reusing the autoencoders it needs); keeps the best validation epoch."""
    configure_output(verbose, lightning=True)
    from ..models import resolve_level
    from ..training.recipe import TrainConfig, build_model_cfg, train_model

    size = parse_size(input_size)
    check_output_file(checkpoint_path, "--checkpoint_path", [data_dir])
    check_output_file(csv_log_path, "--csv_log_path", [data_dir, checkpoint_path])
    model_cfg = build_model_cfg(model, level=resolve_level(level, jnd_column), input_size=size, extra=parse_cfg(cfg))
    tc = TrainConfig(
        data_dir=data_dir, checkpoint_path=checkpoint_path, input_size=size, csv_log_path=csv_log_path, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, seed=seed, devices=devices, num_nodes=num_nodes,
        accelerator=value(accelerator), precision=value(precision), workers=workers, resume=resume, overwrite=overwrite,
        patience=patience, prereq_dir=prereq_dir, prereq_epochs=prereq_epochs, init_output_bias=init_output_bias,
        run_dir=run_dir, diverge_factor=diverge_factor, init_weights=init_weights, progress=not quiet, tensorboard=tensorboard, verbose=verbose > 0,
    )
    result = train_model(model, model_cfg, tc)
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank == 0:
        reused = [s for s, i in result.prerequisites.items() if i["reused"]]
        trained = [s for s, i in result.prerequisites.items() if not i["reused"]]
        msg = f"saved {result.checkpoint_path}"
        if result.best_val_loss is not None:
            msg += f" (best val_loss {result.best_val_loss:.4g})"
        if trained or reused:
            msg += f"; prerequisites trained: {trained or 'none'}, reused: {reused or 'none'}"
        typer.echo(msg)


if __name__ == "__main__":
    from .main import run_single

    run_single(train_command)
