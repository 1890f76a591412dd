"""Hostile and careless input, at every entry point (issue 9).

Each case asserts the exit code, that the error is one line naming the file or option, and that no
input or earlier output changed. Malicious checkpoints carry a pickle whose ``__reduce__`` would
create a marker file: the marker must never appear.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from laserjnd.checkpoint import FORMAT, save_checkpoint
from laserjnd.cli.main import main
from laserjnd.models import create_model
from laserjnd.zoo import entry_path

REPO = Path(__file__).resolve().parents[1]
SIZE = (64, 128)


# ---------------------------------------------------------------- helpers


def run(capfd, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, *needles: str) -> str:
    """Exit code 2 and exactly one ``error:`` line naming the problem (our progress lines may precede it)."""
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert rc == 2, err
    assert len(errors) == 1 and err.rstrip("\n").endswith(errors[0]), f"expected one error line, got:\n{err}"
    assert "Traceback" not in err and "warning:" not in err, err
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


def snapshot(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``roots`` with its size and content hash (what must not change)."""
    state = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        for f in files:
            state[str(f)] = (f.stat().st_size, hashlib.sha1(f.read_bytes()).hexdigest())
    return state


class CodeRunner:
    """Unpickled the unsafe way, this runs a shell command that creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def malicious_file(path: Path, marker: Path, flavor: str) -> Path:
    if flavor == "torch":  # our .pt layout with code inside
        torch.save({"format": FORMAT, "version": 1, "model": CodeRunner(marker), "label_unit": "qp"}, path)
    elif flavor == "lightning":  # a Lightning .ckpt with code in its hyper-parameters
        torch.save({"hyper_parameters": {FORMAT: CodeRunner(marker)}, "state_dict": {}, "epoch": 0}, path)
    else:  # a legacy raw pickle, not even a torch file
        with open(path, "wb") as f:
            pickle.dump({"format": FORMAT, "payload": CodeRunner(marker)}, f)
    return path


FLAVORS = {"torch": ".pt", "lightning": ".ckpt", "raw-pickle": ".pt"}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A real, tiny checkpoint (the constant predictor): loading and predicting cost nothing."""
    model = create_model("constant").fit([[30, 34, 38]])
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "constant.pt", model, label_unit="qp")


@pytest.fixture()
def image(tmp_path, photo) -> Path:
    path = tmp_path / "in" / "photo.png"
    path.parent.mkdir()
    cv2.imwrite(str(path), photo[:, :, ::-1])
    return path


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) if crc is None else crc)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes whose header claims 10 gigapixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + png_chunk(b"IEND", b""))


def chatty_png(photo: np.ndarray) -> bytes:
    """A valid PNG with a broken ancillary chunk: libpng prints a warning on stderr and decodes it."""
    ok, buf = cv2.imencode(".png", photo[:, :, ::-1])
    data = buf.tobytes()
    return data[:33] + png_chunk(b"tEXt", b"Comment\0hello", crc=1234) + data[33:]


# ---------------------------------------------------------------- 1. no code runs from a file


def test_the_marker_payload_really_runs_code_when_unpickled(tmp_path):
    """The check below can fail: the same payload, loaded the unsafe way, does leave the marker."""
    marker = tmp_path / "ran"
    path = malicious_file(tmp_path / "evil.pt", marker, "raw-pickle")
    with open(path, "rb") as f:
        pickle.load(f)  # noqa: S301 - on purpose, to prove the payload is live
    assert marker.exists()


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("entry", ["predict", "test", "export", "check-precision"])
def test_malicious_checkpoint_runs_nothing(entry, flavor, tmp_path, capfd, image, tiny_dataset):
    marker = tmp_path / "ran"
    evil = malicious_file(tmp_path / f"evil{FLAVORS[flavor]}", marker, flavor)
    args = {"predict": ["predict", evil, image, "-o", tmp_path / "p.csv"],
            "test": ["test", "constant", "--data_dir", tiny_dataset, "--model_weights_path", evil,
                     "--result_path", tmp_path / "r.csv"],
            "export": ["export", evil, "-o", tmp_path / "x.onnx"],
            "check-precision": ["check-precision", evil, image, "-o", tmp_path / "c.pt"]}[entry]
    before = snapshot(evil, image, tiny_dataset)
    rc, _, err = run(capfd, *args)
    assert_one_line_error(rc, err, str(evil), "refused", "nothing in it was run")
    assert not marker.exists()
    assert snapshot(evil, image, tiny_dataset) == before
    assert not any((tmp_path / n).exists() for n in ("p.csv", "r.csv", "x.onnx", "c.pt"))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_python_api_load_runs_nothing(flavor, tmp_path):
    import laserjnd
    from laserjnd.errors import UnsafeFileError

    marker = tmp_path / "ran"
    evil = malicious_file(tmp_path / f"evil{FLAVORS[flavor]}", marker, flavor)
    with pytest.raises(UnsafeFileError, match="refused") as e:
        laserjnd.load(evil)
    assert "\n" not in str(e.value) and not marker.exists()


