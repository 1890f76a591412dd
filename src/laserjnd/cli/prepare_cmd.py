"""``laserjnd prepare``: build a training-ready dataset from one source kind."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import JNDError

KINDS = ("default", "images", "videoset", "mcljci", "proxy")


def prepare_command(
    output: Path = typer.Argument(..., help="Dataset root to create (replaced atomically when finished)."),
    inputs: Optional[List[Path]] = typer.Argument(None, help="Input folder(s)/files for the chosen kind."),
    kind: str = typer.Option("default", "--kind", "-k", help=f"Source kind: {', '.join(KINDS)}."),
    labels: Optional[List[Path]] = typer.Option(None, "--labels", help="images: JND-Levels.txt; videoset: the 1st, 2nd, 3rd CSVs (repeat); mcljci: label folder."),
    unit: str = typer.Option("qp", "--unit", help="Label unit of 'images'/'proxy': qp (H.264/H.265) or qf (JPEG)."),
    codec: Optional[str] = typer.Option(None, "--codec", help="h264, h265 or jpeg (default: h264 for qp, jpeg for qf)."),
    preset: str = typer.Option("medium", "--preset", help="x264/x265 preset."),
    frames_per_clip: int = typer.Option(4, "--frames-per-clip", help="Frames sampled uniformly per video."),
    metric: str = typer.Option("vmaf", "--metric", help="Proxy-label metric: vmaf, psnr_y, psnr_rgb, ssim."),
    delta: Optional[float] = typer.Option(None, "--delta", help="Proxy-label points per JND (vmaf default 6)."),
    sur: float = typer.Option(0.75, "--sur", help="Satisfied-user ratio that defines a subjective JND point."),
    max_side: Optional[int] = typer.Option(384, "--max-side", help="default kind: longest frame side in pixels."),
    limit: Optional[int] = typer.Option(None, "--limit", help="default kind: use only the first N photos."),
    split: str = typer.Option("0.7,0.15,0.15", "--split", help="train,valid,test fractions over distinct content."),
    seed: int = typer.Option(0, "--seed", help="Seed of the content split."),
    saliency: bool = typer.Option(False, "--saliency", help="Also write visual-attention target maps."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Ladder cache (default ~/.cache/laserjnd or $LASERJND_CACHE_DIR)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Parallel ladder workers (default: all cores)."),
    executor: str = typer.Option("local", "--executor", help="Where ladders run: local (process pool) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask: scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)."),
):
    """Build root/{train,valid,test} + JND-Levels.txt + jnd{1,2,3}{split} JND-quality frames + manifest."""
    from ..data import sources
    from ..data.codecs import CodecSettings
    from ..data.default_content import default_content
    from ..data.labels.proxy import ProxyRule
    from ..data.prepare import PrepareConfig, prepare_dataset

    inputs = list(inputs or [])
    labels = list(labels or [])
    if kind not in KINDS:
        raise JNDError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind != "default" and not inputs:
        raise JNDError(f"--kind {kind} needs an input folder or files")
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
                        workers=workers, executor=executor, scheduler=scheduler, saliency=saliency)
    root = prepare_dataset(output, source, cfg)
    typer.echo(f"dataset written to {root} ({len(source.items)} frames, {source.unit} labels, kind {source.kind})")
