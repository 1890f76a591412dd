"""What every command shares: help layout, choices, verbosity, and checks on the paths it writes."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterable

import typer
from typer.core import TyperCommand

from ..data.codecs import CODECS, PRESETS
from ..data.labels.proxy import KNOWN_METRICS
from ..data.labels.units import UNITS
from ..errors import BadInputError, JNDError, OutputExistsError
from ..inference.engine import BACKENDS, PRECISIONS
from ..inference.video import AGGREGATES

# ---------------------------------------------------------------- help: one name per option


class OneNameCommand(TyperCommand):
    """Plain help that wraps descriptions, never option names; each option shows its first long name.

    Aliases (``--data-dir`` beside ``--data_dir``) still work; they are left out of ``--help`` so
    the names people read stay whole in an 80-column terminal.
    """

    def format_help(self, ctx, formatter) -> None:
        saved = [(p, p.opts) for p in self.params if isinstance(p, typer.core.TyperOption)]
        for p, opts in saved:
            longs = [o for o in opts if o.startswith("--")]
            p.opts = longs[:1] + [o for o in opts if not o.startswith("--")]
        try:
            super().format_help(ctx, formatter)
        finally:
            for p, opts in saved:
                p.opts = opts


def command_settings() -> dict:
    return {"cls": OneNameCommand, "context_settings": {"max_content_width": 100}}


# ---------------------------------------------------------------- choices


class TableFormat(str, Enum):
    csv = "csv"
    json = "json"


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"


def _choices(name: str, values) -> type[Enum]:
    """A typer choice enum from the library's own list (each fact written once)."""
    return Enum(name, {v: v for v in values}, type=str)


LabelUnit = _choices("LabelUnit", UNITS)
Codec = _choices("Codec", CODECS)
Aggregate = _choices("Aggregate", AGGREGATES)
Preset = _choices("Preset", PRESETS)
QualityMetric = _choices("QualityMetric", KNOWN_METRICS)


class SourceKind(str, Enum):
    default = "default"
    images = "images"
    videoset = "videoset"
    mcljci = "mcljci"
    proxy = "proxy"


class Split(str, Enum):
    train = "train"
    valid = "valid"
    test = "test"


class Accelerator(str, Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"
    cuda = "cuda"
    mps = "mps"


InferencePrecision = _choices("InferencePrecision", PRECISIONS)
Backend = _choices("Backend", BACKENDS)


class TrainPrecision(str, Enum):
    """Lightning's precision names (https://lightning.ai/docs/pytorch/stable/common/precision.html)."""

    fp32 = "32-true"
    fp16_mixed = "16-mixed"
    bf16_mixed = "bf16-mixed"
    fp16 = "16-true"
    bf16 = "bf16-true"
    fp64 = "64-true"


def value(choice) -> str | None:
    """Enum member (or plain text from a Python caller) -> its text."""
    return None if choice is None else getattr(choice, "value", choice)


# ---------------------------------------------------------------- output: ours, quietly

Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True,
                                      help="also show third-party output (tips, warnings, model summary); -vv: debug", show_default=False)]

class _OurLines(logging.Handler):
    """One line per message on the current ``sys.stderr`` (looked up at each message, not kept)."""

    def __init__(self, level: int = logging.NOTSET, plain: bool = False):
        super().__init__(level)
        self.plain = plain  # third-party records: their text as it is

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if not self.plain:
                text = " ".join(text.split())
                text = f"warning: {text}" if record.levelno >= logging.WARNING else text
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure_output(verbose: int = 0, lightning: bool = False) -> None:
    """Our messages on stderr, one line each; third-party tips, warnings and logs only with ``-v``.

    ``lightning``: the command trains. Lightning's import installs its own console handler at INFO
    (device report, tips), so it is imported here and its level set afterwards.
    """
    ours = logging.getLogger("laserjnd")
    if not any(isinstance(h, _OurLines) for h in ours.handlers):
        ours.addHandler(_OurLines())
    ours.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    ours.propagate = False
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, _OurLines)]:
        root.removeHandler(h)
    if verbose:
        root.addHandler(_OurLines(plain=True))
        root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    else:
        root.setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    if not sys.warnoptions:  # python -W ... wins
        warnings.resetwarnings()
        if verbose:
            warnings.simplefilter("default")
        else:
            warnings.simplefilter("ignore")
            warnings.filterwarnings("default", module=r"laserjnd(\.|$)")
    if lightning:
        _quiet_lightning(verbose)


def _quiet_lightning(verbose: int) -> None:
    import lightning  # noqa: F401 - installs its handler now, so the levels below stick

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    logging.getLogger("lightning").propagate = False  # its own handler prints it; not twice


# ---------------------------------------------------------------- checks on values and paths


def check_device(device: str | None) -> str | None:
    """``--device``: a name torch knows, and one this machine has."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise JNDError(f"--device {device!r} is not a device name (use cpu, cuda, cuda:1 or mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise JNDError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise JNDError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise JNDError(f"--device {device}: MPS is not available on this machine (use --device cpu)")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise JNDError(f"--device {device}: laserjnd runs on cpu, cuda or mps")
    return device


def check_output_file(path: Path | None, option: str, inputs: Iterable[Path] = ()) -> None:
    """An output file: not a folder, and never one of the command's inputs."""
    if path is None:
        return
    if path.is_dir():
        raise BadInputError(path, f"is a folder; {option} names the file to write")
    for given in inputs:
        if given is not None and _same_file(path, Path(given)):
            raise OutputExistsError(path, f"is an input of this command; {option} must name another file")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False
