"""benchmarks/models.py --floor (time inside the engine's convs, per precision) and its INFERENCE.md section."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_floor_quick(tmp_path):
    models = _load("models")
    out = tmp_path / "floor.json"
    argv = ["--quick", "--models", "lat", "--floor", "--batch-sizes", "2", "--repeats", "1", "--warmup", "1",
            "--precisions", "fp32", "int8", "--json", str(out)]
    assert models.main(argv) == 0
    data = json.loads(out.read_text())
    row = data["rows"][0]
    conv, engine = row["fp32 conv ms/f b2"], row["fp32 engine ms/f b2"]
    assert 0 < conv <= engine  # the convs are a part of the engine's time
    assert row["heaviest conv"].startswith("encoder.")  # the LASeR encoder holds the big convs
    assert 0 < row["heaviest fp32 ms/f"] <= conv
    assert 0 < row["heaviest int8 ms/f"] <= row["int8 conv ms/f b2"]  # the same layer, found in the int8 engine
    assert set(data["cpu"]) >= {"avx512_bf16", "avx512_vnni", "amx_bf16"}

    report = _load("inference_report")
    text = "\n".join(report.floor_section(data))
    assert "| lat |" in text and "encoder." in text and "| int8 |" in text


def test_floor_section_names_models_over_the_floor():
    report = _load("inference_report")
    row = {"model": "m", "keras ms/f b4": 10.0, "bf16 conv ms/f b4": 6.0, "bf16 ms/f b4": 7.0, "int8 ms/f b4": 4.0}
    other = {**row, "model": "n", "bf16 conv ms/f b4": 4.0, "int8 ms/f b4": 6.0}
    text = "\n".join(report.floor_section({"command": "c", "rows": [row, other]}))
    assert "Keras network's time for 1/2 models (m): there no work" in text  # bf16 convs over the floor
    assert "0.5x the Keras network's time for 1/2 models (m)." in text  # int8 within the target
