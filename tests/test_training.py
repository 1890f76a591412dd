"""Training: staged recipe with prerequisite reuse, self-describing checkpoints, NaN stop, resume after kill -9."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

SIZE = (64, 128)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tiny_dataset) -> Path:
    """The shared prepared dataset (real photos, proxy labels, JND frames, ladders)."""
    return tiny_dataset


def _cfg(tmp: Path, data: Path, **kw):
    from laserjnd.training.recipe import TrainConfig

    base = dict(data_dir=data, checkpoint_path=tmp / "model.pt", csv_log_path=tmp / "log.csv", input_size=SIZE,
                epochs=1, batch_size=4, learning_rate=1e-4, prereq_dir=tmp.parent / "prereq", progress=False,
                tensorboard=False, accelerator="cpu")
    base.update(kw)
    return TrainConfig(**base)


def test_e2e_then_other_model_reuses_prerequisite(tmp_path, data):
    from laserjnd.checkpoint import load_checkpoint, read_checkpoint
    from laserjnd.training.recipe import build_model_cfg, train_model

    r1 = train_model("e2e-lat", build_model_cfg("e2e-lat", level=1, input_size=SIZE), _cfg(tmp_path / "a", data))
    info = r1.prerequisites["ae"]
    assert info["reused"] is False and info["model"] == "ae" and info["cfg"] == {"target": 0}
    prereq = Path(info["path"])
    mtime = prereq.stat().st_mtime_ns
    model, payload = load_checkpoint(r1.checkpoint_path, expect_model="e2e-lat")
    assert model.spec.levels == (1,) and tuple(model.spec.input_size) == SIZE
    assert payload["label_unit"] == "qp" and payload["meta"]["data_manifest_hash"]
    assert payload["meta"]["training"]["learning_rate"] == 1e-4
    check = payload["meta"]["precision_check"]["bf16"]  # what auto reads: measured on valid, never test
    assert check["split"] == "valid" and check["frames"] > 0 and 0 <= check["mean_abs_change"] <= check["max_abs_change"]
    # The Lightning best checkpoint is self-describing too.
    assert read_checkpoint(r1.best_lightning_ckpt)["model"]["name"] == "e2e-lat"
    rows = list(csv.DictReader(open(tmp_path / "a" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["0"]
    for key in ("train_loss", "val_loss", "val_mae_jnd1", "val_psnr"):
        assert np.isfinite(float(rows[0][key])), key

    # e2e-rec needs the same raw-reconstruction AE: reused, not retrained.
    r2 = train_model("e2e-rec", build_model_cfg("e2e-rec", level=2, input_size=SIZE), _cfg(tmp_path / "b", data))
    assert r2.prerequisites["ae"]["reused"] is True
    assert r2.prerequisites["ae"]["path"] == str(prereq) and prereq.stat().st_mtime_ns == mtime

    # Same seed, prerequisite now reused instead of trained: the very same model comes out.
    r3 = train_model("e2e-lat", build_model_cfg("e2e-lat", level=1, input_size=SIZE), _cfg(tmp_path / "c", data))
    assert r3.prerequisites["ae"]["reused"] is True
    first, again = (read_checkpoint(r.checkpoint_path)["state_dict"] for r in (r1, r3))
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_multi_level_model_trains_three_prerequisites(tmp_path, data):
    from laserjnd.checkpoint import load_checkpoint
    from laserjnd.training.recipe import build_model_cfg, train_model

    r = train_model("mj-lat", build_model_cfg("mj-lat", input_size=SIZE), _cfg(tmp_path, data))
    assert sorted(i["cfg"]["target"] for i in r.prerequisites.values()) == [1, 2, 3]
    model, _ = load_checkpoint(r.checkpoint_path, expect_model="mj-lat")
    assert model.spec.levels == (1, 2, 3)
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert all(f"val_mae_jnd{k}" in rows[0] for k in (1, 2, 3))


def test_constant_is_fitted_on_train_labels(tmp_path, data):
    from laserjnd.checkpoint import load_checkpoint
    from laserjnd.data.dataset import JNDDataset
    from laserjnd.training.recipe import train_model

    train_model("constant", {}, _cfg(tmp_path, data))
    model, _ = load_checkpoint(tmp_path / "model.pt", expect_model="constant")
    labels = JNDDataset(data, "train", input_size=SIZE).labels
    assert np.allclose(model.median.numpy(), np.median(labels, axis=0))


def test_nan_loss_stops_with_clear_error_and_keeps_good_checkpoint(tmp_path, data, monkeypatch):
    from laserjnd.errors import TrainingDiverged
    from laserjnd.training.module import JNDLightningModule
    from laserjnd.training.recipe import train_model

    real = JNDLightningModule.forward

    def poisoned(self, frame):  # epoch 0 fine, NaN from epoch 1 on
        out = real(self, frame)
        if self.current_epoch >= 1:
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    monkeypatch.setattr(JNDLightningModule, "forward", poisoned)
    with pytest.raises(TrainingDiverged, match="loss is nan.*last good checkpoint"):
        train_model("ae", {"target": 0, "input_size": SIZE}, _cfg(tmp_path, data, epochs=3))
    last = tmp_path / "model_run" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0
    assert (tmp_path / "model.pt").is_file()  # best epoch exported
    state = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_exploding_loss_stops(tmp_path, data, monkeypatch):
    from laserjnd.errors import TrainingDiverged
    from laserjnd.training.recipe import train_model

    with pytest.raises(TrainingDiverged, match="exceeds"):
        # factor < 1 makes the second step count as an explosion
        train_model("ae", {"target": 0, "input_size": SIZE}, _cfg(tmp_path, data, diverge_factor=1e-9, batch_size=1))


def test_level_for_multi_level_model_is_an_error():
    from laserjnd.errors import JNDError
    from laserjnd.training.recipe import build_model_cfg

    with pytest.raises(JNDError, match="predicts all levels"):
        build_model_cfg("mj-lat", level=2)
    assert build_model_cfg("lat")["level"] == 1
    assert build_model_cfg("ae", level=3) == {"target": 3}


def test_tensorboard_is_optional(monkeypatch):
    import importlib.util

    from laserjnd.errors import JNDError
    from laserjnd.training.recipe import use_tensorboard

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorboard", "tensorboardX") else real(name, *a))
    assert use_tensorboard(None) is False and use_tensorboard(False) is False  # default: off when missing
    with pytest.raises(JNDError, match="tensorboard is not installed.*--no-tensorboard"):
        use_tensorboard(True)


def _train_cli(*args) -> list[str]:
    return [sys.executable, "-m", "laserjnd.cli.train_cmd", *map(str, args)]


def test_resume_after_kill_keeps_finished_epochs(tmp_path, data):
    ckpt_dir = tmp_path / "m_run" / "checkpoints"
    log = tmp_path / "log.csv"
    common = ["ae", "--data_dir", data, "--checkpoint_path", tmp_path / "m.pt", "--csv_log_path", log,
              "--input-size", "64x128", "--batch_size", "1", "--learning-rate", "1e-4", "--quiet",
              "--no-tensorboard", "--accelerator", "cpu", "--prereq-dir", tmp_path / "pre"]
    proc = subprocess.Popen(_train_cli(*common, "--epochs", "200"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (ckpt_dir / "last.ckpt").is_file() or not log.is_file() or len(log.read_text().splitlines()) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no epoch finished in time"
        time.sleep(0.05)
    time.sleep(0.3)  # let it get into the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = torch.load(ckpt_dir / "last.ckpt", weights_only=True)["epoch"]
    before = [r for r in csv.DictReader(open(log)) if int(r["epoch"]) <= done]
    assert before and before[0]["epoch"] == "0"

    out = subprocess.run(_train_cli(*common, "--epochs", str(done + 3), "--resume"), cwd=REPO, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = list(csv.DictReader(open(log)))
    assert [int(r["epoch"]) for r in rows] == list(range(done + 3))  # nothing lost, nothing doubled
    assert rows[: len(before)] == before  # finished epochs' rows untouched
    assert torch.load(ckpt_dir / "last.ckpt", weights_only=True)["epoch"] == done + 2
    assert (tmp_path / "m.pt").is_file()


def test_visual_attention_model_trains_on_prepared_saliency(tmp_path, data):
    """MTJND's VA tail end to end: prepare --saliency maps -> joint JND + saliency loss -> checkpoint."""
    from laserjnd.checkpoint import load_checkpoint
    from laserjnd.training.recipe import build_model_cfg, train_model

    cfg = build_model_cfg("mt-1ljnd-va", level=2, input_size=SIZE, extra={"va_weight": 0.5})
    r = train_model("mt-1ljnd-va", cfg, _cfg(tmp_path, data, epochs=2))
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    sal_keys = [k for k in rows[0] if "saliency" in k or "va" in k.split("_")]
    assert sal_keys, f"no saliency loss logged in {list(rows[0])}"
    assert all(np.isfinite(float(rows[-1][k])) for k in sal_keys if rows[-1][k] not in ("", None))
    model, payload = load_checkpoint(r.checkpoint_path)
    assert model.spec.levels == (2,) and "saliency" in model.spec.outputs
    with torch.no_grad():
        out = model(torch.rand(1, 3, *SIZE))
    assert out["saliency"].min() >= 0 and out["saliency"].max() <= 1


