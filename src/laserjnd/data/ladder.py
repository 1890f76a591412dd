"""Encoding ladders: one frame encoded at every level of a codec, with size and quality per level.

A :class:`Ladder` holds, per integer level (QP 0..51 or QF 1..100), the bits of the encoded
frame and PSNR-Y, PSNR-RGB, SSIM and VMAF of the decoded frame against the source (see
:mod:`laserjnd.data.metrics`). :meth:`Ladder.at` interpolates linearly at fractional levels,
e.g. at a JND level averaged over subjects.

:class:`LadderCache` stores one JSON file per (content hash, settings key) under a root
folder, written atomically, so a killed batch job keeps every finished ladder and a rerun
skips them.
"""

from __future__ import annotations

import ctypes
import functools
import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np

from laserjnd.data import metrics as M
from laserjnd.data.codecs import CodecSettings, Prepared, check_frame, check_level, encoder_version
from laserjnd.data.executors import TaskRunner, open_runner
from laserjnd.errors import BadInputError, EncoderError, JNDError
from laserjnd.utils.atomic import atomic_write_json
from laserjnd.utils.hashing import array_hash, dict_hash

METRIC_NAMES = ("bits", "psnr_y", "psnr_rgb", "ssim", "vmaf")
# Bump when a metric's definition or the ladder file layout changes: invalidates caches.
LADDER_VERSION = 1

FrameSource = Union[np.ndarray, Callable[[], np.ndarray]]


@dataclass
class Ladder:
    settings: dict[str, Any]
    content_hash: str
    width: int
    height: int
    levels: np.ndarray
    bits: np.ndarray
    psnr_y: np.ndarray
    psnr_rgb: np.ndarray
    ssim: np.ndarray
    vmaf: np.ndarray
    metric_info: dict[str, Any] = field(default_factory=dict)

    @property
    def unit(self) -> str | None:
        """"qp" or "qf" (None if the settings do not say)."""
        codec = self.settings.get("codec")
        if self.settings.get("unit") or not codec:
            return self.settings.get("unit")
        from laserjnd.data.labels.units import unit_for_codec

        return unit_for_codec(codec).name

    def metric(self, name: str) -> np.ndarray:
        if name not in METRIC_NAMES:
            raise ValueError(f"unknown ladder metric {name!r}; expected one of {', '.join(METRIC_NAMES)}")
        return getattr(self, name)

    def at(self, name: str, level: float) -> float:
        """``name`` at a fractional ``level``, linearly interpolated between the two integer levels."""
        values = self.metric(name)
        lv = float(level)
        lo, hi = float(self.levels[0]), float(self.levels[-1])
        if not lo <= lv <= hi:  # also rejects NaN
            raise ValueError(f"level {level} outside the ladder's levels {lo:g}..{hi:g}")
        return float(np.interp(lv, self.levels, values))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ladder_version": LADDER_VERSION,
            "settings": self.settings,
            "content_hash": self.content_hash,
            "width": int(self.width),
            "height": int(self.height),
            "levels": [int(v) for v in self.levels],
            "metric_info": self.metric_info,
        }
        for name in METRIC_NAMES:
            d[name] = [float(v) for v in getattr(self, name)]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ladder:
        missing = [k for k in ("settings", "content_hash", "width", "height", "levels", *METRIC_NAMES) if k not in d]
        if missing:
            raise ValueError(f"ladder data lacks {', '.join(missing)}")
        n = len(d["levels"])
        arrays = {name: np.asarray(d[name], dtype=np.float64) for name in METRIC_NAMES}
        bad = [name for name, a in arrays.items() if a.shape != (n,)]
        if bad:
            raise ValueError(f"ladder metrics {', '.join(bad)} do not have one value per level ({n})")
        return cls(
            settings=dict(d["settings"]),
            content_hash=str(d["content_hash"]),
            width=int(d["width"]),
            height=int(d["height"]),
            levels=np.asarray(d["levels"], dtype=np.int64),
            metric_info=dict(d.get("metric_info", {})),
            **arrays,
        )


def metric_info(vmaf: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "bits": "8 x bytes of the single-frame stream (headers included, SEI removed; odd sizes padded)",
        "psnr_y": "BT.601 limited-range luma (float), peak 255",
        "psnr_rgb": "MSE over R, G, B samples, peak 255",
        "peak": M.PEAK,
        "psnr_cap_db": M.PSNR_CAP,
        "ssim": M.SSIM_SETTINGS,
        "vmaf": vmaf if vmaf is not None else M.vmaf_info(),
        "ladder_version": LADDER_VERSION,
    }


