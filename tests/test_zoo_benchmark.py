"""benchmarks/zoo.py --quick: prepares 6 photos, trains 3 models 1 epoch, writes JSONs + a markdown report."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load_zoo():
    spec = importlib.util.spec_from_file_location("zoo_benchmark", REPO / "benchmarks" / "zoo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def test_zoo_quick(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("LASERJND_CACHE_DIR", str(cache_dir))  # ladders shared with the other tests
    zoo = _load_zoo()
    out = tmp_path / "out"
    argv = ["--quick", "--out", str(out), "--data-root", str(tmp_path / "data"), "--work-dir", str(tmp_path / "work")]
    assert zoo.main(argv) == 0

    summary = json.loads((out / "zoo_results.json").read_text())
    models = ["constant", "mj-lite", "lat"]
    assert set(summary["rows"]) == set(models)
    assert not summary["failures"]
    assert sorted(summary["jobs_done"]) == sorted(summary["jobs_planned"])
    assert "lat-L1-s0" in summary["jobs_done"] and "lat-L3-s0" in summary["jobs_done"]  # one model per level
    for m in models:
        row = summary["rows"][m]
        for k in (1, 2, 3):
            lv = row["levels"][f"jnd{k}"]
            assert _finite(lv["mae"]) and _finite(lv["psnr_err"]), (m, k, lv)
        assert _finite(row["avg_mae"])
        c = summary["costs"][m]
        assert _finite(c["cpu_ms"]) and c["params_bench"] >= 0 and c["flops_bench"] >= 0
    ds = summary["dataset"]
    assert ds["label_kind"] == "proxy"
    assert all(_finite(ds["labels"][f"jnd{k}"]["constant_test_mae"]) for k in (1, 2, 3))
    assert set(summary["claims"]) == {"1", "2", "3"}
    assert all(c["verdict"] in ("HOLDS", "DOES NOT HOLD", "INCONCLUSIVE") for c in summary["claims"].values())

    runs = list((out / "runs").glob("*/*.json"))
    assert len(runs) == len(summary["jobs_planned"]) == 5
    for p in runs:
        r = json.loads(p.read_text())
        assert all(_finite(v["mae"]) for v in r["levels"].values())

    md = (out / "RESULTS.md").read_text()
    assert "proxy labels" in md and "| constant |" in md and "| lat (x3) |" in md and "| mj-lite |" in md
    assert "constant predictor test MAE" in md
    for claim in ("(1)", "(2)", "(3)"):
        assert claim in md

    # Rerun: every job is skipped (resumable), the report is rewritten.
    before = {p: p.stat().st_mtime_ns for p in runs}
    assert zoo.main(argv + ["--skip-prepare"]) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
