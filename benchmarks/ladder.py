"""Time one full encoding ladder (all stats) of a real 640x360 frame, per part.

    python benchmarks/ladder.py [--repeats 3] [--image astronaut|coffee] [--codecs h264 jpeg] [--no-worker-setup]

Everything runs on one core (encoders single-threaded, OpenCV 1 thread, libvmaf 1 thread), in a
process set up like a pool or cluster worker (``configure_ladder_worker``; ``--no-worker-setup``
leaves malloc at its defaults, as before that setup existed), so "cpu" is the per-core cost a
process pool pays per frame. Parts are CPU seconds (the VMAF
part includes the ffmpeg/libvmaf child process); "wall" is elapsed time, which on a busy
machine exceeds the CPU time. The best of ``--repeats`` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

from laserjnd.data.codecs import CodecSettings, encoder_version
from laserjnd.data.ladder import compute_ladder, configure_ladder_worker
from laserjnd.data.metrics import vmaf_info

PARTS = ("encode", "decode", "psnr_ssim", "vmaf")


def test_frame(name: str, width: int = 640, height: int = 360) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    h, w = img.shape[:2]
    # Centre-crop to 16:9, then downscale with area averaging (no aliasing).
    ch = min(h, w * height // width)
    cw = min(w, h * width // height)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=cv2.INTER_AREA)


def bench(frame: np.ndarray, codec: str, repeats: int) -> dict[str, float]:
    settings = CodecSettings(codec)
    settings.key()  # version probe outside the timed runs
    best: dict[str, float] | None = None
    for _ in range(repeats):
        tm: dict[str, float] = {}
        compute_ladder(frame, settings, vmaf_threads=1, timings=tm)
        tm["cpu"] = sum(tm[p] for p in PARTS)
        if best is None or tm["cpu"] < best["cpu"]:
            best = tm
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per codec; the fastest is reported")
    ap.add_argument("--image", default="astronaut", choices=["astronaut", "coffee", "chelsea", "rocket"])
    ap.add_argument("--codecs", nargs="+", default=["h264", "jpeg"], choices=["h264", "h265", "jpeg"])
    ap.add_argument("--no-worker-setup", action="store_true", help="only one OpenCV thread; malloc left at its defaults")
    ap.add_argument("--json", type=Path, help="also write the numbers (CPU seconds per part, load) to this file")
    args = ap.parse_args(argv)
    if args.no_worker_setup:
        cv2.setNumThreads(1)
    else:
        configure_ladder_worker()

    frame = test_frame(args.image)
    print(f"frame: skimage.data.{args.image}() -> {frame.shape[1]}x{frame.shape[0]} (INTER_AREA)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"process: {'OpenCV 1 thread, default malloc' if args.no_worker_setup else 'configure_ladder_worker()'}")
    record = {"command": " ".join(["python", "benchmarks/ladder.py", *(argv if argv is not None else sys.argv[1:])]),
              "image": args.image, "size": [frame.shape[1], frame.shape[0]], "repeats": args.repeats,
              "worker_setup": not args.no_worker_setup, "load_1min_before": os.getloadavg()[0], "codecs": {}}  # fmt: skip
    for codec in args.codecs:
        s = CodecSettings(codec)
        tm = bench(frame, codec, args.repeats)
        record["codecs"][codec] = {"levels": len(s.levels), **{k: round(v, 4) for k, v in tm.items()}}
        n = len(s.levels)
        print(f"\n{codec}: {n} {s.unit.upper()} levels, preset {s.preset}, {encoder_version(codec)}")
        for p in PARTS:
            print(f"  {p:<10} {tm[p]:7.3f} s cpu  {100 * tm[p] / tm['cpu']:5.1f} %  ({1000 * tm[p] / n:6.2f} ms/level)")
        dom = max(PARTS, key=lambda p: tm[p])
        print(f"  {'total':<10} {tm['cpu']:7.3f} s cpu per core   (wall {tm['wall']:.3f} s)   dominant: {dom}")
    print(f"\nvmaf: {vmaf_info()}")
    if args.json:
        record["load_1min_after"] = os.getloadavg()[0]
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
