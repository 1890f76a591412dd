"""``laserjnd import-keras`` and ``laserjnd export``: typer-compatible command functions.

Registered by ``cli/main.py``; errors are :class:`~laserjnd.errors.JNDError` (printed as one line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import JNDError
from ..utils.atomic import refuse_existing
from .common import ExportFormat, LabelUnit, Verbose, check_output_file, configure_output, value

FORMATS = {"onnx": ".onnx", "torchscript": ".ts.pt"}


def import_keras_command(
    file: Annotated[Path, typer.Argument(help="Keras file: .h5 (whole model or save_weights), .keras, .weights.h5")],
    model: Annotated[str, typer.Option("--model", "-m", help="registry name, e.g. mj-lat, mt-3ljnd")],
    output: Annotated[Path, typer.Option("--output", "-o", help="checkpoint to write")],
    level: Annotated[Optional[int], typer.Option(min=1, max=3, help="JND level 1..3 for single-level models")] = None,
    label_unit: Annotated[LabelUnit, typer.Option("--label-unit", help="qp (VideoSet) or qf (MCL-JCI)")] = "qp",
    input_size: Annotated[Optional[str], typer.Option("--input-size", help="HxW; default: the file's, else the paper's")] = None,
    self_check: Annotated[bool, typer.Option("--self-check/--no-self-check",
                                             help="run the file in Keras beside the result (needs TensorFlow)")] = True,
    verbose: Verbose = 0,
) -> None:
    """Convert a Keras LASeR-JND / MTJND weight file into a laserjnd checkpoint."""
    configure_output(verbose)
    from ..interop.keras_import import import_keras

    label_unit = value(label_unit)
    check_output_file(output, "--output", [file])
    from ..utils.size import parse_size

    cfg = {} if level is None else {"level": level}
    size = parse_size(input_size)
    if size is not None:
        cfg["input_size"] = size
    m = import_keras(file, model, out_path=output, label_unit=label_unit, self_check=self_check, **cfg)
    c = m.spec.convention
    print(f"imported {file} as {m.spec.name} (levels {list(m.spec.levels)}, {c.channel_order.upper()} x{c.scale:g}, "
          f"{c.input_size[0]}x{c.input_size[1]}, {label_unit}) -> {output}")


def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="laserjnd checkpoint")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = "onnx",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="default: beside the checkpoint")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing output file")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="ONNX: quantise dynamically to int8 weights (onnxruntime)")] = False,
    verbose: Verbose = 0,
) -> None:
    """Export a checkpoint to ONNX (dynamic batch, metadata; --int8 quantised) or TorchScript."""
    configure_output(verbose)
    from ..interop.export import export_onnx, export_torchscript

    format = value(format)
    out = output or checkpoint.with_name(checkpoint.stem + FORMATS[format])
    check_output_file(out, "--output", [checkpoint])
    refuse_existing(out, "--output", overwrite)
    if int8 and format != "onnx":
        raise JNDError("--int8 applies to --format onnx")
    (export_onnx if format == "onnx" else export_torchscript)(checkpoint, out)
    if int8:
        from ..interop.export import quantize_int8

        quantize_int8(out, out)
    print(f"exported {checkpoint} -> {out} ({format}{', int8' if int8 else ''})")