def compute_ladder(
    frame: np.ndarray,
    settings: CodecSettings,
    levels: Sequence[int] | None = None,
    *,
    vmaf_threads: int | None = None,
    timings: dict[str, float] | None = None,
) -> Ladder:
    """Encode ``frame`` at ``levels`` (default: every level of the codec) and measure everything.

    ``vmaf_threads``: libvmaf threads (``None``: all cores). ``timings``: if given, CPU seconds
    per part are added to it under "encode", "decode" (incl. YUV->RGB), "psnr_ssim" and "vmaf"
    (RGB->YUV here plus the ffmpeg/libvmaf process), and the elapsed seconds under "wall".
    """
    clock = time.process_time  # CPU of this process; the ffmpeg child is measured separately
    tm = {"encode": 0.0, "decode": 0.0, "psnr_ssim": 0.0, "vmaf": 0.0}
    wall0, child0 = time.perf_counter(), _children_cpu()
    frame = check_frame(frame)
    lv = sorted({check_level(v, settings) for v in (settings.levels if levels is None else levels)})
    if not lv:
        raise BadInputError(None, "no levels to encode")
    prep = Prepared(frame, settings)
    ref = M.ReferenceMetrics(prep.frame)
    stats: dict[str, list[float]] = {k: [] for k in METRIC_NAMES if k != "vmaf"}
    with M.VMAFStream(prep.frame, n_threads=vmaf_threads) as stream:
        for level in lv:
            t0 = clock()
            data = prep.encode(level)
            t1 = clock()
            decoded = prep.decode(data)
            t2 = clock()
            for k, v in ref.all(decoded).items():
                stats[k].append(v)
            stats["bits"].append(8.0 * len(data))
            t3 = clock()
            stream.add(decoded)  # ffmpeg scores it while the next level encodes
            t4 = clock()
            tm["encode"] += t1 - t0
            tm["decode"] += t2 - t1
            tm["psnr_ssim"] += t3 - t2
            tm["vmaf"] += t4 - t3
        t0 = clock()
        vmaf, vinfo = stream.close()
        tm["vmaf"] += clock() - t0
    tm["vmaf"] += _children_cpu() - child0  # libvmaf's own CPU, counted once ffmpeg is reaped
    tm["wall"] = time.perf_counter() - wall0
    if timings is not None:
        for k, v in tm.items():
            timings[k] = timings.get(k, 0.0) + v
    h, w = frame.shape[:2]
    return Ladder(
        settings={**settings.to_dict(), "key": settings.key(), "encoder_version": encoder_version(settings.codec)},
        content_hash=array_hash(frame),
        width=w,
        height=h,
        levels=np.asarray(lv, dtype=np.int64),
        vmaf=vmaf,
        metric_info=metric_info(vinfo),
        **{k: np.asarray(v, dtype=np.float64) for k, v in stats.items()},
    )


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- cache


def cache_key(settings: CodecSettings) -> str:
    """Settings key plus everything on the metrics side that changes the numbers."""
    return dict_hash(
        {"codec": settings.key(), "vmaf_model": M.VMAF_MODEL, "ffmpeg": M.ffmpeg_version(), "ladder": LADDER_VERSION}
    )


def configure_ladder_worker() -> None:
    """Set up a process that computes ladders side by side with others (a pool or cluster worker).

    One OpenCV thread (there is a process per core already), and glibc's malloc told to keep
    freed memory: every level allocates and frees frame-sized buffers, which by default come back
    from the kernel as fresh zeroed pages, and those page faults cost more than the arithmetic.
    Only memory management changes, never a number.
    """
    import cv2

    cv2.setNumThreads(1)
    _keep_freed_memory()


@functools.lru_cache(maxsize=1)
def _keep_freed_memory() -> None:
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError, TypeError):
        return  # not glibc: nothing to tune
    mallopt(_M_MMAP_THRESHOLD, 256 << 20)  # blocks up to 256 MiB come from the heap, not mmap
    mallopt(_M_TRIM_THRESHOLD, 512 << 20)  # and the heap keeps up to 512 MiB of freed memory


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h


def _ladder_task(frame: np.ndarray, settings: CodecSettings, one_core: bool) -> tuple[str, Any]:
    """One ladder, run by an executor; errors come back as data (some JNDErrors do not unpickle)."""
    if one_core:  # tasks run side by side in processes of their own
        configure_ladder_worker()
    try:
        return "ok", compute_ladder(frame, settings, vmaf_threads=1 if one_core else None)
    except Exception as exc:  # noqa: BLE001 - reported with the item's name by the caller
        return "error", _describe(exc)


