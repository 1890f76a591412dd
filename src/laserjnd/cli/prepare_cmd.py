"""``laserjnd prepare``: build a training-ready dataset from one source kind."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from ..errors import JNDError
from .common import (Codec, LabelUnit, Preset, QualityMetric, SourceKind, Verbose, configure_output, value)


def prepare_command(
    output: Path = typer.Argument(..., help="Dataset root to create (new or empty; built aside, renamed when finished)."),
    inputs: Optional[List[Path]] = typer.Argument(None, help="Input folder(s)/files for the chosen kind."),
    kind: SourceKind = typer.Option(SourceKind.default, "--kind", "-k", help="Source kind."),
    labels: Optional[List[Path]] = typer.Option(None, "--labels", help="images: JND-Levels.txt; videoset: the 1st, 2nd, 3rd CSVs (repeat); mcljci: label folder."),
    unit: LabelUnit = typer.Option(LabelUnit.qp, "--unit", help="Label unit of 'images'/'proxy': qp (H.264/H.265) or qf (JPEG)."),
    codec: Optional[Codec] = typer.Option(None, "--codec", help="Default: h264 for qp, jpeg for qf."),
    preset: Preset = typer.Option("medium", "--preset", metavar="<preset>",
                                  help="x264/x265 preset: ultrafast, superfast, ... medium, slow, ... placebo."),
    frames_per_clip: int = typer.Option(4, "--frames-per-clip", min=1, help="Frames sampled uniformly per video."),
    metric: QualityMetric = typer.Option("vmaf", "--metric", help="Proxy-label metric."),
    delta: Optional[float] = typer.Option(None, "--delta", help="Proxy-label points per JND (vmaf default 6)."),
    sur: float = typer.Option(0.75, "--sur", help="Satisfied-user ratio that defines a subjective JND point, in (0, 1)."),
    max_side: Optional[int] = typer.Option(384, "--max-side", min=1, help="default kind: longest frame side in pixels."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="default kind: use only the first N photos."),
    split: str = typer.Option("0.7,0.15,0.15", "--split", help="train,valid,test fractions over distinct content."),
    seed: int = typer.Option(0, "--seed", help="Seed of the content split."),
    saliency: bool = typer.Option(False, "--saliency", help="Also write visual-attention target maps."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Ladder cache (default ~/.cache/laserjnd or $LASERJND_CACHE_DIR)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel ladder workers (default: all cores)."),
    executor: str = typer.Option("local", "--executor", help="Where ladders run: local (process pool) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask: scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)."),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a dataset laserjnd wrote at OUTPUT (nothing else).")] = False,
    max_pixels: Annotated[Optional[int], typer.Option(
        "--max-pixels", min=1, help="Refuse larger images before decoding (default 150 million).")] = None,
    verbose: Verbose = 0,
):
    """Build root/{train,valid,test} + JND-Levels.txt + jnd{1,2,3}{split} JND-quality frames + manifest."""
    configure_output(verbose)
    from ..data import sources
    from ..data.codecs import CodecSettings
    from ..data.default_content import default_content
    from ..data.labels.proxy import ProxyRule
    from ..data.prepare import PrepareConfig, check_output_folder, prepare_dataset
    from .predict_cmd import set_max_pixels

    kind, unit, codec, preset, metric = (value(v) for v in (kind, unit, codec, preset, metric))
    inputs = list(inputs or [])
    labels = list(labels or [])
    set_max_pixels(max_pixels)
    if not 0.0 < sur < 1.0:  # checked even where the kind does not use it: never silently ignored
        raise JNDError(f"--sur must lie strictly between 0 and 1, got {sur}")
    if kind != "default" and not inputs:
        raise JNDError(f"--kind {kind} needs an input folder or files")
    check_output_folder(output, inputs + labels, overwrite)  # before any input is read
    if kind == "default":
        source = default_content(max_side=max_side, limit=limit)
    elif kind == "images":
        source = sources.labelled_images(inputs[0], unit=unit, labels_file=labels[0] if labels else None)
    elif kind == "videoset":
        source = sources.videoset_clips(inputs[0], labels, frames_per_clip=frames_per_clip, sur=sur)
    elif kind == "mcljci":
        if not labels:
            raise JNDError("--kind mcljci needs --labels FOLDER with the MCL-JCI sample files")
        source = sources.mcljci_images(inputs[0], labels[0], sur=sur)
    else:
        source = sources.proxy_media(inputs, unit=unit, frames_per_clip=frames_per_clip)
    try:
        fractions = tuple(float(x) for x in split.split(","))
    except ValueError:
        raise JNDError(f"--split must be three numbers like 0.7,0.15,0.15, got {split!r}") from None
    settings = CodecSettings(codec=codec, preset=preset) if codec else None
    rule = ProxyRule(metric=metric, delta=delta) if delta is not None else ProxyRule(metric=metric)
    cfg = PrepareConfig(codec=settings, rule=rule, fractions=fractions, seed=seed, cache_dir=cache_dir,
                        workers=workers, executor=executor, scheduler=scheduler, saliency=saliency, overwrite=overwrite)
    root = prepare_dataset(output, source, cfg)
    typer.echo(f"dataset written to {root} ({len(source.items)} frames, {source.unit} labels, kind {source.kind})")
