"""``laserjnd predict CHECKPOINT INPUT...``: JND levels for images, folders and videos.

Folders are searched recursively (sorted). Videos give one row per sampled frame and one per-clip
aggregate row (``frame`` = "all"). ``--encode OUTDIR`` writes each image encoded at its predicted JND
level (H.264 one-frame .264 for QP models, .jpg for QF models) and reports bits saved against
``--reference-level``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import BadInputError, JNDError
from ..inference.predictor import Predictor
from ..utils.atomic import atomic_write_bytes, atomic_write_text


def resolve_predictor(checkpoint: Path | None, device: str | None = None, batch_size: int = 8) -> Predictor:
    """The one place a predictor is obtained: a checkpoint, or the bundled default model when None."""
    from ..api import load

    return load(checkpoint, device=device, batch_size=batch_size)


def expand_inputs(inputs: list[Path]) -> list[tuple[str, Path]]:
    """Paths -> (kind, path) with kind "image" or "video"; folders recursive and sorted."""
    from ..data.media import is_image, is_video

    out: list[tuple[str, Path]] = []
    for p in inputs:
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            found = [("image", f) if is_image(f) else ("video", f) for f in files if is_image(f) or is_video(f)]
            if not found:
                raise BadInputError(p, "folder holds no images or videos")
            out += found
        elif not p.exists():
            raise BadInputError(p, "file not found")
        elif is_image(p):
            out.append(("image", p))
        elif is_video(p):
            out.append(("video", p))
        else:
            raise BadInputError(p, f"unknown file type {p.suffix!r} (not an image or video extension)")
    return out


def predict_rows(pred: Predictor, items: list[tuple[str, Path]], n_frames: int = 8, aggregate: str = "median",
                 keep_images: bool = False) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """Rows for every input; images are batched together. Returns (rows, {row index: RGB frame} if asked)."""
    from ..inference.predictor import to_rgb_uint8
    from ..inference.video import aggregate as agg
    from ..inference.video import sample_frames

    rows: list[dict[str, Any]] = []
    frames: dict[int, Any] = {}
    pending: list[tuple[int, Any]] = []

    def flush():
        if pending:
            for (idx, _), p in zip(pending, pred.predict_rgb([im for _, im in pending])):
                rows[idx].update(p)
            pending.clear()

    for kind, path in items:
        if kind == "image":
            rgb = to_rgb_uint8(path)
            rows.append({"input": str(path), "kind": "image", "frame": ""})
            pending.append((len(rows) - 1, rgb))
            if keep_images:
                frames[len(rows) - 1] = rgb
            if len(pending) >= pred.batch_size:
                flush()
        else:
            flush()
            sampled = sample_frames(path, n_frames)
            preds = pred.predict_rgb([im for _, im in sampled])
            for (i, _), p in zip(sampled, preds):
                rows.append({"input": str(path), "kind": "video-frame", "frame": i} | p)
            rows.append({"input": str(path), "kind": f"video-{aggregate}", "frame": "all"} | agg(preds, aggregate))
    flush()
    return rows, frames


def encode_rows(pred: Predictor, rows: list[dict[str, Any]], frames: dict[int, Any], outdir: Path, level: int,
                reference_level: int | None) -> None:
    """Encode each image at its predicted JND-``level`` value; add bits and savings to its row."""
    from ..data.codecs import CodecSettings, encode, round_level

    key = f"jnd{level}"
    if key not in pred.keys:
        raise JNDError(f"--encode-level {level}: the model predicts only {', '.join(pred.keys)}")
    settings = CodecSettings(codec="jpeg" if pred.unit == "qf" else "h264")
    lo, hi = settings.levels[0], settings.levels[-1]
    suffix = ".jpg" if settings.codec == "jpeg" else ".264"
    outdir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for idx, rgb in frames.items():
        row = rows[idx]
        lv = min(max(round_level(row[key]), lo), hi)  # clamp to the codec's legal range
        data = encode(rgb, lv, settings)
        name = Path(row["input"]).stem
        while name in used:  # same stem in two folders
            name += "_"
        used.add(name)
        out = outdir / f"{name}_{key}_{pred.unit}{lv}{suffix}"
        atomic_write_bytes(out, data)
        row.update(encoded_path=str(out), encoded_level=lv, encoded_bits=8 * len(data))
        if reference_level is not None:
            ref_bits = 8 * len(encode(rgb, int(reference_level), settings))
            row.update(reference_level=int(reference_level), reference_bits=ref_bits,
                       bits_saved_pct=100.0 * (ref_bits - 8 * len(data)) / ref_bits)


def write_rows(rows: list[dict[str, Any]], output: Path, fmt: str | None) -> None:
    fmt = (fmt or output.suffix.lstrip(".") or "csv").lower()
    if fmt == "json":
        atomic_write_text(output, json.dumps(rows, indent=2) + "\n")
        return
    if fmt != "csv":
        raise JNDError(f"--format must be csv or json, got {fmt!r}")
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, restval="")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_text(output, buf.getvalue())


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
    fmt: Optional[str] = typer.Option(None, "--format", help="csv or json (overrides the suffix)"),
    frames: int = typer.Option(8, "--frames", help="frames sampled uniformly per video"),
    aggregate: str = typer.Option("median", "--aggregate", help="per-clip figure: median, mean, min, max"),
    batch_size: int = typer.Option(8, "--batch-size", "--batch_size"),
    device: Optional[str] = typer.Option(None, "--device", help="default: cuda if available, else cpu"),
    encode: Optional[Path] = typer.Option(None, "--encode", help="write each image encoded at its predicted JND level here"),
    encode_level: int = typer.Option(1, "--encode-level", help="which JND level to encode at"),
    reference_level: Optional[int] = typer.Option(None, "--reference-level", help="QP/QF to compare bits against"),
) -> None:
    """Predict JND levels (QP or JPEG quality factor) for images, folders and videos."""
    if frames < 1:
        raise JNDError(f"--frames must be >= 1, got {frames}")
    checkpoint, inputs = split_checkpoint(list(args))
    if not inputs:
        raise JNDError("no input given: name images, folders or videos after the checkpoint")
    pred = resolve_predictor(checkpoint, device=device, batch_size=batch_size)
    items = expand_inputs(list(inputs))
    rows, images = predict_rows(pred, items, frames, aggregate, keep_images=encode is not None)
    if encode is not None:
        encode_rows(pred, rows, images, encode, encode_level, reference_level)
    if output is not None:
        write_rows(rows, output, fmt)
        typer.echo(f"wrote {len(rows)} rows to {output} ({pred.unit.upper()}, model {pred.spec.name})")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{pred.spec.name}: JND in {pred.unit.upper()}")
        cols = ["input", "frame"] + pred.keys + (["encoded_level", "bits_saved_pct"] if encode and reference_level is not None else [])
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(*[f"{r[c]:.2f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols])
        Console().print(table)


if __name__ == "__main__":
    from .main import run_single

    run_single(predict_command)
