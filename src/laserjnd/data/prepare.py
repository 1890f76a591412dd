"""``laserjnd prepare``: source -> ladders -> labels -> the layout the published code trains on.

Layout written under ``root``::

    root/{train,valid,test}/<name>.png        frames (RGB, native size after optional scaling)
    root/{split}/JND-Levels.txt               JND1 JND2 JND3 per line, lines in sorted file-name order
    root/jnd{1,2,3}{split}/<name>.png         each frame encoded at its JND-k level and decoded
    root/ladders/{split}/<name>.json          each frame's encoding ladder (bits, PSNR, SSIM, VMAF)
    root/saliency{split}/<name>.png           optional visual-attention targets (--saliency)
    root/manifest.json                        sources, codec settings, label rule, split seed, version

The dataset is built in a temporary folder beside ``root`` and renamed at the end, so a failed
run never leaves a dataset that looks complete. Ladders live in a cache outside it (keyed by
content hash and codec settings), so a rerun resumes where the killed one stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import __version__
from ..errors import BadInputError, JNDError
from ..utils.atomic import atomic_dir, atomic_write_json
from ..utils.hashing import dict_hash
from .codecs import CodecSettings, jnd_quality_frame, round_level
from .labels.mtjnd import write_jnd_levels
from .labels.proxy import ProxyRule, proxy_labels_from_ladder
from .labels.units import validate_labels
from .ladder import LadderCache
from .media import write_png
from .sources import FrameItem, Source

SPLITS = ("train", "valid", "test")


@dataclass
class PrepareConfig:
    codec: CodecSettings | None = None  # default: h264 for QP labels, jpeg for QF labels
    rule: ProxyRule = field(default_factory=ProxyRule)
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    cache_dir: Path | None = None
    workers: int | None = None
    executor: str = "local"  # where ladders run: "local" processes or "dask" (data/executors.py)
    scheduler: str | None = None  # dask scheduler address; None starts a local cluster
    saliency: bool = False
    progress: bool = True


def default_cache_dir() -> Path:
    return Path(os.environ.get("LASERJND_CACHE_DIR", Path.home() / ".cache" / "laserjnd"))


def split_by_content(content_ids: list[str], fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, str]:
    """Assign each distinct content id to one split (seeded shuffle); valid/test get >= 1 when possible."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise JNDError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    ids = sorted(set(content_ids))
    needed = 1 + sum(f > 0 for f in fractions[1:])
    if len(ids) < needed:
        raise JNDError(f"need at least {needed} distinct sources for a content-disjoint split, got {len(ids)}")
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    n = len(ids)
    n_valid = max(1, round(fractions[1] * n)) if fractions[1] > 0 else 0
    n_test = max(1, round(fractions[2] * n)) if fractions[2] > 0 else 0
    n_train = n - n_valid - n_test
    names = ["train"] * n_train + ["valid"] * n_valid + ["test"] * n_test
    return dict(zip(order, names))


def prepare_dataset(root: str | Path, source: Source, config: PrepareConfig | None = None) -> Path:
    cfg = config or PrepareConfig()
    root = Path(root)
    items = source.items
    if not items:
        raise JNDError(f"{source.kind}: no frames to prepare")
    _check_unique(items)
    settings = cfg.codec or CodecSettings(codec="h264" if source.unit == "qp" else "jpeg")
    if settings.unit != source.unit:
        raise JNDError(f"codec {settings.codec} measures {settings.unit} but the labels are in {source.unit}")
    assignment = split_by_content([it.content_id for it in items], cfg.fractions, cfg.seed)

    cache = LadderCache(Path(cfg.cache_dir or default_cache_dir()) / "ladders")
    ladders = cache.compute_many([(it.name, it.load) for it in items], settings, workers=cfg.workers, progress=cfg.progress,
                                 executor=cfg.executor, scheduler=cfg.scheduler)
    labels = np.stack([_labels_for(it, lad, source, cfg.rule) for it, lad in zip(items, ladders)])

    with atomic_dir(root) as tmp:
        records = _write_frames(tmp, items, ladders, labels, assignment, settings, cfg.progress)
        for split in SPLITS:
            rows = sorted((r for r in records if r["split"] == split), key=lambda r: r["file"])
            if rows:  # a split given fraction 0 stays absent
                write_jnd_levels(tmp / split / "JND-Levels.txt", np.array([r["labels"] for r in rows]).reshape(-1, 3), unit=source.unit)
        if cfg.saliency:
            from .saliency import write_saliency_maps

            for split in SPLITS:
                write_saliency_maps(tmp / split, tmp / f"saliency{split}")
        manifest = _manifest(source, settings, cfg, records)
        atomic_write_json(tmp / "manifest.json", manifest)
    return root


def _check_unique(items: list[FrameItem]) -> None:
    seen: dict[str, str] = {}
    for it in items:
        if it.name in seen:
            raise BadInputError(it.origin, f"frame name {it.name!r} is also used by {seen[it.name]}")
        seen[it.name] = it.origin


def _labels_for(item: FrameItem, ladder, source: Source, rule: ProxyRule) -> np.ndarray:
    if item.labels is not None:
        lab = np.asarray(item.labels, dtype=np.float64).reshape(1, 3)
    else:
        lab = np.asarray(proxy_labels_from_ladder(ladder, rule), dtype=np.float64).reshape(1, 3)
    validate_labels(lab, source.unit, item.origin)
    return lab[0]


def _write_frames(tmp: Path, items, ladders, labels, assignment, settings: CodecSettings, progress: bool) -> list[dict]:
    records = []
    bar = tqdm(list(zip(items, ladders, labels)), desc="writing frames", disable=not progress, unit="frame")
    for it, ladder, lab in bar:
        split = assignment[it.content_id]
        frame = it.load()
        file = f"{it.name}.png"
        write_png(tmp / split / file, frame)
        for k in range(3):
            write_png(tmp / f"jnd{k + 1}{split}" / file, jnd_quality_frame(frame, float(lab[k]), settings))
        atomic_write_json(tmp / "ladders" / split / f"{it.name}.json", ladder.to_dict())
        records.append({
            "name": it.name, "file": file, "split": split, "content_id": it.content_id, "origin": it.origin,
            "labels": [float(x) for x in lab], "jnd_frame_levels": [int(round_level(float(x))) for x in lab],
            "size": [int(frame.shape[0]), int(frame.shape[1])],
        })
    return records


def _manifest(source: Source, settings: CodecSettings, cfg: PrepareConfig, records: list[dict]) -> dict:
    label_kind = "subjective" if source.subjective else "proxy"
    body = {
        "tool": "laserjnd",
        "version": __version__,
        "source": {"kind": source.kind, **source.info},
        "label_unit": source.unit,
        "label_kind": label_kind,
        "label_rule": cfg.rule.to_dict() if label_kind == "proxy" else {"kind": "subjective", "from": source.kind},
        "codec": settings.to_dict(),
        "jnd_frame_rounding": "fractional JND levels are rounded half up to an integer level (codecs.round_level)",
        "split": {"by": "content", "seed": cfg.seed, "fractions": list(cfg.fractions),
                  "counts": {s: sum(r["split"] == s for r in records) for s in SPLITS}},
        "frames": records,
    }
    return {**body, "hash": dict_hash(body), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
