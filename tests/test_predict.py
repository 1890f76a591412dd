"""Prediction: API on paths/arrays, CLI on images, folders and videos, --encode, bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

SIZE = (64, 128)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from laserjnd.checkpoint import save_checkpoint
    from laserjnd.models import create_model

    import torch

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "mj.pt", create_model("mj-lat", input_size=SIZE), label_unit="qp")


@pytest.fixture(scope="module")
def media(tmp_path_factory, photo) -> dict[str, Path]:
    from conftest import make_video

    d = tmp_path_factory.mktemp("media")
    (d / "folder" / "sub").mkdir(parents=True)
    cv2.imwrite(str(d / "folder" / "b.png"), photo[:, :, ::-1])
    cv2.imwrite(str(d / "folder" / "sub" / "a.jpg"), photo[::-1, :, ::-1])
    (d / "folder" / "notes.txt").write_text("ignored")
    frames = [np.roll(photo, 7 * i, axis=1) for i in range(10)]
    make_video(d / "clip.mp4", frames)
    (d / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    return {"image": d / "folder" / "b.png", "folder": d / "folder", "video": d / "clip.mp4", "bad": d / "bad.mp4"}


def test_api_predict_paths_and_arrays(ckpt, media, photo):
    import laserjnd.api as api

    p = api.load(ckpt, device="cpu")
    assert p.unit == "qp" and p.keys == ["jnd1", "jnd2", "jnd3"] and p.input_size == SIZE
    a = p.predict(media["image"])
    b = p.predict(photo)
    assert set(a) == {"jnd1", "jnd2", "jnd3"}
    assert a == pytest.approx(b, abs=1e-4)  # path and RGB array give the same numbers
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    assert p.predict(gray) == pytest.approx(p.predict(np.dstack([gray] * 3)), abs=1e-5)  # gray replicated
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    assert p.predict(rgba) == pytest.approx(b, abs=1e-5)  # alpha dropped
    assert p.predict(photo.astype(np.uint16) * 257) == pytest.approx(b, abs=1e-5)  # 16-bit
    batch = p.predict_batch([photo, media["image"], photo[::-1]])
    assert len(batch) == 3 and batch[0] == pytest.approx(b, abs=1e-4)


def test_cli_predict_folder_video_csv(tmp_path, ckpt, media):
    from laserjnd.cli.predict_cmd import predict_command

    out = tmp_path / "p.csv"
    predict_command(args=[ckpt, media["folder"], media["video"]], output=out, fmt=None, frames=4,
                    aggregate="median", batch_size=2, device="cpu", encode=None, encode_level=1, reference_level=None)
    rows = list(csv.DictReader(open(out)))
    assert [Path(r["input"]).name for r in rows[:2]] == ["b.png", "a.jpg"]  # sorted, recursive: b.png < sub/a.jpg
    vid = [r for r in rows if r["input"].endswith("clip.mp4")]
    assert [r["kind"] for r in vid] == ["video-frame"] * 4 + ["video-median"]
    assert [r["frame"] for r in vid[:4]] == ["1", "3", "6", "8"]
    j1 = [float(r["jnd1"]) for r in vid[:4]]
    assert float(vid[-1]["jnd1"]) == pytest.approx(np.median(j1), abs=1e-3)


def test_cli_predict_json_and_encode(tmp_path, ckpt, media, monkeypatch):
    from laserjnd.cli import predict_cmd
    from laserjnd.inference.predictor import Predictor

    # Fix the prediction to a known level so the encode step is checked exactly.
    monkeypatch.setattr(Predictor, "predict_rgb", lambda self, frames: [{"jnd1": 30.4, "jnd2": 33.0, "jnd3": 36.0}] * len(frames))
    out = tmp_path / "p.json"
    predict_cmd.predict_command(args=[ckpt, media["image"]], output=out, fmt=None, frames=4,
                                aggregate="median", batch_size=8, device="cpu", encode=tmp_path / "enc", encode_level=1,
                                reference_level=22)
    rows = json.loads(out.read_text())
    r = rows[0]
    assert r["encoded_level"] == 30 and Path(r["encoded_path"]).name == "b_jnd1_qp30.264"
    assert Path(r["encoded_path"]).stat().st_size * 8 == r["encoded_bits"]
    assert r["reference_bits"] > r["encoded_bits"] and 0 < r["bits_saved_pct"] < 100
    with pytest.raises(Exception, match="predicts only"):
        predict_cmd.predict_command(args=[ckpt, media["image"]], output=out, fmt=None, frames=4,
                                    aggregate="median", batch_size=8, device="cpu", encode=tmp_path / "enc",
                                    encode_level=4, reference_level=None)


def test_bad_inputs_are_one_line_errors(tmp_path, ckpt, media):
    from laserjnd.cli.predict_cmd import resolve_predictor
    from laserjnd.inference.batch import expand_inputs
    from laserjnd.errors import JNDError
    from laserjnd.data.media import read_video_frames

    trunc = tmp_path / "t.pt"
    trunc.write_bytes(ckpt.read_bytes()[:3000])
    with pytest.raises(JNDError, match="not a readable checkpoint") as e:
        resolve_predictor(trunc)
    assert "\n" not in str(e.value)
    import torch

    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(JNDError, match="not a laserjnd checkpoint"):
        resolve_predictor(other)
    with pytest.raises(JNDError, match="video cannot be read") as e:
        read_video_frames(media["bad"])
    assert "\n" not in str(e.value)
    with pytest.raises(JNDError, match="unknown file type"):
        expand_inputs([media["folder"] / "notes.txt"])
    with pytest.raises(JNDError, match="file not found"):
        expand_inputs([tmp_path / "missing.png"])


def test_ae_checkpoint_cannot_predict(tmp_path):
    from laserjnd.api import load
    from laserjnd.checkpoint import save_checkpoint
    from laserjnd.errors import JNDError
    from laserjnd.models import create_model

    p = save_checkpoint(tmp_path / "ae.pt", create_model("ae", target=1, input_size=SIZE), label_unit="qp")
    with pytest.raises(JNDError, match="predicts no JND level"):
        load(p)