def _train_args(data: Path, tmp: Path, model: str = "ae", *extra) -> list:
    return ["train", model, "--data_dir", data, "--checkpoint_path", tmp / "m.pt", "--csv_log_path", tmp / "log.csv",
            "--input-size", "64x128", "--epochs", "1", "--batch_size", "4", "--learning-rate", "1e-4", "--quiet",
            "--no-tensorboard", "--accelerator", "cpu", "--prereq-dir", tmp / "pre", *extra]


@pytest.mark.parametrize("flavor", ["lightning", "torch"])
def test_train_resume_with_planted_last_ckpt_runs_nothing(flavor, tmp_path, capfd, tiny_dataset):
    marker = tmp_path / "ran"
    last = tmp_path / "m_run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    malicious_file(last, marker, flavor)
    before = snapshot(tmp_path, tiny_dataset)
    rc, _, err = run(capfd, *_train_args(tiny_dataset, tmp_path, "ae", "--resume"))
    assert_one_line_error(rc, err, "last.ckpt", "refused")
    assert not marker.exists() and snapshot(tmp_path, tiny_dataset) == before


def test_plain_train_with_planted_prerequisite_runs_nothing(tmp_path, capfd, tiny_dataset, monkeypatch):
    """`train lat` reuses a cached prerequisite AE beside the data; a planted one must not run code."""
    from laserjnd.training import recipe

    tc = recipe.TrainConfig(data_dir=tiny_dataset, checkpoint_path=tmp_path / "m.pt", input_size=SIZE, epochs=1,
                            batch_size=4, learning_rate=1e-4, prereq_dir=tmp_path / "pre", accelerator="cpu")
    planned = []

    def record(name, cfg, sub):  # where `train lat` would cache its AE
        planned.append(sub.checkpoint_path)
        raise KeyboardInterrupt

    manifest_hash = json.loads((tiny_dataset / "manifest.json").read_text())["hash"]
    with monkeypatch.context() as m:
        m.setattr(recipe, "train_model", record)
        with pytest.raises(KeyboardInterrupt):
            recipe.ensure_prerequisites("lat", recipe.build_model_cfg("lat", level=1, input_size=SIZE), tc, manifest_hash)
    marker = tmp_path / "ran"
    planned[0].parent.mkdir(parents=True)
    malicious_file(planned[0], marker, "torch")
    rc, _, err = run(capfd, *_train_args(tiny_dataset, tmp_path, "lat"))
    assert_one_line_error(rc, err, planned[0].name, "refused")
    assert not marker.exists() and not (tmp_path / "m.pt").exists()


def test_bundled_safetensors_is_a_checkpoint(tmp_path, capfd, image, tiny_dataset):
    zoo = entry_path()
    if not zoo.is_file():
        pytest.skip("no bundled model in this checkout")
    rc, out, err = run(capfd, "predict", zoo, image, "-o", tmp_path / "p.json")
    assert rc == 0, err
    assert json.loads((tmp_path / "p.json").read_text())[0]["jnd1"] > 0
    from laserjnd.zoo import load_pretrained_payload

    name = load_pretrained_payload(zoo)["model"]["name"]  # the bundled model, whichever it is
    rc, _, err = run(capfd, "test", name, "--data_dir", tiny_dataset, "--model_weights_path", zoo,
                     "--result_path", tmp_path / "r.csv", "--no-plots")
    assert rc == 0, err


def _payload(**changes) -> dict:
    model = create_model("constant").fit([[30, 34, 38]])
    from laserjnd.checkpoint import checkpoint_dict

    return checkpoint_dict(model, label_unit="qp") | changes


