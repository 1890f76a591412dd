"""The whole CLI path: prepare (fixture) -> train -> test -> predict, error lines, and a 2-process DDP run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def _main(args) -> int:
    from laserjnd.cli.main import main

    return main([str(a) for a in args])


def test_train_test_predict_via_cli(tmp_path, tiny_dataset, capsys):
    ck = tmp_path / "e2e.pt"
    rc = _main(["train", "e2e-lat", "--data_dir", tiny_dataset, "--checkpoint_path", ck, "--csv_log_path",
                tmp_path / "log.txt", "--epochs", 1, "--batch_size", 4, "--learning_rate", 1e-4, "--jnd_column", 1,
                "--input-size", "64x128", "--quiet", "--no-tensorboard", "--accelerator", "cpu",
                "--prereq-dir", tmp_path / "pre"])
    assert rc == 0, capsys.readouterr().err
    assert "prerequisites trained: ['ae']" in capsys.readouterr().out
    payload = __import__("torch").load(ck, weights_only=True)
    assert payload["model"]["name"] == "e2e-lat" and payload["model"]["levels"] == [2]
    assert len(list(csv.DictReader(open(tmp_path / "log.txt")))) == 1

    rc = _main(["test", "e2e-lat", "--data-dir", tiny_dataset, "--model-weights-path", ck, "--result-path",
                tmp_path / "res.csv", "--level", 2, "--no-plots"])
    assert rc == 0
    s = json.loads((tmp_path / "res_summary.json").read_text())
    assert list(s["levels"]) == ["jnd2"] and s["levels"]["jnd2"]["baseline"]["mae"] >= 0

    rc = _main(["predict", ck, tiny_dataset / "test", "--output", tmp_path / "p.json"])
    assert rc == 0
    rows = json.loads((tmp_path / "p.json").read_text())
    assert rows and all("jnd2" in r for r in rows)

    # a checkpoint of a different model than named: one clear line, exit code 2
    capsys.readouterr()
    rc = _main(["test", "lat", "--data_dir", tiny_dataset, "--model_weights_path", ck, "--result_path", tmp_path / "x.csv"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "holds model 'e2e-lat', not 'lat'" in err


def test_unreadable_video_cli_error(tmp_path, capsys):
    from laserjnd.checkpoint import save_checkpoint
    from laserjnd.models import create_model

    ck = save_checkpoint(tmp_path / "c.pt", create_model("constant").fit([[30, 34, 38]]), label_unit="qp")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    rc = _main(["predict", ck, bad])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "video cannot be read" in err and "\n" not in err


def test_ddp_two_cpu_processes(tmp_path, tiny_dataset):
    """Lightning's ddp strategy (gloo) with 2 CPU processes; the launcher re-runs this command in the child."""
    ck = tmp_path / "ddp.pt"
    cmd = [sys.executable, "-m", "laserjnd.cli.main", "train", "ae", "--data_dir", str(tiny_dataset),
           "--checkpoint_path", str(ck), "--csv_log_path", str(tmp_path / "log.csv"), "--epochs", "1",
           "--batch_size", "2", "--input-size", "64x128", "--devices", "2", "--accelerator", "cpu", "--quiet",
           "--no-tensorboard", "-v"]  # -v: Lightning's own lines, which name the ranks
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in out.stderr or "world_size=2" in out.stderr.replace(" ", "") or "2 processes" in out.stderr
    assert ck.is_file() and len(list(csv.DictReader(open(tmp_path / "log.csv")))) == 1