def _describe(exc: BaseException) -> tuple[str, bool, str]:
    return type(exc).__name__, isinstance(exc, JNDError), str(exc)


def _foreign_tools(ladder: Ladder, settings: CodecSettings) -> str | None:
    """Why a ladder computed elsewhere (a cluster worker) does not belong under this machine's cache key."""
    if ladder.settings.get("key") != settings.key():
        return f"the worker's encoder ({ladder.settings.get('encoder_version')}) differs from this machine's ({encoder_version(settings.codec)})"
    theirs = ladder.metric_info.get("vmaf", {}).get("ffmpeg")
    if theirs != M.ffmpeg_version():
        return f"the worker's ffmpeg/libvmaf ({theirs}) differs from this machine's ({M.ffmpeg_version()})"
    return None


def _item_error(name: str, kind: str, is_jnd: bool, message: str) -> JNDError:
    if kind in ("BadInputError", "CodecInputError"):
        return BadInputError(name, message)
    if kind == "EncoderError":
        return EncoderError(f"{name}: {message}")
    return JNDError(f"{name}: ladder failed: {message}" if is_jnd else f"{name}: ladder failed: {kind}: {message}")


class LadderCache:
    """Ladders on disk, one JSON file per (content hash, settings key) under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, content_hash: str, settings: CodecSettings) -> Path:
        return self.root / f"{settings.codec}-{content_hash}-{cache_key(settings)}.json"

    def _load(self, path: Path) -> Ladder | None:
        try:
            return Ladder.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError, OSError):
            return None  # unreadable entry (e.g. hand-edited): recompute and overwrite

    def get(self, frame: np.ndarray, settings: CodecSettings) -> Ladder | None:
        return self._load(self.path(array_hash(check_frame(frame)), settings))

    def put(self, ladder: Ladder, settings: CodecSettings) -> Path:
        path = self.path(ladder.content_hash, settings)
        atomic_write_json(path, ladder.to_dict())
        return path

    def get_or_compute(self, frame: np.ndarray, settings: CodecSettings) -> Ladder:
        frame = check_frame(frame)
        ladder = self.get(frame, settings)
        if ladder is None:
            ladder = compute_ladder(frame, settings)
            self.put(ladder, settings)
        return ladder

    def compute_many(
        self,
        items: Iterable[tuple[str, FrameSource]],
        settings: CodecSettings,
        workers: int | None = None,
        progress: bool = True,
        executor: str = "local",
        scheduler: str | None = None,
    ) -> list[Ladder]:
        """Ladders for ``(name, frame or zero-argument loader)`` items, in item order.

        Cached ladders are skipped; the others run on ``executor`` (see
        :func:`laserjnd.data.executors.open_runner`: by default a pool of ``workers`` local
        processes) and each is written to the cache, here, the moment it comes back. Frames are
        loaded here, lazily, with at most ``2 * slots`` in flight, so a large dataset never sits
        in memory. On the first failure no new items start, the ones in flight finish and are
        saved, and an error naming the failed item is raised.
        """
        from tqdm.auto import tqdm

        items = items if hasattr(items, "__len__") else list(items)
        results: list[Ladder | None] = [None] * len(items)  # type: ignore[arg-type]
        failure: JNDError | None = None

        def settle(runner: TaskRunner, keep: int) -> None:
            nonlocal failure
            for (i, name), value, exc in runner.collect(keep):
                status, payload = ("error", _describe(exc)) if exc is not None else value
                if status == "ok" and (foreign := _foreign_tools(payload, settings)):
                    status, payload = "error", ("JNDError", True, f"not cached: {foreign}")
                if status == "ok":
                    results[i] = payload
                    self.put(payload, settings)
                    bar.update(1)
                elif failure is None:
                    failure = _item_error(name, *payload)

        with open_runner(executor, workers, scheduler) as runner, tqdm(
            total=len(items), desc=f"{settings.codec} ladders", unit="frame", disable=not progress
        ) as bar:
            for i, (name, src) in enumerate(items):
                if failure is not None:
                    break
                try:
                    frame = check_frame(src() if callable(src) else src)
                    results[i] = self._load(self.path(array_hash(frame), settings))
                except Exception as exc:  # noqa: BLE001 - re-raised with the item's name
                    failure = _item_error(name, *_describe(exc))
                    break
                if results[i] is not None:
                    bar.update(1)
                else:
                    runner.submit((i, name), _ladder_task, frame, settings, runner.parallel)
                settle(runner, 2 * runner.slots - 1)
            settle(runner, 0)  # the ones in flight finish and are saved
        if failure is not None:
            raise failure
        return results  # type: ignore[return-value]
