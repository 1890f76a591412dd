"""``laserjnd check-precision``: weights without a training record get one, and ``auto`` follows it."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch

from laserjnd.cli.main import main

SIZE = (64, 128)


@pytest.fixture()
def ckpt(tmp_path) -> Path:
    from laserjnd.checkpoint import save_checkpoint
    from laserjnd.models import create_model

    torch.manual_seed(0)
    model = create_model("lat", input_size=SIZE, level=1)
    return save_checkpoint(tmp_path / "lat.pt", model, label_unit="qp", meta={"source": "keras", "note": "kept"})


@pytest.fixture()
def photos(tmp_path, photo) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(5):
        cv2.imwrite(str(d / f"{i}.png"), cv2.flip(photo, i % 2)[:, :, ::-1])
    return d


def test_the_record_is_what_int8_and_bf16_change_and_auto_follows_it(ckpt, photos, capsys):
    from laserjnd import load
    from laserjnd.checkpoint import read_checkpoint
    from laserjnd.inference.engine import AUTO_LIMIT, REDUCED, cpu_has

    before = read_checkpoint(ckpt)
    assert load(ckpt).engine.precision == "fp32"  # no record: auto keeps fp32
    assert main(["check-precision", str(ckpt), str(photos)]) == 0
    after = read_checkpoint(ckpt)
    record = after["meta"]["precision_check"]
    assert set(record) == {"int8", "bf16"}
    for check in record.values():
        assert check["frames"] == 5 and 0 <= check["mean_abs_change"] <= check["max_abs_change"]
    assert after["meta"]["note"] == "kept"  # the rest of the metadata, and the weights, unchanged
    assert all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])
    line = capsys.readouterr().out
    assert "5 frames" in line and str(ckpt) in line
    expected = next((p for p in REDUCED if cpu_has(p) and record[p]["mean_abs_change"] <= AUTO_LIMIT), "fp32")
    assert load(ckpt).engine.precision == expected and f"auto on this CPU: {expected}" in line

    # records over the limit keep auto in fp32, whatever the CPU
    for check in after["meta"]["precision_check"].values():
        check["mean_abs_change"] = 2 * AUTO_LIMIT
    torch.save(after, ckpt)
    assert load(ckpt).engine.precision == "fp32"


def test_other_formats_and_existing_outputs_need_an_explicit_output(tmp_path, ckpt, photos, capsys):
    from laserjnd.checkpoint import read_checkpoint
    from laserjnd.zoo import save_pretrained

    st = save_pretrained(ckpt, tmp_path / "lat.safetensors")
    assert main(["check-precision", str(st), str(photos)]) == 2
    err = capsys.readouterr().err.strip()
    assert "lat.safetensors" in err and "--output" in err and "\n" not in err
    out = tmp_path / "checked.pt"
    assert main(["check-precision", str(st), str(photos), "--output", str(out)]) == 0
    assert "precision_check" in read_checkpoint(out)["meta"]
    assert main(["check-precision", str(st), str(photos), "--output", str(out)]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err


def test_an_unreadable_frame_is_one_line_naming_it(tmp_path, ckpt, photos, capsys):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    before = ckpt.read_bytes()
    assert main(["check-precision", str(ckpt), str(photos)]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.png" in err and "\n" not in err
    assert ckpt.read_bytes() == before  # nothing written