@pytest.mark.parametrize("name", ["lat", "rec", "mj-lat", "mj-rec", "mj-lite", "mt-3ljnd", "direct"])
def test_init_output_bias_starts_predictions_near_the_labels(name):
    from laserjnd.models import create_model, model_entry

    kw = {"level": 2} if model_entry(name).single_level else {}
    torch.manual_seed(0)
    model = create_model(name, input_size=SIZE, **kw).eval()
    target = torch.tensor([29.0, 33.0, 36.0])[[k - 1 for k in model.spec.levels]]
    x = model.spec.convention.to_model(torch.rand(4, 3, *SIZE))
    with torch.no_grad():
        before = (model(x)["jnd"] - target).abs().mean()
        model.init_output_bias(target.tolist())
        after = (model(x)["jnd"] - target).abs().mean()
    assert after < before and after < 10.0


def test_diverged_prerequisite_is_not_cached(tmp_path, data, monkeypatch):
    """A prerequisite AE that diverges leaves no file in the cache for a later model to reuse."""
    from laserjnd.errors import TrainingDiverged
    from laserjnd.training import recipe

    real = recipe.train_model

    def diverging(name, cfg, tc):
        if name == "ae":
            tc.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            tc.checkpoint_path.write_bytes(b"best epoch before the NaN")  # what _export_best leaves behind
            raise TrainingDiverged("loss is nan at epoch 1")
        return real(name, cfg, tc)

    monkeypatch.setattr(recipe, "train_model", diverging)
    tc = _cfg(tmp_path, data, prereq_dir=tmp_path / "prereq")
    cfg = recipe.build_model_cfg("lat", level=1, input_size=SIZE)
    with pytest.raises(TrainingDiverged, match="prerequisite ae .* nothing cached"):
        recipe.ensure_prerequisites("lat", cfg, tc, "hash")
    assert not list((tmp_path / "prereq").glob("*.pt"))
