"""``laserjnd check-precision CHECKPOINT INPUT...``: let ``auto`` decide int8/bf16 for weights from elsewhere.

Measures what int8 and bf16 change in the checkpoint's predictions on the named images, folders and videos
(frames it will not be tested on) and records it in the checkpoint, where ``--precision auto`` reads
it. A plain laserjnd checkpoint is updated in place (weights unchanged); Lightning and safetensors
files, or ``--output``, give a new file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import BadInputError
from ..utils.atomic import refuse_existing
from .common import Verbose, check_output_file, configure_output


def check_precision_command(
    checkpoint: Annotated[Path, typer.Argument(help="laserjnd checkpoint (.pt, Lightning .ckpt, .safetensors)")],
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT", help="images, folders (recursive) and videos the model will not be tested on")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here instead of updating CHECKPOINT")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing --output file")] = False,
    frames: Annotated[int, typer.Option("--frames", min=1, help="frames sampled per video")] = 8,
    verbose: Verbose = 0,
) -> None:
    """Measure what int8 and bf16 change on these weights and record it, for --precision auto."""
    configure_output(verbose)
    from ..inference.batch import expand_inputs
    from ..inference.precision_check import check_precision, read_for_check, read_frames, verdict

    if not checkpoint.is_file():
        raise BadInputError(checkpoint, "file not found" if not checkpoint.exists() else "is not a file")
    check_output_file(output, "--output", [checkpoint, *inputs])
    if output is not None:
        refuse_existing(output, "--output", overwrite)
    payload, plain = read_for_check(checkpoint)
    if output is None and not plain:
        raise BadInputError(checkpoint, "is not a plain laserjnd checkpoint (.pt); give --output FILE.pt for the checked copy")
    items = expand_inputs(list(inputs))
    record = check_precision(payload, checkpoint, read_frames(items, frames), source=_named(inputs),
                             output=output or checkpoint)
    print(f"{verdict(record, payload['label_unit'].upper())} -> {output or checkpoint}")


def _named(inputs: list[Path], shown: int = 3) -> str:
    """Where the frames came from, short enough for the checkpoint's metadata."""
    names = ", ".join(map(str, inputs[:shown]))
    return names if len(inputs) <= shown else f"{names} and {len(inputs) - shown} more"
