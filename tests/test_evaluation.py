"""Evaluation: ladder interpolation by hand, CSV/JSON/plots on a prepared dataset, clear mismatch errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

SIZE = (64, 128)


def test_quality_and_bits_error_hand_computed():
    from laserjnd.evaluation.metrics import LadderCurve, bits_error_pct, quality_error

    c = LadderCurve(np.array([20.0, 21.0, 22.0]), {"psnr_y": np.array([40.0, 38.0, 35.0]),
                                                    "bits": np.array([1000.0, 800.0, 600.0])})
    # psnr(20.5) = 39, psnr(21.5) = 36.5 -> 2.5 dB; bits 900 vs 700 -> 200/900
    assert quality_error(c, 20.5, 21.5) == pytest.approx(2.5)
    assert bits_error_pct(c, 20.5, 21.5) == pytest.approx(100 * 200 / 900)
    assert quality_error(c, 21.0, 30.0) == pytest.approx(3.0)  # clamped to the ladder's end (35 dB)
    assert quality_error(c, 21.0, 21.0) == 0.0


def test_curve_from_real_ladder_matches_ladder_at(tiny_dataset):
    from laserjnd.evaluation.metrics import load_curve

    path = next((tiny_dataset / "ladders" / "test").glob("*.json"))
    from laserjnd.data.ladder import Ladder

    lad = Ladder.from_dict(json.loads(path.read_text()))
    c = load_curve(path)
    for lv in (20.0, 27.3, 33.5):
        assert c.at("psnr_y", lv) == pytest.approx(lad.at("psnr_y", lv))
        assert c.at("bits", lv) == pytest.approx(lad.at("bits", lv))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_dataset) -> dict[str, Path]:
    from laserjnd.checkpoint import save_checkpoint
    from laserjnd.data.dataset import JNDDataset
    from laserjnd.models import create_model

    d = tmp_path_factory.mktemp("ckpt")
    const = create_model("constant").fit(JNDDataset(tiny_dataset, "train", SIZE).labels)
    mj = create_model("mj-lat", input_size=SIZE)
    lat = create_model("lat", level=2, input_size=SIZE)
    return {
        "constant": save_checkpoint(d / "const.pt", const, label_unit="qp"),
        "mj-lat": save_checkpoint(d / "mj.pt", mj, label_unit="qp"),
        "lat": save_checkpoint(d / "lat.pt", lat, label_unit="qp"),
        "lat-qf": save_checkpoint(d / "lat_qf.pt", lat, label_unit="qf"),
    }


def test_evaluate_writes_csv_json_plots(tmp_path, tiny_dataset, checkpoints):
    from laserjnd.evaluation.evaluate import evaluate

    res = evaluate(checkpoints["mj-lat"], tiny_dataset, tmp_path / "r.csv", expect_model="mj-lat")
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == res.summary["n_frames"] >= 1
    for k in (1, 2, 3):
        for col in ("true_jnd", "pred_jnd", "abs_err_jnd", "psnr_y_err_jnd", "bits_err_pct_jnd", "baseline_jnd"):
            assert f"{col}{k}" in rows[0]
            assert all(math.isfinite(float(r[f"{col}{k}"])) for r in rows)
    s = json.loads((tmp_path / "r_summary.json").read_text())
    assert s["quality_metric"] == "psnr_y" and s["quality_error_unit"] == "dB" and s["unit"] == "qp"
    assert s["n_frames_with_ladder"] == s["n_frames"]
    for k in (1, 2, 3):
        e = s["levels"][f"jnd{k}"]
        for key in ("mae", "psnr_y_error", "bits_error_pct"):
            assert math.isfinite(e[key]) and math.isfinite(e["baseline"][key])
    names = sorted(p.name for p in res.plots)
    assert names == ["error_hist.png", "ladders.png", "pred_vs_true.png"]
    assert all(p.stat().st_size > 1000 for p in res.plots)


def test_constant_checkpoint_equals_baseline(tmp_path, tiny_dataset, checkpoints):
    from laserjnd.evaluation.evaluate import evaluate

    s = evaluate(checkpoints["constant"], tiny_dataset, tmp_path / "c.csv", plots=False).summary
    for e in s["levels"].values():
        assert e["mae"] == pytest.approx(e["baseline"]["mae"])
        assert e["psnr_y_error"] == pytest.approx(e["baseline"]["psnr_y_error"])


def test_mismatches_are_clear_errors(tmp_path, tiny_dataset, checkpoints):
    from laserjnd.errors import JNDError
    from laserjnd.evaluation.evaluate import evaluate

    with pytest.raises(JNDError, match="holds model 'mj-lat', not 'lat'"):
        evaluate(checkpoints["mj-lat"], tiny_dataset, tmp_path / "x.csv", expect_model="lat")
    with pytest.raises(JNDError, match=r"predicts levels \[2\], not JND1"):
        evaluate(checkpoints["lat"], tiny_dataset, tmp_path / "x.csv", expect_model="lat", level=1)
    with pytest.raises(JNDError, match="trained at 64x128, not the requested --input-size 352x640"):
        evaluate(checkpoints["lat"], tiny_dataset, tmp_path / "x.csv", input_size=(352, 640))
    with pytest.raises(JNDError, match="predicts QF but the dataset is labelled in QP"):
        evaluate(checkpoints["lat-qf"], tiny_dataset, tmp_path / "x.csv")
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(checkpoints["lat"].read_bytes()[:5000])
    with pytest.raises(JNDError, match="not a readable checkpoint"):
        evaluate(bad, tiny_dataset, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_qf_plots_label_quality_factor(tmp_path):
    from laserjnd.evaluation.metrics import LadderCurve
    from laserjnd.evaluation.plots import axis_label, make_plots

    assert axis_label("qf") == "quality factor" and axis_label("qp") == "QP"
    lv = np.arange(1, 101, dtype=float)
    c = LadderCurve(lv, {"psnr_y": 25 + lv / 5, "vmaf": lv, "bits": lv * 100})
    rows = [{"name": "a", "true_jnd1": 80.0, "pred_jnd1": 75.0}]
    paths = make_plots(tmp_path, rows, [1], "qf", [c])
    assert len(paths) == 3 and all(p.stat().st_size > 1000 for p in paths)


def test_cli_test_prints_table(tmp_path, tiny_dataset, checkpoints, capsys):
    from laserjnd.cli.test_cmd import test_command

    test_command(model="mj-lat", data_dir=tiny_dataset, model_weights_path=checkpoints["mj-lat"],
                 result_path=tmp_path / "r.csv", jnd_column=None, level=None, input_size=None, split="test",
                 metric="psnr_y", batch_size=8, device="cpu", plots=False)
    out = capsys.readouterr().out
    assert "JND3" in out and "MAE (QP)" in out and (tmp_path / "r_summary.json").is_file()
