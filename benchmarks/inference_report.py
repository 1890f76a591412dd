"""Write benchmarks/INFERENCE.md from the committed raw results of the inference benchmarks.

    python benchmarks/inference_report.py

Reads every ``benchmarks/results/models_published-*.json`` (``benchmarks/models.py``; one run per
file, the REC family at batch 1 and 4 only: at batch 8 its 512-channel full-resolution activations
take minutes per call), every
``engine_accuracy-*.json`` (``benchmarks/engine_accuracy.py``) and ``predict_1080p.json``
(``benchmarks/predict_1080p.py``); every number in the report comes from those files.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
WEIGHT_NOTES = {  # what a raw file's "weights" field cannot say
    "lat": "lat: a checkpoint trained 3 epochs on 72 proxy-labelled CID22 photos (not committed); its predictions "
           "hardly vary, so it cannot vouch for bf16, and the published models keep fp32 under `auto`.",
    "mj-lite": "mj-lite: the weights bundled as the default until d5447ed (replaced by the texture model); "
               "`git show d5447ed^:src/laserjnd/zoo/weights/default.safetensors > runs/mj-lite-d5447ed.safetensors`.",
    "texture": "texture: the bundled default; Kodak was in its training set (a precision's change, not accuracy, "
               "is measured here).",
}
SPEED_TARGET, FP32_TARGET = 0.5, 1.0  # issue 13: auto <= 0.5x Keras, fp32 <= 1x Keras (batch 4)


def _num(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def speed_section(data: dict) -> list[str]:
    s = data["settings"]
    rows = data["rows"]
    command = data.get("command") or (
        f"python benchmarks/models.py --models {' '.join(r['model'] for r in rows)}"
        f"{' --keras' if s.get('keras') else ''} --batch-sizes {' '.join(map(str, s['batch_sizes']))}"
        f" --threads {data['threads']} --json benchmarks/results/models_published-NAME.json")
    out = [f"## Speed: {', '.join(r['model'] for r in rows)} against the original Keras networks", "",
           f"`{command}`", "",
           f"PyTorch {data['torch']}, {data['threads']} threads, published input sizes, "
           f"{s['repeats']} timed runs (median) after {s['warmup']} warm-up; frames decoded at "
           f"{s['frame_size'][0]}x{s['frame_size'][1]} and fed to `Predictor.predict_rgb` (resize + engine); "
           f"Keras through `predict_on_batch` on ready tensors. Load average after the run: "
           f"{', '.join(f'{x:.2f}' for x in data.get('load_average_after', []))}.", ""]
    for b in s["batch_sizes"]:
        out += [f"### Batch {b} (ms per frame)", "",
                "| model | input | fp32 | bf16 | Keras | fp32/Keras | bf16/Keras | auto = | auto/Keras |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            g = lambda k: r.get(f"{k} b{b}")  # noqa: E731
            out.append(f"| {r['model']} | {r['input']} | {_num(g('fp32 ms/f'))} | {_num(g('bf16 ms/f'))} | "
                       f"{_num(g('keras ms/f'))} | {_num(g('fp32/keras'), 2)} | {_num(g('bf16/keras'), 2)} | "
                       f"{r.get('auto =', '-')} | {_num(g('auto/keras'), 2)} |")
        out.append("")
    if any(r["model"].startswith("e2e-lat") for r in rows):
        out += ["e2e-lat: prediction needs only the JND output, so the engine skips the decoder that feeds the "
                "reconstruction output; the Keras network computes both of its outputs.", ""]
    b4 = [r for r in rows if r.get("keras ms/f b4")]
    if b4:
        fp32_ok = [r["model"] for r in b4 if r["fp32/keras b4"] <= FP32_TARGET]
        bf16_ok = [r["model"] for r in b4 if r["bf16/keras b4"] <= SPEED_TARGET]
        auto_ok = [r["model"] for r in b4 if (r.get("auto/keras b4") or 9) <= SPEED_TARGET]
        out += ["Targets at batch 4 (issue 13): fp32 no slower than Keras - met by "
                f"{len(fp32_ok)}/{len(b4)} ({', '.join(fp32_ok) or 'none'}); bf16 at most 0.5x Keras - met by "
                f"{len(bf16_ok)}/{len(b4)} ({', '.join(bf16_ok) or 'none'}); `auto` at most 0.5x Keras - met by "
                f"{len(auto_ok)}/{len(b4)} ({', '.join(auto_ok) or 'none'}).", ""]
    return out


def floor_section(data: dict) -> list[str]:
    """Batch 4: the Predictor, the engine alone and the time inside its convs, against Keras; the
    heaviest conv in fp32, bf16 and int8."""
    rows, cpu = data["rows"], data.get("cpu") or {}
    units = ", ".join(f"{u} {'yes' if cpu.get(u) else 'no'}" for u in ("avx512_bf16", "avx512_vnni", "amx_bf16"))
    out = ["## Where the time goes (batch 4)", "", f"`{data['command']}`", "",
           f"CPU: {cpu.get('model', '?')}, {cpu.get('cores', '?')} cores ({units}). *Predictor*: decoded 720p "
           "frames through `Predictor.predict_rgb` (resize included); *engine*: the same engine on a ready batch; "
           "*convs*: the part of the engine's time spent inside its conv layers (timed by hooks), which run "
           "through oneDNN as TensorFlow's do. Ratios are to the Keras network's time per frame in the same run.", "",
           "| model | Keras | fp32 Predictor | fp32 engine | fp32 convs | convs/Keras | bf16 Predictor | bf16 engine "
           "| bf16 convs | convs/Keras |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = r.get("keras ms/f b4")
        g = lambda key: r.get(f"{key} b4")  # noqa: E731
        ratio = lambda v: _num(v / k if v is not None and k else None, 2)  # noqa: E731
        out.append(f"| {r['model']} | {_num(k)} | {_num(g('fp32 ms/f'))} | {_num(g('fp32 engine ms/f'))} | "
                   f"{_num(g('fp32 conv ms/f'))} | {ratio(g('fp32 conv ms/f'))} | {_num(g('bf16 ms/f'))} | "
                   f"{_num(g('bf16 engine ms/f'))} | {_num(g('bf16 conv ms/f'))} | {ratio(g('bf16 conv ms/f'))} |")
    floor = [r["model"] for r in rows if r.get("keras ms/f b4") and (r.get("bf16 conv ms/f b4") or 0)
             / r["keras ms/f b4"] > SPEED_TARGET]
    engine_ok = [r["model"] for r in rows if r.get("keras ms/f b4") and r.get("fp32 engine ms/f b4")
                 and r["fp32 engine ms/f b4"] <= FP32_TARGET * r["keras ms/f b4"]]
    extra = [r["fp32 ms/f b4"] - r["fp32 engine ms/f b4"] for r in rows
             if r.get("fp32 ms/f b4") is not None and r.get("fp32 engine ms/f b4") is not None]
    extra.sort()
    if extra:
        out += ["", f"The fp32 engine on a ready batch is no slower than Keras for {len(engine_ok)}/{len(rows)} models "
                f"({', '.join(engine_ok) or 'none'}); the Predictor's decoding-side work (resizing the 720p frame, "
                f"building the batch) adds {extra[len(extra) // 2]:.1f} ms per frame (median), which the Keras "
                "column, timed on ready tensors, does not pay."]
    out += ["", f"bf16 convolutions alone take more than {SPEED_TARGET}x the Keras network's time for "
            f"{len(floor)}/{len(rows)} models ({', '.join(floor) or 'none'}): there no work around the convs "
            f"can reach {SPEED_TARGET}x.", "",
            "The heaviest conv of each model, ms per frame (int8: oneDNN through `torch.ops.onednn` with VNNI, per-channel int8 weights, the input "
            "quantized per tensor from its own range (the quantizing included), the output in float32; mean relative error against the float conv on the same input; a speed probe, not a path users run):", "",
            "| model | layer | fp32 | bf16 | int8 | int8/fp32 | int8 relative error |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        f32, i8 = r.get("heaviest fp32 ms/f"), r.get("heaviest int8 ms/f")
        out.append(f"| {r['model']} | `{r.get('heaviest conv', '-')}` | {_num(f32)} | {_num(r.get('heaviest bf16 ms/f'))} | "
                   f"{_num(i8)} | {_num(i8 / f32 if i8 and f32 else None, 2)} | "
                   f"{_num(r.get('heaviest int8 rel err'), 4)} |")
    return out + [""]


def accuracy_section(files: list[Path]) -> list[str]:
    out = ["## Accuracy cost of each precision and backend (trained weights)", "",
           "|change| of the predicted label against the plain eager fp32 model, through `Predictor`; "
           "`auto` may pick bf16 only where the mean change is at most 0.05 QP. *prediction std*: how much "
           "the fp32 predictions vary across the photos; weights whose predictions hardly vary (a model "
           "that has not learned content) cannot vouch for a precision.", "",
           "| model | weights | photos | frames | prediction std | engine | mean abs change | max abs change |",
           "|---|---|---|---|---|---|---|---|"]
    for f in files:
        d = json.loads(f.read_text())
        for k, e in d["engines"].items():
            out.append(f"| {d['model']} | {d['weights']} | {d['photos']} | {d['n']} | {_num(d.get('reference_std'), 3)} | "
                       f"{k} | {e['mean_abs_change']:.4f} | {e['max_abs_change']:.4f} |")
    models = [json.loads(f.read_text())["model"] for f in files]
    return out + [""] + [f"- {WEIGHT_NOTES[m]}" for m in models if m in WEIGHT_NOTES] + [""]


def predict_1080p_section(d: dict) -> list[str]:
    out = ["## The bundled default model on 1920x1080", "",
           f"Model `{d['model']}`, {d['threads']} threads, load average {', '.join(f'{x:.2f}' for x in d['load_average'])}.", "",
           "| input | read ms | preprocess ms | model ms | end to end ms |", "|---|---|---|---|---|"]
    for ext in ("jpg", "png"):
        r = d[ext]
        out.append(f"| {ext.upper()} frame | {_num(r['read_ms'])} | {_num(r['preprocess_ms'])} | {_num(r['model_ms'])} | "
                   f"{_num(r['end_to_end_ms'])} |")
    if "clip" in d:
        c = d["clip"]
        out += ["", f"H.264 clip, {c['frames']} frames, decode + predict every frame (`laserjnd predict CLIP --frames "
                f"{c['frames']}`): {c['seconds']:.2f} s, **{c['fps']:.1f} frames/s**."]
    return out + [""]


def main() -> int:
    lines = ["# Inference speed and accuracy", "",
             "Generated by `python benchmarks/inference_report.py` from the raw results in `benchmarks/results/`.", ""]
    for speed in sorted(RESULTS.glob("models_published-*.json")):
        lines += speed_section(json.loads(speed.read_text()))
    for floor in sorted(RESULTS.glob("conv_floor-*.json")):
        lines += floor_section(json.loads(floor.read_text()))
    acc = sorted(RESULTS.glob("engine_accuracy-*.json"))
    if acc:
        lines += accuracy_section(acc)
    p1080 = RESULTS / "predict_1080p.json"
    if p1080.is_file():
        lines += predict_1080p_section(json.loads(p1080.read_text()))
    (HERE / "INFERENCE.md").write_text("\n".join(lines))
    print(f"wrote {HERE / 'INFERENCE.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
