"""Batch prediction over files: images batched together, videos sampled, optional encoding at the
predicted JND, and the rows written as CSV/JSON. The ``predict`` command and the demo both use it.

One bad file does not lose the batch: an input that fails gets a row with its one-line reason in
the ``error`` column (``strict``: the error is raised instead).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from ..errors import BadInputError, JNDError
from ..utils.atomic import atomic_write_bytes, atomic_write_text, refuse_existing
from .predictor import Predictor


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
                 keep_images: bool = False, strict: bool = False) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """Rows for every input; images are batched together. Returns (rows, {row index: RGB frame} if asked).

    An input that cannot be read, or whose prediction is not finite, gets a row with an ``error``
    (``strict``: the error is raised instead).
    """
    from .predictor import as_rgb_frame

    rows: list[dict[str, Any]] = []
    frames: dict[int, Any] = {}
    pending: list[int] = []  # row indices of read images awaiting a batch

    def flush():
        if pending:
            for idx, p in zip(pending, pred.predict_rgb([frames[i] for i in pending])):
                rows[idx].update(_checked(p, rows[idx], strict))
                if not keep_images or "error" in rows[idx]:
                    del frames[idx]  # only a batch of decoded images is held at a time
            pending.clear()

    def failed(kind: str, path: Path, e: BadInputError) -> None:
        if strict:
            raise e
        rows.append({"input": str(path), "kind": kind, "frame": "", "error": e.problem})

    for kind, path in items:
        if kind == "image":
            try:
                rgb = as_rgb_frame(path)
            except BadInputError as e:
                failed(kind, path, e)
                continue
            rows.append({"input": str(path), "kind": "image", "frame": ""})
            frames[len(rows) - 1] = rgb
            pending.append(len(rows) - 1)
            if len(pending) >= pred.batch_size:
                flush()
        else:
            flush()
            try:
                rows += _video_rows(pred, path, n_frames, aggregate, strict)
            except BadInputError as e:
                failed(kind, path, e)
    flush()
    return rows, frames


def _video_rows(pred: Predictor, path: Path, n_frames: int, how: str, strict: bool) -> list[dict[str, Any]]:
    from ..data.media import read_video_frames
    from .video import aggregate

    sampled = read_video_frames(path, n_frames)
    rows = [{"input": str(path), "kind": "video-frame", "frame": vf.index} for vf in sampled]
    preds = pred.predict_rgb([vf.image for vf in sampled])
    for row, p in zip(rows, preds):
        row.update(_checked(p, row, strict))
    good = [p for row, p in zip(rows, preds) if "error" not in row]
    clip = {"input": str(path), "kind": f"video-{how}", "frame": "all"}
    if len(good) < len(preds):
        clip["error"] = f"{len(preds) - len(good)} of {len(preds)} sampled frames have no finite prediction"
    else:
        clip |= aggregate(good, how)
    return rows + [clip]


def _checked(p: dict[str, float], row: dict[str, Any], strict: bool) -> dict[str, Any]:
    """A prediction that is NaN or infinite is an error for its input, never a number in the table."""
    if all(math.isfinite(v) for v in p.values()):
        return p
    problem = "the model's prediction is not a finite number (NaN or inf)"
    if strict:
        raise BadInputError(row["input"], problem)
    return {"error": problem}


def encode_plan(pred: Predictor, rows: list[dict[str, Any]], frames: dict[int, Any], outdir: Path,
                level: int) -> list[tuple[int, int, Path]]:
    """(row index, codec level, output file) for each image to encode; names are unique within the run."""
    from ..data.codecs import round_level

    key = f"jnd{level}"
    settings = codec_settings(pred)
    lo, hi = settings.levels[0], settings.levels[-1]
    suffix = ".jpg" if settings.codec == "jpeg" else ".264"
    used: set[str] = set()
    plan = []
    for idx in frames:
        row = rows[idx]
        lv = min(max(round_level(row[key]), lo), hi)  # clamp to the codec's legal range
        name = Path(row["input"]).stem
        while name in used:  # same stem in two folders
            name += "_"
        used.add(name)
        plan.append((idx, lv, outdir / f"{name}_{key}_{pred.unit}{lv}{suffix}"))
    return plan


def codec_settings(pred: Predictor):
    from ..data.codecs import CodecSettings
    from ..data.labels.units import get_unit

    return CodecSettings(codec=get_unit(pred.unit).default_codec)


def check_encode_options(pred: Predictor, level: int, reference_level: int | None) -> None:
    """``--encode-level`` and ``--reference-level`` against the model and codec, before anything is written."""
    from ..data.codecs import check_level

    if f"jnd{level}" not in pred.keys:
        raise JNDError(f"--encode-level {level}: the model predicts only {', '.join(pred.keys)}")
    if reference_level is not None:
        try:
            check_level(reference_level, codec_settings(pred))
        except BadInputError as e:
            raise JNDError(f"--reference-level {reference_level}: {e.problem}") from None


def encode_rows(pred: Predictor, rows: list[dict[str, Any]], frames: dict[int, Any], outdir: Path, level: int,
                reference_level: int | None, overwrite: bool = False) -> None:
    """Encode each image at its predicted JND-``level`` value; add bits and savings to its row.

    Every output name is checked before the first file is written: an existing file is replaced
    only with ``overwrite``.
    """
    from ..data.codecs import encode

    check_encode_options(pred, level, reference_level)
    plan = encode_plan(pred, rows, frames, outdir, level)
    for _, _, out in plan:
        refuse_existing(out, "--encode folder", overwrite)
    settings = codec_settings(pred)
    outdir.mkdir(parents=True, exist_ok=True)
    for idx, lv, out in plan:
        rgb, row = frames[idx], rows[idx]
        data = encode(rgb, lv, settings)
        atomic_write_bytes(out, data)
        row.update(encoded_path=str(out), encoded_level=lv, encoded_bits=8 * len(data))
        if reference_level is not None:
            ref_bits = 8 * len(encode(rgb, int(reference_level), settings))
            row.update(reference_level=int(reference_level), reference_bits=ref_bits,
                       bits_saved_pct=100.0 * (ref_bits - 8 * len(data)) / ref_bits)


def table_format(output: Path | None, fmt: str | None) -> str | None:
    """csv or json from ``--format`` or the output's suffix; an impossible combination is an error."""
    if output is None:
        if fmt is not None:
            raise JNDError(f"--format {fmt} applies to --output; without it the predictions print as a table")
        return None
    fmt = fmt or output.suffix.lstrip(".").lower() or "csv"
    if fmt not in ("csv", "json"):
        raise JNDError(f"--output {output}: write .csv or .json (or name one with --format), not {output.suffix!r}")
    return fmt


def write_rows(rows: list[dict[str, Any]], output: Path, fmt: str | None) -> None:
    fmt = table_format(output, fmt)
    if fmt == "json":
        atomic_write_text(output, json.dumps(rows, indent=2) + "\n")
        return
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, restval="")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_text(output, buf.getvalue())
