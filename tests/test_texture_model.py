"""The content-aware default model: one preprocessing path, native-resolution tiles, a start fitted
on the train split only, and the committed benchmark splits disjoint by source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from laserjnd.data.dataset import open_split
from laserjnd.data.layout import DatasetLayout
from laserjnd.data.media import read_image, write_png
from laserjnd.data.preprocess import Geometry, tile_mosaic, tile_origins
from laserjnd.inference.predictor import Predictor
from laserjnd.models import create_model, model_entry

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO / "benchmarks" / "results" / "default_model" / "splits.json"


def test_tiles_are_native_pixels_spread_over_the_whole_frame():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (512, 768, 3), dtype=np.uint8)  # Kodak's landscape size
    canvas = tile_mosaic(frame, (256, 256), 128)
    ys, xs = tile_origins(512, 2, 128), tile_origins(768, 2, 128)
    assert ys == [0, 384] and xs == [0, 640]  # first tile at the corner, last ending at the edge
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            np.testing.assert_array_equal(canvas[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128],
                                          frame[y:y + 128, x:x + 128])  # not resampled
    square = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tile_mosaic(square, (512, 512), 128), square)  # the canvas size: the frame itself


def test_small_frames_are_enlarged_only_to_one_tile():
    frame = np.full((40, 100, 3), 7, np.uint8)
    out = tile_mosaic(frame, (128, 256), 128)
    assert out.shape == (128, 256, 3) and (out == 7).all()


@pytest.mark.parametrize("name,size", [("texture", (128, 256)), ("mj-lite", (64, 96))])
def test_training_test_and_predict_feed_the_model_the_same_input(tiny_dataset, name, size):
    """The dataset (training and ``test``) and the Predictor (``predict``, ``load().predict``) share one path."""
    model = create_model(name, input_size=size).eval()
    seen = []
    forward = model.forward
    model.forward = lambda x: (seen.append(x.clone()), forward(x))[1]
    ds = open_split(tiny_dataset, "train", model.spec.convention.geometry)
    Predictor(model, device="cpu").predict(ds.paths[0])
    from_dataset = model.spec.convention.to_model(ds[0]["frame"][None])
    got = seen[-1]  # the prediction (the engine's set-up probes the model first)
    assert got.shape == from_dataset.shape == (1, 3, *size)
    torch.testing.assert_close(got, from_dataset, rtol=0, atol=0)


def test_texture_entry_keeps_aspect_and_native_scale():
    conv = model_entry("texture").convention
    assert conv.geometry == Geometry((512, 512), "tiles", 64)


def _train_texture(data: Path, out: Path) -> dict[str, torch.Tensor]:
    from laserjnd.checkpoint import read_checkpoint
    from laserjnd.training.recipe import TrainConfig, train_model

    tc = TrainConfig(data, out, input_size=(128, 128), epochs=1, batch_size=2, learning_rate=1e-3, seed=3,
                     progress=False, tensorboard=False)
    train_model("texture", {}, tc)
    return read_checkpoint(out)["state_dict"]


def test_nothing_from_the_test_split_reaches_training(tiny_dataset, tmp_path):
    """Standardisation, the ridge start and the selected epoch come from train and valid only:
    changing every test frame and label leaves the trained weights bit-identical."""
    from laserjnd.data.labels.mtjnd import write_jnd_levels

    before = _train_texture(tiny_dataset, tmp_path / "a.pt")
    changed = tmp_path / "changed"
    shutil.copytree(tiny_dataset, changed)
    layout = DatasetLayout(changed)
    test = open_split(changed, "test", (64, 64))
    rng = np.random.default_rng(1)
    for p in test.paths:
        write_png(p, rng.integers(0, 256, read_image(p).shape, dtype=np.uint8))
    write_jnd_levels(layout.labels_file("test"), np.asarray(test.labels) + 9, unit="qp")
    after = _train_texture(changed, tmp_path / "b.pt")
    assert before.keys() == after.keys()
    for k in before:
        torch.testing.assert_close(before[k], after[k], rtol=0, atol=0, msg=k)
    assert before["mean"].abs().sum() > 0  # the start was fitted (not the zero default)


def test_ridge_start_reproduces_a_least_squares_fit_on_the_train_split(tiny_dataset):
    model = create_model("texture", input_size=(128, 128))
    geometry = model.spec.convention.geometry
    train, valid = open_split(tiny_dataset, "train", geometry), open_split(tiny_dataset, "valid", geometry)
    info = model.fit_start(train, valid)
    assert info["ridge_penalty"] > 0
    with torch.no_grad():
        pred = torch.cat([model(model.spec.convention.to_model(train[i]["frame"][None]))["jnd"] for i in range(len(train))])
    # With the penalty, the fit is shrunk towards the mean, but it is centred on the train labels.
    np.testing.assert_allclose(pred.mean(0).numpy(), np.asarray(train.labels).mean(0), atol=0.05)


@pytest.mark.skipif(not SPLITS.is_file(), reason="benchmark splits not committed")
def test_committed_benchmark_splits_are_disjoint_by_source():
    splits = json.loads(SPLITS.read_text())
    assert {k.split("-")[0] for k in splits} == {"a", "b"} and len(splits) >= 6  # 2 protocols x 3 seeds
    for run, s in splits.items():
        train, valid, test = (set(s[k]) for k in ("train", "valid", "test"))
        assert not (train & valid) and not (train & test) and not (valid & test), run
        if run.startswith("a"):
            assert len(test) >= 40
        else:  # cross-dataset: no Kodak photo in training, all 24 in test
            assert not any(n.startswith("kodim") for n in train | valid)
            assert len(test) == 24 and all(n.startswith("kodim") for n in test)


def test_fine_tuning_starts_from_the_given_weights(tiny_dataset, tmp_path):
    from laserjnd.checkpoint import read_checkpoint
    from laserjnd.training.recipe import TrainConfig, train_model

    first = _train_texture(tiny_dataset, tmp_path / "first.pt")
    tc = TrainConfig(tiny_dataset, tmp_path / "tuned.pt", epochs=1, batch_size=2, learning_rate=1e-4, seed=5,
                     progress=False, tensorboard=False, init_weights=tmp_path / "first.pt")
    train_model("texture", {}, tc)  # the input size comes from the weights (128x128)
    tuned = read_checkpoint(tmp_path / "tuned.pt")
    assert tuned["meta"]["start"] == {"rule": "init weights", "from": str(tmp_path / "first.pt")}
    assert tuned["model"]["convention"]["input_size"] == [128, 128]
    torch.testing.assert_close(tuned["state_dict"]["mean"], first["mean"])  # kept, not refitted on this data


def test_init_weights_of_another_model_is_a_one_line_error(tiny_dataset, tmp_path, capsys):
    from laserjnd.checkpoint import save_checkpoint
    from laserjnd.cli.main import main

    other = save_checkpoint(tmp_path / "lite.pt", create_model("mj-lite", input_size=(64, 96)), label_unit="qp")
    code = main(["train", "texture", "--data_dir", str(tiny_dataset), "--checkpoint_path", str(tmp_path / "t.pt"),
                 "--init-weights", str(other), "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "lite.pt" in err[0] and "'mj-lite'" in err[0]
    assert not (tmp_path / "t.pt").exists()


def test_levels_come_out_ordered_and_an_ordered_start_is_untouched():
    from laserjnd.models.texture import ordered

    v = torch.tensor([[30.0, 29.0, 35.0], [28.0, 31.0, 33.0]])
    torch.testing.assert_close(ordered(v, "increasing"), torch.tensor([[30.0, 30.0, 35.0], [28.0, 31.0, 33.0]]))
    torch.testing.assert_close(ordered(v, "decreasing"), torch.tensor([[30.0, 29.0, 29.0], [28.0, 28.0, 28.0]]))
    torch.testing.assert_close(ordered(v, "none"), v)
    model = create_model("texture", input_size=(128, 128)).eval()
    with torch.no_grad():
        model.linear.bias.copy_(torch.tensor([36.0, 31.0, 33.0]))  # an unordered constant start
        out = model(torch.rand(2, 3, 128, 128))["jnd"]
    assert (out[:, 1:] >= out[:, :-1]).all()


@pytest.mark.parametrize("geometry", [Geometry((64, 96)), Geometry((128, 128), "tiles", 64)])
def test_a_prediction_batch_holds_the_values_of_the_per_frame_path(geometry):
    frames = list(np.random.default_rng(0).integers(0, 256, (3, 100, 150, 3), dtype=np.uint8))
    batch = geometry.to_batch(frames)
    assert torch.equal(batch, torch.stack([geometry.to_tensor(f) for f in frames]))
    assert batch.is_contiguous(memory_format=torch.channels_last)  # the engine's layout: no copy
