"""Nested Keras twins and Keras -> PyTorch import: every model, both HDF5 layouts, outputs must agree.
(The originals' flat graphs: tests/test_keras_originals.py.)

Needs tensorflow-cpu (``pip install 'laserjnd[keras]'``); skipped without it.
"""

from __future__ import annotations

import os
import shutil
import zlib

import numpy as np
import pytest
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

from laserjnd.checkpoint import load_checkpoint  # noqa: E402
from laserjnd.errors import BadInputError  # noqa: E402
from laserjnd.interop.keras_import import import_keras  # noqa: E402
from laserjnd.interop.keras_originals import keras_float  # noqa: E402
from keras_helpers import randomise, rel_err  # noqa: E402
from keras_twins_nested import VA_TAIL_PARAMS, build_keras_model, keras_twin_names  # noqa: E402
from laserjnd.models import count_params, create_model, list_models, model_entry  # noqa: E402

pytestmark = pytest.mark.keras

SIZE = (64, 128)  # LASeR needs multiples of 16 (and 64 for LAT's pools), MTJND >= 32
LEVEL_CFG = {"lat", "rec", "e2e-lat", "e2e-rec", "mt-1ljnd-va", "direct"}
MTJND = {"mt-3ljnd", "mt-1ljnd-va", "mt-3ljnd-va", "direct"}
TOL = 1e-4  # relative; float64 on both sides gives ~1e-12, a wrong mapping ~1


def cfg_for(name: str) -> dict:
    return {"level": 2} if name in LEVEL_CFG else {}


def scale_for(name: str) -> float:
    return 1.0 if name in MTJND else 255.0


def write_weights_only(km, path) -> None:
    """The Keras 2 ``model.save_weights('w.h5')`` layout (Keras 3 only writes it through this helper)."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, km)


def make_twin(name: str, d) -> dict:
    """Twin with float32-representable random weights, run in float64 (our side too), so the
    comparison sees conversion errors, not float32 round-off of deep random stacks (~1e-4)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    with keras_float(keras, "float64"):
        km = build_keras_model(name, SIZE, **cfg_for(name))
        x = rng.uniform(0, scale_for(name), (3, *SIZE, 3)).astype(np.float32).astype(np.float64)
        randomise(km, x, rng)
        km.save(d / "model.h5")
        write_weights_only(km, d / "weights.h5")
        out = {k: np.asarray(v) for k, v in km(x, training=False).items()}
    return {"name": name, "files": {"model": d / "model.h5", "weights": d / "weights.h5"}, "x": x, "out": out}