@pytest.mark.parametrize("case,needle", [
    ("nan", "NaN or infinite values (median)"),
    ("inf", "NaN or infinite values (median)"),
    ("unfitted", "NaN or infinite values (median)"),
    ("no-model", "does not describe its model"),
    ("unit", "unknown label unit 'db'"),
    ("unknown-model", "cannot rebuild model 'nope'"),
    ("newer", "newer than this laserjnd supports"),
    ("no-weights", "holds no weights"),
    ("bad-safetensors", "not a readable safetensors file"),
    ("foreign-safetensors", "without laserjnd metadata"),
    ("truncated", "not a readable checkpoint"),
])
def test_broken_checkpoints_are_one_line_errors(case, needle, tmp_path, capfd, image, ckpt):
    path = tmp_path / ("bad.safetensors" if "safetensors" in case else "bad.pt")
    if case in ("nan", "inf"):
        p = _payload()
        p["state_dict"]["median"][0] = float(case)
        torch.save(p, path)
    elif case == "unfitted":
        save_checkpoint(path, create_model("constant"), label_unit="qp")
    elif case == "no-model":
        p = _payload()
        del p["model"]
        torch.save(p, path)
    elif case == "unit":
        torch.save(_payload(label_unit="db"), path)
    elif case == "unknown-model":
        p = _payload()
        p["model"]["name"] = "nope"
        torch.save(p, path)
    elif case == "newer":
        torch.save(_payload(version=99), path)
    elif case == "no-weights":
        torch.save(_payload(state_dict={}), path)
    elif case == "bad-safetensors":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    elif case == "foreign-safetensors":
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(2)}, str(path))
    else:
        path.write_bytes(ckpt.read_bytes()[:2000])
    rc, _, err = run(capfd, "predict", path, image, "-o", tmp_path / "p.csv")
    assert_one_line_error(rc, err, str(path), needle)
    assert not (tmp_path / "p.csv").exists()


# ---------------------------------------------------------------- 2. never delete what laserjnd did not write


def _user_folder(root: Path) -> Path:
    (root / "photos").mkdir(parents=True)
    (root / "thesis.txt").write_text("four years of work")
    (root / "photos" / "a.jpg").write_bytes(b"not really a photo")
    return root


def test_prepare_refuses_a_folder_of_user_files(tmp_path, capfd):
    out = _user_folder(tmp_path / "mine")
    before = snapshot(out)
    rc, _, err = run(capfd, "prepare", out, "--kind", "default", "--limit", "4", "--max-side", "48", "--overwrite")
    assert_one_line_error(rc, err, str(out), "holds no laserjnd dataset")
    assert snapshot(out) == before


@pytest.fixture()
def previous_dataset(tmp_path, tiny_dataset) -> Path:
    out = tmp_path / "ds"
    shutil.copytree(tiny_dataset, out)
    return out


def test_prepare_replaces_a_previous_dataset_only_with_overwrite(previous_dataset, capfd, cache_dir, monkeypatch):
    monkeypatch.setenv("LASERJND_CACHE_DIR", str(cache_dir))
    before = snapshot(previous_dataset)
    args = ["prepare", previous_dataset, "--kind", "default", "--limit", "4", "--max-side", "48", "--workers", "2"]
    rc, _, err = run(capfd, *args)
    assert_one_line_error(rc, err, str(previous_dataset), "--overwrite")
    assert snapshot(previous_dataset) == before
    rc, out, err = run(capfd, *args, "--overwrite")
    assert rc == 0, err
    manifest = json.loads((previous_dataset / "manifest.json").read_text())
    assert len(manifest["frames"]) == 4 and snapshot(previous_dataset) != before
    assert not [p for p in previous_dataset.parent.iterdir() if p.name.endswith(".partial")]


def test_prepare_overwrite_keeps_a_dataset_holding_user_files(previous_dataset, capfd):
    (previous_dataset / "train" / "my_notes.txt").write_text("mine")
    before = snapshot(previous_dataset)
    rc, _, err = run(capfd, "prepare", previous_dataset, "--kind", "default", "--limit", "4", "--overwrite")
    assert_one_line_error(rc, err, "my_notes.txt", "not written by laserjnd")
    assert snapshot(previous_dataset) == before


