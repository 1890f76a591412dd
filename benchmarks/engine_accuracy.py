"""Accuracy cost of each inference precision/backend on TRAINED weights.

    python benchmarks/engine_accuracy.py --photos ../shared/content/kodak            # bundled default model
    python benchmarks/engine_accuracy.py --photos DIR --checkpoint run.pt

Mean and max |change| of the predicted label (QP) per engine (torch fp32/bf16/int8, onnxruntime
fp32/int8) against the plain eager fp32 model, over held-out photos, through ``Predictor`` (the path
users run). ``ModelEntry.auto_bf16`` may be set only where torch-bf16's mean change is <= 0.05 QP.
Raw JSON to benchmarks/results/engine_accuracy-<model>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ENGINES = {"torch-fp32": ("torch", "fp32"), "torch-bf16": ("torch", "bf16"), "torch-int8": ("torch", "int8"),
           "onnxruntime-fp32": ("onnxruntime", "fp32"), "onnxruntime-int8": ("onnxruntime", "int8")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, required=True)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--checkpoint", type=Path, help="trained checkpoint (default: the bundled model)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from laserjnd.checkpoint import load_checkpoint
    from laserjnd.data.media import read_image
    from laserjnd.inference.predictor import Predictor
    from laserjnd.zoo import load_pretrained

    torch.set_num_threads(args.threads)
    model, payload = load_checkpoint(args.checkpoint) if args.checkpoint else load_pretrained()
    model.eval()
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:args.n]
    frames = [read_image(p) for p in photos]
    geometry, conv = model.spec.convention.geometry, model.spec.convention
    with torch.inference_mode():  # the reference: the plain model, eager, fp32
        ref = np.stack([model(conv.to_model(geometry.to_tensor(f)[None]))["jnd"][0].float().numpy() for f in frames])
    out = {"model": model.spec.name, "weights": str(args.checkpoint or "bundled default"), "photos": str(args.photos),
           "n": len(frames), "reference_std": float(ref.std(axis=0).mean()),  # how much the predictions vary
           "command": " ".join(["python benchmarks/engine_accuracy.py", *(argv or sys.argv[1:])]),
           "engines": {}}
    for k, (backend, precision) in ENGINES.items():
        p = Predictor(model, payload, "cpu", 4, precision=precision, backend=backend)
        got = np.array([[r[key] for key in p.keys] for r in p.predict_rgb(frames)])
        d = np.abs(got - ref)
        out["engines"][k] = {"mean_abs_change": float(d.mean()), "max_abs_change": float(d.max())}
        print(f"{model.spec.name} {k}: mean |change| {d.mean():.4f}, max {d.max():.4f}", flush=True)
    path = Path(__file__).parent / "results" / f"engine_accuracy-{model.spec.name}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
