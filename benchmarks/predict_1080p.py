"""The bundled default model on one 1920x1080 frame, end to end, the way ``laserjnd predict`` runs it.

    python benchmarks/predict_1080p.py [--repeats 30] [--json benchmarks/results/predict_1080p.json]

The frame is a real photo (scikit-image's astronaut, enlarged to 1920x1080) written as PNG and as
JPEG. Timed per call, median over repeats after one warm-up: reading the file (decode + colour
conversion), preprocessing (the model's geometry), the model, and ``Predictor.predict(path)`` end to
end. Prints the load average beside the numbers: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import torch


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def write_clip(frame, path: Path, n: int) -> None:
    """``n`` frames of a slow pan over ``frame`` (2 px per frame), H.264 1920x1080."""
    import av

    big = cv2.resize(frame, (1920 + 2 * n, 1080), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "23", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        for i in range(n):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(big[:, 2 * i:2 * i + 1920].copy(), format="rgb24")))
        out.mux(stream.encode())


def time_clip(pred, frame, path: Path, n: int) -> dict:
    """``laserjnd predict CLIP --frames n``: decode and predict every frame, wall time."""
    from laserjnd.inference.batch import predict_rows

    write_clip(frame, path, n)
    predict_rows(pred, [("video", path)], n_frames=n)  # warm-up
    t = time.perf_counter()
    rows, _ = predict_rows(pred, [("video", path)], n_frames=n)
    seconds = time.perf_counter() - t
    frames = sum(r["kind"] == "video-frame" for r in rows)
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds}


def main() -> int:
    import skimage.data

    from laserjnd import load
    from laserjnd.data.media import read_image

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--clip-frames", type=int, default=60)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    pred = load(device="cpu")
    frame = cv2.resize(skimage.data.astronaut(), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    results = {"model": pred.spec.name, "geometry": str(pred.geometry), "threads": torch.get_num_threads(),
               "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        for ext, params in ((".png", []), (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95])):
            path = Path(tmp) / f"frame{ext}"
            cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
            rgb = read_image(path)
            x = pred.geometry.to_tensor(rgb)[None]
            model = pred.model
            with torch.inference_mode():
                forward = lambda: model(pred.spec.convention.to_model(x))  # noqa: E731
                results[ext[1:]] = {
                    "read_ms": timed(lambda: read_image(path), args.repeats),
                    "preprocess_ms": timed(lambda: pred.geometry.to_tensor(rgb), args.repeats),
                    "model_ms": timed(forward, args.repeats),
                    "end_to_end_ms": timed(lambda: pred.predict(path), args.repeats),
                }
        results["clip"] = time_clip(pred, frame, Path(tmp) / "clip.mp4", args.clip_frames)
    results["load_average_after"] = os.getloadavg()
    for ext in ("png", "jpg"):
        r = results[ext]
        print(f"{results['model']} 1920x1080 {ext}: read {r['read_ms']:.1f} ms, preprocess {r['preprocess_ms']:.1f} ms, "
              f"model {r['model_ms']:.1f} ms, end to end {r['end_to_end_ms']:.1f} ms")
    c = results["clip"]
    print(f"{results['model']} 1920x1080 H.264 clip, {c['frames']} frames: {c['seconds']:.2f} s end to end "
          f"(decode + predict), {c['fps']:.1f} frames/s")
    print(f"load average {results['load_average']} -> {results['load_average_after']}, {results['threads']} threads")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
