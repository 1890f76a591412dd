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
           "hardly vary, so it cannot vouch for a reduced precision, and the published models keep fp32 under `auto`.",
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
                "| model | input | fp32 | bf16 | int8 | Keras | fp32/Keras | bf16/Keras | int8/Keras | auto = | auto/Keras |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            g = lambda k: r.get(f"{k} b{b}")  # noqa: E731
            out.append(f"| {r['model']} | {r['input']} | {_num(g('fp32 ms/f'))} | {_num(g('bf16 ms/f'))} | "
                       f"{_num(g('int8 ms/f'))} | {_num(g('keras ms/f'))} | {_num(g('fp32/keras'), 2)} | "
                       f"{_num(g('bf16/keras'), 2)} | {_num(g('int8/keras'), 2)} | "
                       f"{r.get('auto =', '-')} | {_num(g('auto/keras'), 2)} |")
        out.append("")
    if any(r["model"].startswith("e2e-lat") for r in rows):
        out += ["e2e-lat: prediction needs only the JND output, so the engine skips the decoder that feeds the "
                "reconstruction output; the Keras network computes both of its outputs.", ""]
    b4 = [r for r in rows if r.get("keras ms/f b4")]
    if b4:
        def met(key, target):
            ok = [r["model"] for r in b4 if (r.get(key) or 9) <= target]
            return f"{len(ok)}/{len(b4)} ({', '.join(ok) or 'none'})"

        out += [f"Targets at batch 4 (issue 13): fp32 no slower than Keras - met by {met('fp32/keras b4', FP32_TARGET)}; "
                f"bf16 at most {SPEED_TARGET}x Keras - met by {met('bf16/keras b4', SPEED_TARGET)}; int8 at most "
                f"{SPEED_TARGET}x Keras - met by {met('int8/keras b4', SPEED_TARGET)}; `auto` at most {SPEED_TARGET}x "
                f"Keras - met by {met('auto/keras b4', SPEED_TARGET)}.", ""]
    return out


def floor_section(data: dict) -> list[str]:
    """Per precision at batch 4 (else the largest batch run): the Predictor, the engine alone and the
    time inside its convs, against Keras; the heaviest conv per precision."""
    rows, cpu = data["rows"], data.get("cpu") or {}
    sizes = (data.get("settings") or {}).get("batch_sizes") or [4]
    b = 4 if 4 in sizes else max(sizes)
    units = ", ".join(f"{u} {'yes' if cpu.get(u) else 'no'}" for u in ("avx512_bf16", "avx512_vnni", "amx_bf16"))
    precisions = [p for p in ("fp32", "bf16", "int8") if any(f"{p} ms/f b{b}" in r for r in rows)]
    out = [f"## Where the time goes (batch {b})", "", f"`{data['command']}`", "",
           f"CPU: {cpu.get('model', '?')}, {cpu.get('cores', '?')} cores ({units}). *Predictor*: decoded 720p "
           "frames through `Predictor.predict_rgb` (resize included); *engine*: the same engine on a ready batch; "
           "*convs*: the part of the engine's time spent inside its conv layers (timed by hooks), which run "
           "through oneDNN as TensorFlow's do. Ratios are to the Keras network's time per frame in the same run.", "",
           "| model | Keras | precision | Predictor | engine | convs | Predictor/Keras | convs/Keras |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = r.get(f"keras ms/f b{b}")
        ratio = lambda v: _num(v / k if v is not None and k else None, 2)  # noqa: E731
        for p in precisions:
            g = lambda key: r.get(f"{p} {key} b{b}")  # noqa: E731
            out.append(f"| {r['model']} | {_num(k)} | {p} | {_num(g('ms/f'))} | {_num(g('engine ms/f'))} | "
                       f"{_num(g('conv ms/f'))} | {ratio(g('ms/f'))} | {ratio(g('conv ms/f'))} |")
    out += _floor_findings(rows, b)
    out += ["", "The heaviest conv of each model, ms per frame, in each precision's engine:", "",
            "| model | layer | " + " | ".join(precisions) + " | int8/fp32 |", "|---|---|" + "---|" * (len(precisions) + 1)]
    for r in rows:
        f32, i8 = r.get("heaviest fp32 ms/f"), r.get("heaviest int8 ms/f")
        cells = " | ".join(_num(r.get(f"heaviest {p} ms/f")) for p in precisions)
        out.append(f"| {r['model']} | `{r.get('heaviest conv', '-')}` | {cells} | "
                   f"{_num(i8 / f32 if i8 and f32 else None, 2)} |")
    return out + [""]


def _floor_findings(rows: list[dict], b: int) -> list[str]:
    """The sentences the floor table supports, computed from it."""
    keras = {r["model"]: r.get(f"keras ms/f b{b}") for r in rows}
    g = lambda r, key: r.get(f"{key} b{b}")  # noqa: E731

    def models_where(test) -> list[str]:
        return [r["model"] for r in rows if keras[r["model"]] and test(r, keras[r["model"]])]

    engine_ok = models_where(lambda r, k: (g(r, "fp32 engine ms/f") or 1e12) <= FP32_TARGET * k)
    floor = models_where(lambda r, k: (g(r, "bf16 conv ms/f") or 0) > SPEED_TARGET * k)
    int8_ok = models_where(lambda r, k: (g(r, "int8 ms/f") or 1e12) <= SPEED_TARGET * k)
    extra = sorted(g(r, "fp32 ms/f") - g(r, "fp32 engine ms/f") for r in rows
                   if g(r, "fp32 ms/f") is not None and g(r, "fp32 engine ms/f") is not None)
    out = []
    if extra:
        out += ["", f"The fp32 engine on a ready batch is no slower than Keras for {len(engine_ok)}/{len(rows)} models "
                f"({', '.join(engine_ok) or 'none'}); the Predictor's decoding-side work (resizing the 720p frame, "
                f"building the batch) adds {extra[len(extra) // 2]:.1f} ms per frame (median), which the Keras "
                "column, timed on ready tensors, does not pay."]
    out += ["", f"bf16 convolutions alone take more than {SPEED_TARGET}x the Keras network's time for "
            f"{len(floor)}/{len(rows)} models ({', '.join(floor) or 'none'}): there no work around the convs "
            f"can reach {SPEED_TARGET}x in bf16."]
    if any(g(r, "int8 ms/f") is not None for r in rows):
        out += ["", f"int8 through the Predictor takes at most {SPEED_TARGET}x the Keras network's time for "
                f"{len(int8_ok)}/{len(rows)} models ({', '.join(int8_ok) or 'none'})."]
    return out


def accuracy_section(files: list[Path]) -> list[str]:
    out = ["## Accuracy cost of each precision and backend (trained weights)", "",
           "|change| of the predicted label against the plain eager fp32 model, through `Predictor`; "
           "`auto` may pick int8 or bf16 only where its mean change is at most 0.05 QP. *prediction std*: how much "
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