@pytest.fixture(scope="module", params=keras_twin_names())
def twin(request, tmp_path_factory):
    return make_twin(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def lat_files(tmp_path_factory):
    return make_twin("lat", tmp_path_factory.mktemp("lat_err"))["files"]


def test_every_network_has_a_twin():
    # constant: no network; texture: fixed statistics and a small head of ours, no Keras counterpart
    assert set(keras_twin_names()) == set(list_models()) - {"constant", "texture"}


PUBLISHED = sorted(n for n in list_models() if model_entry(n).published_params)


@pytest.mark.parametrize("name", PUBLISHED)
def test_twin_param_totals_match_published(name):
    cfg = cfg_for(name)
    km = build_keras_model(name, **cfg)
    expected = model_entry(name).published_params + (VA_TAIL_PARAMS if name.endswith("-va") else 0)
    assert km.count_params() == expected
    assert count_params(create_model(name, **cfg)) == expected


@pytest.mark.parametrize("layout", ["model", "weights"])
def test_import_matches_keras(twin, layout):
    name = twin["name"]
    extra = {} if layout == "model" else {"input_size": SIZE}  # a weights-only file does not know its size
    model = import_keras(twin["files"][layout], name, **cfg_for(name), **extra)
    assert not model.training
    with torch.no_grad():
        ours = model.double()(torch.from_numpy(twin["x"].transpose(0, 3, 1, 2).copy()))
    assert set(ours) == set(twin["out"])
    for key, theirs in twin["out"].items():
        if key == "jnd":  # the output layers were set up to be live: outputs vary over the batch
            assert np.all(theirs > 0) and np.ptp(theirs, axis=0).min() > 1e-3 * np.abs(theirs).max()
        err = rel_err(ours[key], theirs)
        assert err < TOL, f"{name} {layout} {key}: relative error {err:.2e}"


@pytest.mark.parametrize("name", ["lat", "mt-1ljnd-va"])
def test_checkpoint_records_convention_and_source(name, tmp_path):
    twin = make_twin(name, tmp_path)
    out = tmp_path / "imported.pt"
    import_keras(twin["files"]["model"], name, out_path=out, label_unit="qf", **cfg_for(name))
    model, payload = load_checkpoint(out)
    conv = model.spec.convention
    assert (conv.channel_order, conv.scale, tuple(conv.input_size)) == ("bgr", scale_for(name), SIZE)
    assert payload["label_unit"] == "qf"
    assert payload["meta"]["source"] == "keras" and len(payload["meta"]["sha256"]) == 64
    with torch.no_grad():
        ours = model.double()(torch.from_numpy(twin["x"].transpose(0, 3, 1, 2).copy()))
    assert rel_err(ours["jnd"], twin["out"]["jnd"]) < TOL


# ---- errors: never a silent partial load --------------------------------------------------


def test_wrong_model_for_file(lat_files):
    files = lat_files
    with pytest.raises(BadInputError, match=r"does not match our|no counterpart|no layer left"):
        import_keras(files["model"], "rec", level=2)
    with pytest.raises(BadInputError, match=r"layer \d+ '.*' \("):
        import_keras(files["model"], "mj-lat")


def test_extra_layers_are_an_error(tmp_path):
    # An MT_3LJND file imported as the single-head model: two heads left over.
    km = build_keras_model("mt-3ljnd", SIZE)
    path = tmp_path / "mt3.h5"
    km.save(path)
    with pytest.raises(BadInputError, match="no counterpart in model 'direct'"):
        import_keras(path, "direct", level=1)


def _drop_layer(path, kind: str):
    """Remove the last layer of ``kind`` from a weights-only file (as a truncated export would)."""
    with h5py.File(path, "r+") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        victim = [n for n in names if n.startswith(kind)][-1]
        f.attrs["layer_names"] = [n.encode() for n in names if n != victim]
        del f[victim]


def test_missing_layer(lat_files, tmp_path):
    files = lat_files
    path = tmp_path / "missing.h5"
    shutil.copy(files["weights"], path)
    _drop_layer(path, "batch_normalization")
    with pytest.raises(BadInputError, match=r"missing\.h5: .*(does not match|no layer left)"):
        import_keras(path, "lat", level=2, input_size=SIZE)


def test_shape_mismatch(lat_files, tmp_path):
    files = lat_files
    path = tmp_path / "shape.h5"
    shutil.copy(files["weights"], path)
    with h5py.File(path, "r+") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        dense = [n for n in names if n.startswith("dense")][-2]  # the Dense 128
        wn = [w.decode() if isinstance(w, bytes) else w for w in f[dense].attrs["weight_names"]]
        kernel = [w for w in wn if w.endswith("kernel")][0]
        k = f[dense][kernel][()]
        del f[dense][kernel]
        f[dense].create_dataset(kernel, data=np.zeros((k.shape[0], k.shape[1] + 1), np.float32))
    with pytest.raises(BadInputError, match=r"layer \d+ '.*' \(Dense .*\) does not match our 'fc\.\d+'"):
        import_keras(path, "lat", level=2, input_size=SIZE)


def test_input_size_mismatch_is_reported(lat_files):
    files = lat_files
    # The file's Dense after Flatten was built for 64x128; the published size needs 25,600 inputs.
    with pytest.raises(BadInputError, match="Dense"):
        import_keras(files["weights"], "lat", level=2)


def test_not_a_keras_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(BadInputError, match="bad.h5"):
        import_keras(bad, "ae")
    with pytest.raises(BadInputError, match="not found"):
        import_keras(tmp_path / "none.h5", "ae")
    km = build_keras_model("ae", SIZE)
    k3 = tmp_path / "ae.weights.h5"
    km.save_weights(k3)  # Keras 3 native layout: a single branch, so its graph order is the creation order
    assert import_keras(k3, "ae", input_size=SIZE).spec.name == "ae"