@pytest.mark.parametrize("where", ["equal", "inside", "containing", "cwd"])
def test_prepare_refuses_outputs_overlapping_inputs(where, tmp_path, capfd, photo, monkeypatch):
    src = tmp_path / "media"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"p{i}.png"), np.roll(photo, 9 * i, axis=1))
    out = {"equal": src, "inside": src / "ds", "containing": tmp_path, "cwd": Path(".")}[where]
    monkeypatch.chdir(tmp_path if where == "cwd" else REPO)
    before = snapshot(tmp_path)
    rc, _, err = run(capfd, "prepare", out, src.resolve(), "--kind", "proxy", "--overwrite")
    assert_one_line_error(rc, err, "name a", str(out))
    assert snapshot(tmp_path) == before


def test_stale_partial_of_a_killed_run_is_cleaned_and_only_ours(tmp_path, capfd, cache_dir, monkeypatch):
    from laserjnd.utils.atomic import OWNER_FILE

    monkeypatch.setenv("LASERJND_CACHE_DIR", str(cache_dir))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / ".ds.abcd1234.partial"  # our naming, owner process gone
    live = tmp_path / ".ds.wxyz5678.partial"  # our naming, owner alive (a run in progress)
    other = tmp_path / ".ds.partial-backup"  # not our naming
    for folder, pid in ((stale, dead.pid), (live, os.getppid()), (other, dead.pid)):
        (folder / "train").mkdir(parents=True)
        (folder / OWNER_FILE).write_text(f"{socket.gethostname()} {pid}\n")
    rc, _, err = run(capfd, "prepare", tmp_path / "ds", "--kind", "default", "--limit", "4", "--max-side", "48")
    assert rc == 0, err
    assert not stale.exists() and live.is_dir() and other.is_dir()
    assert (tmp_path / "ds" / "manifest.json").is_file()


