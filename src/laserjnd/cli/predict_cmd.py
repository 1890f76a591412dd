"""``laserjnd predict CHECKPOINT INPUT...``: JND levels for images, folders and videos.

Folders are searched recursively (sorted). Videos give one row per sampled frame and one per-clip
aggregate row (``frame`` = "all"). ``--encode OUTDIR`` writes each image encoded at its predicted JND
level (H.264 one-frame .264 for QP models, .jpg for QF models) and reports bits saved against
``--reference-level``.

One bad file does not lose the batch: every readable input is predicted and written; each input
that fails gets a row with its one-line reason in the ``error`` column and a line on stderr, and the
command exits with code 2. ``--strict`` stops at the first failure instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import BadInputError, JNDError
from ..inference.predictor import Predictor
from ..inference.batch import (check_encode_options, encode_rows, expand_inputs, predict_rows, table_format,
                               write_rows)
from .common import (Aggregate, Backend, InferencePrecision, TableFormat, Verbose, check_device, check_output_file,
                     configure_output, value)


def resolve_predictor(checkpoint: Path | None, device: str | None = None, batch_size: int = 8,
                      precision: str = "auto", backend: str = "torch") -> Predictor:
    """The one place a predictor is obtained: a checkpoint, or the bundled default model when None."""
    from ..api import load

    return load(checkpoint, device=device, batch_size=batch_size, precision=precision, backend=backend)


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors")


def split_checkpoint(args: list[Path]) -> tuple[Path | None, list[Path]]:
    """``[CHECKPOINT] INPUT...``: a first argument with a checkpoint suffix is the model, else the default model."""
    if args and args[0].suffix.lower() in CHECKPOINT_SUFFIXES:
        return args[0], args[1:]
    return None, args


def predict_command(
    args: list[Path] = typer.Argument(..., metavar="[CHECKPOINT] INPUT...",
                                      help="optional checkpoint (.pt/.ckpt/.safetensors; default: the bundled model), "
                                           "then images, folders (recursive) and videos"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV or JSON file (by suffix); default: table on stdout"),
    fmt: Optional[TableFormat] = typer.Option(None, "--format", help="overrides the --output suffix"),
    frames: int = typer.Option(8, "--frames", min=1, help="frames sampled uniformly per video"),
    aggregate: Aggregate = typer.Option(Aggregate.median, "--aggregate", help="per-clip figure"),
    batch_size: int = typer.Option(8, "--batch-size", "--batch_size", min=1),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: cuda if available)"),
    precision: Annotated[InferencePrecision, typer.Option(
        "--precision", help="auto: int8 or bf16 where the CPU runs it natively and it was measured to change "
                            "these weights' predictions little (train, check-precision), else fp32")] = "auto",
    backend: Annotated[Backend, typer.Option("--backend", help="torch, or onnxruntime (the model exported to ONNX)")] = "torch",
    encode: Optional[Path] = typer.Option(None, "--encode", help="folder: write each image encoded at its predicted JND level"),
    encode_level: int = typer.Option(1, "--encode-level", min=1, max=3, help="which JND level to encode at"),
    reference_level: Optional[int] = typer.Option(None, "--reference-level", help="QP/QF to compare bits against (with --encode)"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace files an earlier --encode run wrote")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="stop at the first input that fails")] = False,
    max_pixels: Annotated[Optional[int], typer.Option(
        "--max-pixels", min=1, help="refuse larger images before decoding (default 150 million)")] = None,
    verbose: Verbose = 0,
) -> None:
    """Predict JND levels (QP or JPEG quality factor) for images, folders and videos."""
    configure_output(verbose)
    set_max_pixels(max_pixels)
    checkpoint, inputs = split_checkpoint(list(args))
    if not inputs:
        raise JNDError("no input given: name images, folders or videos after the checkpoint")
    fmt = table_format(output, value(fmt))
    check_output_file(output, "--output", [checkpoint, *inputs])
    check_encode_folder(encode, reference_level, inputs)
    check_device(device)
    pred = resolve_predictor(checkpoint, device=device, batch_size=batch_size, precision=value(precision),
                             backend=value(backend))
    if encode is not None:
        check_encode_options(pred, encode_level, reference_level)
    items = expand_inputs(list(inputs))
    rows, images = predict_rows(pred, items, frames, value(aggregate), keep_images=encode is not None, strict=strict)
    if encode is not None:
        encode_rows(pred, rows, images, encode, encode_level, reference_level, overwrite=overwrite)
    if output is not None:
        write_rows(rows, output, fmt)
        typer.echo(f"wrote {len(rows)} rows to {output} ({pred.unit.upper()}, model {pred.spec.name})")
    else:
        print_table(pred, rows, show_bits=encode is not None and reference_level is not None)
    report_failures(rows, output)


def set_max_pixels(max_pixels: int | None) -> None:
    """``--max-pixels``: through the environment, so worker processes see it too."""
    from ..data.media import MAX_PIXELS_ENV

    if max_pixels is not None:
        os.environ[MAX_PIXELS_ENV] = str(max_pixels)


def check_encode_folder(encode: Path | None, reference_level: int | None, inputs: list[Path]) -> None:
    if encode is None:
        if reference_level is not None:
            raise JNDError("--reference-level compares encoded sizes: it needs --encode FOLDER")
        return
    if encode.exists() and not encode.is_dir():
        raise BadInputError(encode, "is a file; --encode names a folder for the encoded images")
    target = encode.resolve()
    for given in inputs:
        p = given.resolve()
        if target == p or p in target.parents or target in p.parents:
            raise BadInputError(encode, f"overlaps the input {given}; --encode needs a folder apart from the inputs")


def print_table(pred: Predictor, rows: list[dict[str, Any]], show_bits: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{pred.spec.name}: JND in {pred.unit.upper()}")
    cols = ["input", "frame"] + pred.keys + (["encoded_level", "bits_saved_pct"] if show_bits else [])
    cols += ["error"] if any("error" in r for r in rows) else []
    for c in cols:
        table.add_column(c, overflow="fold")  # paths and reasons wrap, never end in an ellipsis
    for r in rows:
        table.add_row(*[f"{r[c]:.2f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols])
    Console().print(table)


def report_failures(rows: list[dict[str, Any]], output: Path | None) -> None:
    """One line per failed input on stderr, then exit code 2 if any failed."""
    failed = [r for r in rows if r.get("error")]
    if not failed:
        return
    for r in failed:
        frame = f" (frame {r['frame']})" if r.get("frame") not in ("", None) else ""
        print(f"error: {r['input']}{frame}: {r['error']}", file=sys.stderr)
    inputs = {r["input"] for r in rows}
    bad = {r["input"] for r in failed}
    if len(inputs) > 1:
        where = f" (rows with an 'error' in {output})" if output is not None else ""
        print(f"error: {len(bad)} of {len(inputs)} inputs failed{where}; the others were predicted", file=sys.stderr)
    raise typer.Exit(2)


if __name__ == "__main__":
    from .main import run_single

    run_single(predict_command)
