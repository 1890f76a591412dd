"""``laserjnd prepare``: source -> ladders -> labels -> the layout the published code trains on
(``layout.DatasetLayout``: frames, ``JND-Levels.txt``, JND-quality frames, ladders, saliency, manifest).

The dataset is built in a temporary folder beside ``root`` and renamed at the end, so a failed
run never leaves a dataset that looks complete (a killed run's temporary folder is removed by the
next run). Ladders live in a cache outside it (keyed by content hash and codec settings), so a
rerun resumes where the killed one stopped.

``root`` must be new, empty, or a dataset laserjnd wrote (``manifest.json``), which is replaced
only with ``overwrite`` and only if it holds nothing else; it may not be, contain or lie inside an
input or the current folder. Nothing that laserjnd did not write is ever deleted.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm.auto import tqdm

from .. import __version__
from ..errors import BadInputError, JNDError, OutputExistsError
from ..utils.atomic import atomic_dir, atomic_write_json
from ..utils.cache import default_cache_dir
from ..utils.hashing import dict_hash
from .codecs import CodecSettings, jnd_quality_frame, round_level
from .labels.mtjnd import write_jnd_levels
from .labels.proxy import ProxyRule, proxy_labels_from_ladder
from .labels.units import get_unit, validate_labels
from .ladder import LadderCache
from .layout import SPLITS, DatasetLayout
from .media import write_png
from .sources import FrameItem, Source

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
    overwrite: bool = False  # replace a previous laserjnd dataset at the output


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
    check_output_folder(root, source.roots, cfg.overwrite)
    _check_unique(items)
    settings = cfg.codec or CodecSettings(codec=get_unit(source.unit).default_codec)
    if settings.unit != source.unit:
        raise JNDError(f"codec {settings.codec} measures {settings.unit} but the labels are in {source.unit}")
    assignment = split_by_content([it.content_id for it in items], cfg.fractions, cfg.seed)

    cache = LadderCache(Path(cfg.cache_dir or default_cache_dir()) / "ladders")
    ladders = cache.compute_many([(it.name, it.load) for it in items], settings, workers=cfg.workers, progress=cfg.progress,
                                 executor=cfg.executor, scheduler=cfg.scheduler)
    labels = np.stack([_labels_for(it, lad, source, cfg.rule) for it, lad in zip(items, ladders)])

    with atomic_dir(root, replace=cfg.overwrite) as tmp:
        layout = DatasetLayout(tmp)
        records = _write_frames(layout, items, ladders, labels, assignment, settings, cfg.progress)
        for split in SPLITS:
            rows = sorted((r for r in records if r["split"] == split), key=lambda r: r["file"])
            if rows:  # a split given fraction 0 stays absent
                write_jnd_levels(layout.labels_file(split), np.array([r["labels"] for r in rows]).reshape(-1, 3), unit=source.unit)
        if cfg.saliency:
            from .saliency import write_saliency_maps

            for split in SPLITS:
                write_saliency_maps(layout.frames_dir(split), layout.saliency_dir(split))
        manifest = _manifest(source, settings, cfg, records)
        atomic_write_json(layout.manifest_path, manifest)
    return root


def check_output_folder(root: str | Path, inputs: Iterable[str | Path] = (), overwrite: bool = False) -> None:
    """Refuse an output that would delete, mix with or feed back into anything laserjnd did not write."""
    root = Path(root)
    out = root.resolve()
    here = Path.cwd().resolve()
    if out == here or out in here.parents:
        raise OutputExistsError(root, "is the current folder or contains it; name a new folder for the dataset")
    for given in inputs:
        p = Path(given).resolve()
        if out == p or out in p.parents:
            raise OutputExistsError(root, f"is or contains the input {given}; name a new folder for the dataset")
        if p in out.parents:
            raise OutputExistsError(root, f"lies inside the input folder {given}; name a folder outside the inputs")
    if root.exists() and not root.is_dir():
        raise OutputExistsError(root, "exists and is not a folder")
    if not root.is_dir() or not any(root.iterdir()):
        return
    manifest = read_own_manifest(root)
    if manifest is None:
        raise OutputExistsError(root, "folder is not empty and holds no laserjnd dataset; choose a new or empty "
                                      "folder (laserjnd never deletes what it did not write)")
    if not overwrite:
        raise OutputExistsError(root, "holds a laserjnd dataset already; pass --overwrite to replace it")
    stray = foreign_entries(root, manifest)
    if stray:
        raise OutputExistsError(stray[0], "was not written by laserjnd: move it out of the dataset folder, "
                                          "--overwrite replaces the whole folder")


def read_own_manifest(root: Path) -> dict | None:
    """The folder's manifest if laserjnd wrote it, else None."""
    try:
        manifest = json.loads(DatasetLayout(root).manifest_path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(manifest, dict) and manifest.get("tool") == "laserjnd" and isinstance(manifest.get("frames"), list)
    return manifest if ok else None


def foreign_entries(root: Path, manifest: dict) -> list[Path]:
    """Files and folders under ``root`` that are not part of the layout the manifest describes."""
    layout = DatasetLayout(root)
    ours = {layout.manifest_path}
    for split in SPLITS:
        folders = layout.frame_folders(split)
        ladders = layout.ladders_dir(split)
        ours |= {*folders, layout.labels_file(split), ladders, ladders.parent}
        for rec in manifest["frames"]:
            if isinstance(rec, dict) and rec.get("split") == split:
                ours |= {f / str(rec.get("file")) for f in folders}
                ours.add(layout.ladder_path(split, str(rec.get("name"))))
    found = []
    for folder, dirs, files in os.walk(layout.root):
        for name in sorted(dirs + files):
            path = Path(folder, name)
            if path not in ours:
                found.append(path)
                if name in dirs:
                    dirs.remove(name)  # one report per foreign folder
    return found


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


def _write_frames(layout: DatasetLayout, items, ladders, labels, assignment, settings: CodecSettings,
                  progress: bool) -> list[dict]:
    records = []
    bar = tqdm(list(zip(items, ladders, labels)), desc="writing frames", disable=not progress, unit="frame")
    for it, ladder, lab in bar:
        split = assignment[it.content_id]
        frame = it.load()
        file = f"{it.name}.png"
        write_png(layout.frames_dir(split) / file, frame)
        for k in range(3):
            write_png(layout.jnd_frames_dir(split, k + 1) / file, jnd_quality_frame(frame, float(lab[k]), settings))
        atomic_write_json(layout.ladder_path(split, it.name), ladder.to_dict())
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