def test_kill_during_prepare_then_rerun(tmp_path):
    """kill -9 mid-way leaves no dataset that looks complete; the rerun finishes and leaves no .partial."""
    out, cache = tmp_path / "ds", tmp_path / "cache"
    cmd = [sys.executable, "-m", "laserjnd.cli.main", "prepare", str(out), "--kind", "default", "--limit", "4",
           "--max-side", "64", "--workers", "1", "--cache-dir", str(cache)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(cache.rglob("*.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() or (out / "manifest.json").is_file()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "manifest.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_dataset) -> Path:
    """One finished 1-epoch run of the ae (its model, Lightning checkpoints and log)."""
    run_root = tmp_path_factory.mktemp("run")
    assert main([str(a) for a in _train_args(tiny_dataset, run_root, "ae")]) == 0
    assert (run_root / "m_run" / "checkpoints" / "last.ckpt").is_file()
    return run_root


@pytest.mark.parametrize("extra,needles", [
    ((), ("m.pt", "earlier run", "--resume", "--overwrite")),
    (("--resume", "--input-size", "64x96"), ("last.ckpt", "input size '64x128'", "'64x96'")),
    (("--resume", "--seed", "3", "--cfg", "target=2"), ("last.ckpt", "model config")),
    (("--resume", "--overwrite"), ("--resume", "--overwrite", "choose one")),
])
def test_rerunning_train_keeps_the_earlier_run(extra, needles, trained_run, capfd, tiny_dataset):
    before = snapshot(trained_run)
    args = _train_args(tiny_dataset, trained_run, "ae")
    if "--input-size" in extra:
        args = args[:args.index("--input-size")] + args[args.index("--input-size") + 2:]
    rc, _, err = run(capfd, *args, *extra)
    assert_one_line_error(rc, err, *needles)
    assert snapshot(trained_run) == before


def test_resume_with_another_model_is_refused(trained_run, capfd, tiny_dataset):
    before = snapshot(trained_run)
    rc, _, err = run(capfd, *_train_args(tiny_dataset, trained_run, "lat", "--resume"))
    assert_one_line_error(rc, err, "last.ckpt", "model 'ae'", "'lat'")
    assert snapshot(trained_run) == before


def test_train_overwrite_starts_afresh(trained_run, tmp_path, capfd, tiny_dataset):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    (copy / "m_run" / "checkpoints" / "mine.txt").write_text("kept")
    rc, _, err = run(capfd, *_train_args(tiny_dataset, copy, "ae", "--overwrite"))
    assert rc == 0, err
    assert (copy / "m_run" / "checkpoints" / "mine.txt").read_text() == "kept"  # not ours: left alone
    assert len((copy / "log.csv").read_text().splitlines()) == 2


def test_train_overwrite_refuses_a_foreign_log(tmp_path, capfd, tiny_dataset):
    (tmp_path / "log.csv").write_text("date,amount\n2024-01-01,12\n")
    before = snapshot(tmp_path)
    rc, _, err = run(capfd, *_train_args(tiny_dataset, tmp_path, "ae", "--overwrite"))
    assert_one_line_error(rc, err, "log.csv", "not written by laserjnd")
    assert snapshot(tmp_path) == before


def test_export_never_overwrites(tmp_path, capfd, ckpt):
    ck = tmp_path / "c.pt"
    shutil.copyfile(ckpt, ck)
    before = snapshot(ck)
    rc, _, err = run(capfd, "export", ck, "-o", ck)
    assert_one_line_error(rc, err, str(ck), "input of this command")
    assert snapshot(ck) == before
    rc, _, err = run(capfd, "export", ck, "--format", "torchscript")
    assert rc == 0, err
    made = snapshot(tmp_path)
    rc, _, err = run(capfd, "export", ck, "--format", "torchscript")
    assert_one_line_error(rc, err, "c.ts.pt", "exists", "--overwrite")
    assert snapshot(tmp_path) == made
    rc, _, err = run(capfd, "export", ck, "--format", "torchscript", "--overwrite")
    assert rc == 0, err


def test_import_keras_never_writes_over_its_input(tmp_path, capfd):
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    before = snapshot(h5)
    rc, _, err = run(capfd, "import-keras", h5, "--model", "lat", "-o", h5)
    assert_one_line_error(rc, err, str(h5), "input of this command")
    assert snapshot(h5) == before


def test_predict_encode_never_overwrites(tmp_path, capfd, ckpt, image):
    enc = tmp_path / "enc"
    rc, _, err = run(capfd, "predict", ckpt, image, "--encode", enc, "-o", tmp_path / "p.csv")
    assert rc == 0, err
    made = snapshot(enc)
    assert len(made) == 1
    rc, _, err = run(capfd, "predict", ckpt, image, "--encode", enc, "-o", tmp_path / "q.csv")
    assert_one_line_error(rc, err, "photo_jnd1_qp30.264", "exists", "--overwrite")
    assert snapshot(enc) == made and not (tmp_path / "q.csv").exists()
    rc, _, err = run(capfd, "predict", ckpt, image, "--encode", enc, "--overwrite")
    assert rc == 0, err
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    rc, _, err = run(capfd, "predict", ckpt, image, "--encode", file)
    assert_one_line_error(rc, err, str(file), "is a file")
    rc, _, err = run(capfd, "predict", ckpt, image, "--encode", image.parent)
    assert_one_line_error(rc, err, "overlaps the input")
    assert file.read_text() == "mine"


def test_predict_output_is_never_an_input(tmp_path, capfd, ckpt, image):
    before = snapshot(ckpt, image)
    for target in (ckpt, image):
        rc, _, err = run(capfd, "predict", ckpt, image, "-o", target, "--format", "csv")
        assert_one_line_error(rc, err, str(target), "input of this command")
    assert snapshot(ckpt, image) == before


# ---------------------------------------------------------------- 3. usage errors: one line, exit code 2


@pytest.mark.parametrize("args,needles", [
    (["--bogus-flag"], ["No such option: --bogus-flag"]),
    (["predict", "x.png", "--bogus-flag"], ["laserjnd predict", "--bogus-flag"]),
    (["train"], ["laserjnd train", "Missing argument 'model'"]),
    (["nope"], ["No such command 'nope'"]),
    (["predict", "x.png", "--batch-size", "abc"], ["'--batch-size'", "valid integer"]),
    (["predict", "x.png", "--aggregate", "mode"], ["'--aggregate'", "'mode'"]),
    (["predict", "x.png", "--format", "xml"], ["'--format'", "'xml'"]),
    (["predict", "x.png", "--format", "json"], ["--format json applies to --output"]),
    (["predict", "x.png", "-o", "p.txt"], ["--output p.txt", ".csv or .json"]),
    (["predict", "x.png", "--frames", "0"], ["'--frames'"]),
    (["predict", "x.png", "--device", "cuda"], ["--device cuda", "CUDA is not available"]),
    (["predict", "x.png", "--device", "toaster"], ["--device 'toaster'"]),
    (["predict", "x.png", "--reference-level", "22"], ["--reference-level", "needs --encode"]),
    (["prepare", "OUT", "--frames-per-clip", "0"], ["'--frames-per-clip'"]),
    (["prepare", "OUT", "--workers", "-2"], ["--workers must be at least 1, got -2"]),
    (["prepare", "OUT", "--sur", "1.5"], ["--sur", "between 0 and 1"]),
    (["prepare", "OUT", "--sur", "0"], ["--sur", "between 0 and 1"]),
    (["prepare", "OUT", "--max-side", "0"], ["'--max-side'"]),
    (["prepare", "OUT", "--kind", "nope"], ["'--kind'", "'nope'"]),
    (["prepare", "OUT", "--metric", "mse"], ["'--metric'"]),
    (["export", "c.pt", "--format", "tflite"], ["'--format'", "'tflite'"]),
])
def test_usage_errors(args, needles, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capfd, *[a.replace("OUT", str(tmp_path / "ds")) for a in args])
    assert_one_line_error(rc, err, *needles)
    assert not (tmp_path / "ds").exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("extra,needles", [
    (["--learning_rate", "nan"], ["--learning_rate", "finite", "nan"]),
    (["--learning_rate", "-1"], ["--learning_rate"]),
    (["--workers", "-2"], ["'--workers'"]),
    (["--precision", "8"], ["'--precision'", "'8'"]),
    (["--devices", "lots"], ["--devices lots"]),
    (["--accelerator", "gpu"], ["--accelerator gpu"]),
    (["--epochs", "0"], ["'--epochs'"]),
])
def test_train_option_errors(extra, needles, tmp_path, capfd, tiny_dataset):
    rc, _, err = run(capfd, *_train_args(tiny_dataset, tmp_path, "ae", *extra))
    assert_one_line_error(rc, err, *needles)
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m_run").exists()


def test_output_paths_that_are_folders(tmp_path, capfd, ckpt, image, tiny_dataset):
    folder = tmp_path / "folder"
    folder.mkdir()
    rc, _, err = run(capfd, "predict", ckpt, image, "-o", folder, "--format", "csv")
    assert_one_line_error(rc, err, str(folder), "is a folder")
    rc, _, err = run(capfd, "test", "constant", "--data_dir", tiny_dataset, "--model_weights_path", ckpt,
                     "--result_path", folder)
    assert_one_line_error(rc, err, str(folder), "is a folder", "--result_path")
    rc, _, err = run(capfd, *_train_args(tiny_dataset, tmp_path, "ae")[:4], "--checkpoint_path", folder)
    assert_one_line_error(rc, err, str(folder), "is a folder")
    assert not list(folder.iterdir())


def test_reference_level_is_checked_before_anything_is_written(tmp_path, capfd, ckpt, image):
    rc, _, err = run(capfd, "predict", ckpt, image, "--encode", tmp_path / "enc", "--reference-level", "99",
                     "-o", tmp_path / "p.csv")
    assert_one_line_error(rc, err, "--reference-level 99", "0..51")
    assert not (tmp_path / "enc").exists() and not (tmp_path / "p.csv").exists()
    rc, _, err = run(capfd, "predict", ckpt, image, "--encode", tmp_path / "enc", "--encode-level", "3",
                     "--reference-level", "-1")
    assert_one_line_error(rc, err, "--reference-level -1")


def test_console_script_usage_error_is_not_a_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "laserjnd.cli.main", "train", "--bogus-flag"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "No such option: --bogus-flag" in r.stderr and "Traceback" not in r.stderr


def test_file_names_too_long(tmp_path, capfd, ckpt, image):
    from laserjnd.utils.atomic import name_max

    longest = name_max(tmp_path)
    fits = tmp_path / ("p" * (longest - 4) + ".csv")  # fits; its temp name would not, were it not cut
    rc, _, err = run(capfd, "predict", ckpt, image, "-o", fits)
    assert rc == 0, err
    assert fits.is_file() and sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", fits.name])
    too_long = tmp_path / ("q" * (longest + 10) + ".csv")
    rc, _, err = run(capfd, "predict", ckpt, image, "-o", too_long)
    assert_one_line_error(rc, err, "file name too long", "ENAMETOOLONG")
    rc, _, err = run(capfd, "prepare", tmp_path / ("d" * (longest + 1)), "--kind", "default", "--limit", "4")
    assert_one_line_error(rc, err, "file name too long")


def test_disk_full_is_one_line_and_leaves_no_temp_file(tmp_path, capfd, ckpt, image, monkeypatch):
    import laserjnd.utils.atomic as atomic

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    rc, _, err = run(capfd, "predict", ckpt, image, "-o", tmp_path / "p.csv")
    assert_one_line_error(rc, err, str(tmp_path / "p.csv"), "no space left", "ENOSPC")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


# ---------------------------------------------------------------- 4. no silent nonsense


def test_nan_predictions_are_errors_not_dropped(tmp_path, capfd, ckpt, image, tiny_dataset, monkeypatch):
    import laserjnd.inference.predictor as predictor

    monkeypatch.setattr(predictor, "predict_canonical", lambda model, frames: torch.full((len(frames), 3), float("nan")))
    rc, _, err = run(capfd, "test", "constant", "--data_dir", tiny_dataset, "--model_weights_path", ckpt,
                     "--result_path", tmp_path / "r.csv")
    assert_one_line_error(rc, err, "predicts NaN or inf", "no metrics written")
    assert not list(tmp_path.glob("r*"))
    monkeypatch.setattr(predictor.Predictor, "predict_rgb", lambda self, frames: [{"jnd1": float("nan"), "jnd2": 1.0,
                                                                                   "jnd3": 2.0}] * len(frames))
    rc, _, err = run(capfd, "predict", ckpt, image, "-o", tmp_path / "p.json")
    assert_one_line_error(rc, err, str(image), "not a finite number")
    row = json.loads((tmp_path / "p.json").read_text())[0]
    assert "jnd1" not in row and "finite" in row["error"]
    import laserjnd

    with pytest.raises(laserjnd.errors.JNDError, match="NaN"):
        laserjnd.load(ckpt).predict(image)


def test_truncated_video_warns_with_the_count(tmp_path, capfd, ckpt, photo):
    import av

    clip = tmp_path / "clip.ts"
    with av.open(str(clip), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.height, s.width, s.pix_fmt = 96, 128, "yuv420p"
        for i in range(40):
            out.mux(s.encode(av.VideoFrame.from_ndarray(np.roll(photo, 4 * i, axis=1), format="rgb24")))
        out.mux(s.encode())
    cut = tmp_path / "cut.ts"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size * 3 // 10])
    rc, _, err = run(capfd, "predict", ckpt, cut, "--frames", "8", "-o", tmp_path / "p.csv")
    assert rc == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "of 8 frames sampled" in lines[0], err


def test_exif_orientation_is_applied(tmp_path, photo):
    import io

    from PIL import Image

    from laserjnd.data.media import read_image

    im = Image.fromarray(photo)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    (tmp_path / "phone.jpg").write_bytes(buf.getvalue())
    got = read_image(tmp_path / "phone.jpg")
    upright = np.rot90(photo, -1)
    assert got.shape == upright.shape and np.abs(got.astype(int) - upright).mean() < 6


def test_pixel_limit_is_checked_before_decoding(tmp_path, capfd, ckpt, image, monkeypatch):
    monkeypatch.delenv("LASERJND_MAX_PIXELS", raising=False)  # restored after --max-pixels sets it
    monkeypatch.setenv("LASERJND_MAX_PIXELS", "")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    rc, _, err = run(capfd, "predict", ckpt, bomb)
    assert_one_line_error(rc, err, str(bomb), "10000.0 megapixels", "limit of 150 MP", "before decoding")
    rc, _, err = run(capfd, "predict", ckpt, image, "--max-pixels", "1000")
    assert_one_line_error(rc, err, str(image), "limit of 0.001 MP")
    pixels = 96 * 128
    monkeypatch.setenv("LASERJND_MAX_PIXELS", str(pixels))
    assert run(capfd, "predict", ckpt, image)[0] == 0
    monkeypatch.setenv("LASERJND_MAX_PIXELS", str(pixels - 1))
    assert run(capfd, "predict", ckpt, image)[0] == 2


# ---------------------------------------------------------------- 5. one bad file does not lose a batch


@pytest.fixture()
def mixed_folder(tmp_path, photo) -> tuple[Path, dict[str, str]]:
    """Good, odd and broken files side by side; value: what the error must say (None = predicted)."""
    d = tmp_path / "batch"
    d.mkdir()
    ok, png = cv2.imencode(".png", photo[:, :, ::-1])
    ok, jpg = cv2.imencode(".jpg", photo[:, :, ::-1])
    png, jpg = png.tobytes(), jpg.tobytes()
    corrupt = bytearray(png)
    corrupt[200:220] = bytes(20)
    files = {
        "a_good.png": (png, None),
        "b_good.jpg": (jpg, None),
        "c_chatty.png": (chatty_png(photo), None),
        "d_gray16.png": (cv2.imencode(".png", (photo[:, :, 0].astype(np.uint16) * 257))[1].tobytes(), None),
        "e_truncated.png": (png[: len(png) // 2], "truncated"),
        "f_truncated.jpg": (jpg[: len(jpg) - 300], "truncated"),
        "g_empty.png": (b"", "file is empty"),
        "h_fake.jpg": (b"this is not an image", "not a readable image"),
        "i_bomb.png": (bomb_png(), "megapixels"),
        "j_corrupt.png": (bytes(corrupt), "corrupt image (libpng"),
        "k_fake.mp4": (b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 20, "video cannot be read"),
    }
    for name, (data, _) in files.items():
        (d / name).write_bytes(data)
    return d, {name: why for name, (_, why) in files.items()}


def test_folder_with_bad_files_predicts_the_rest(tmp_path, capfd, ckpt, mixed_folder):
    folder, expected = mixed_folder
    before = snapshot(folder)
    rc, out, err = run(capfd, "predict", ckpt, folder, "-o", tmp_path / "p.csv", "--batch-size", "2")
    assert rc == 2
    import csv

    rows = {Path(r["input"]).name: r for r in csv.DictReader(open(tmp_path / "p.csv"))}
    assert set(rows) == set(expected)
    failed = [n for n, why in expected.items() if why]
    for name, why in expected.items():
        if why is None:
            assert float(rows[name]["jnd1"]) == pytest.approx(30.0) and rows[name]["error"] == ""
        else:
            assert why in rows[name]["error"] and rows[name]["jnd1"] == "", (name, rows[name])
    lines = err.splitlines()
    assert len(lines) == len(failed) + 1 and all(ln.startswith("error: ") for ln in lines), err
    for name in failed:
        assert sum(name in ln for ln in lines) == 1
    assert f"{len(failed)} of {len(expected)} inputs failed" in lines[-1]
    # Decoder chatter stays off the terminal (a failed decode's own reason is quoted in its error line).
    assert "CRC error" not in err + out and "WARN" not in err and "c_chatty" not in err
    assert snapshot(folder) == before


def test_strict_stops_at_the_first_bad_file(tmp_path, capfd, ckpt, mixed_folder):
    folder, _ = mixed_folder
    rc, _, err = run(capfd, "predict", ckpt, folder, "-o", tmp_path / "p.csv", "--strict")
    assert_one_line_error(rc, err, "e_truncated.png", "truncated")
    assert not (tmp_path / "p.csv").exists()


def test_decoder_chatter_never_reaches_the_terminal(tmp_path, capfd, ckpt, photo):
    chatty = tmp_path / "chatty.png"
    chatty.write_bytes(chatty_png(photo))
    rc, out, err = run(capfd, "predict", ckpt, chatty, "-o", tmp_path / "p.csv")
    assert rc == 0 and err == "", err


# ---------------------------------------------------------------- 6. what already worked keeps working


def test_label_file_errors_are_one_line(tmp_path, capfd, photo):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"img{i}.png"), photo)
    (folder / "JND-Levels.txt").write_text("20 25 30\n22 27 abc\n")
    before = snapshot(folder)
    rc, _, err = run(capfd, "prepare", tmp_path / "ds", folder, "--kind", "images")
    assert_one_line_error(rc, err, "JND-Levels.txt")
    assert snapshot(folder) == before and not (tmp_path / "ds").exists()
