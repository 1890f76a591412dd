"""Files written the way the original code writes them (flat graphs, its creation order) import to
the same network: every variant, both Keras generations, both layouts, to 1e-4 relative.

Keras 3 (``keras``) and the Keras 2 API (``tf_keras``); whole model (``.h5``, and ``.keras`` for
Keras 3) and weights only (``save_weights``: ``.h5`` / ``.weights.h5``). Needs TensorFlow.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zlib
from dataclasses import replace

import numpy as np
import pytest
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
keras3 = pytest.importorskip("keras")

from keras_helpers import randomise, rel_err  # noqa: E402

from laserjnd.errors import BadInputError  # noqa: E402
from laserjnd.interop import keras_import  # noqa: E402
from laserjnd.interop.keras_file import read_keras_file  # noqa: E402
from laserjnd.interop.keras_import import import_keras  # noqa: E402
from laserjnd.interop.keras_originals import build_keras_model, keras_float  # noqa: E402
from laserjnd.models import count_params, create_model, model_entry  # noqa: E402

pytestmark = pytest.mark.keras

SIZE = (64, 128)
VARIANTS = ("lat", "rec", "e2e-lat", "e2e-rec", "mj-lat", "mj-rec", "mt-3ljnd", "mt-1ljnd-va")
SINGLE = {"lat", "rec", "e2e-lat", "e2e-rec", "mt-1ljnd-va"}
TOL = 1e-4


def generations():
    gens = [("keras3", keras3)]
    try:
        import tf_keras

        gens.append(("tf_keras", tf_keras))
    except ImportError:
        pass
    return gens


def cfg_for(name: str) -> dict:
    return {"level": 2} if name in SINGLE else {}


def jnd_outputs(km, out) -> np.ndarray:
    outs = out if isinstance(out, (list, tuple)) else [out]
    named = sorted((n, np.asarray(v)) for n, v in zip(km.output_names, outs) if n.startswith("JND"))
    return np.concatenate([v.reshape(len(v), -1) for _, v in named], axis=1)


def write_files(keras, gen: str, km, d) -> dict:
    files = {"model": d / "model.h5"}
    km.save(files["model"])
    if gen == "keras3":
        files["keras"] = d / "model.keras"
        km.save(files["keras"])
        files["weights"] = d / "model.weights.h5"
    else:
        files["weights"] = d / "weights.h5"
    km.save_weights(files["weights"])
    return files


@pytest.fixture(scope="module", params=[(g, n) for g, _ in generations() for n in VARIANTS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def original(request, tmp_path_factory):
    """The original network, non-trivial float64 weights, written in every layout of its generation."""
    gen, name = request.param
    keras = dict(generations())[gen]
    rng = np.random.default_rng(zlib.crc32(f"{gen}{name}".encode()))
    scale = model_entry(name).convention.scale
    with keras_float(keras, "float64"):
        km = build_keras_model(name, SIZE, keras=keras, **cfg_for(name))
        x = rng.uniform(0, scale, (2, *SIZE, 3)).astype(np.float32).astype(np.float64)
        randomise(km, x, rng, keras=keras)
        out = jnd_outputs(km, km(x, training=False))
        files = write_files(keras, gen, km, tmp_path_factory.mktemp(f"{gen}-{name}"))
    assert (np.abs(out) > 1e-6).all()  # every output alive: a wrong pairing cannot hide
    return {"gen": gen, "name": name, "x": x, "out": out, "files": files, "params": km.count_params()}


def ours_on(model, x: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model.double()(torch.from_numpy(x).permute(0, 3, 1, 2))["jnd"]


def test_original_parameter_totals_match_ours(original):
    assert original["params"] == count_params(create_model(original["name"], input_size=SIZE, **cfg_for(original["name"])))


@pytest.mark.parametrize("layout", ["model", "keras", "weights"])
def test_import_agrees_with_keras(original, layout):
    if layout not in original["files"]:
        pytest.skip("Keras 2 writes no .keras archive")
    model = import_keras(original["files"][layout], original["name"], input_size=SIZE, **cfg_for(original["name"]))
    err = rel_err(ours_on(model, original["x"]), original["out"])
    print(f"agreement {original['gen']} {original['name']} {layout}: {err:.1e}")  # pytest -s shows the table
    assert err < TOL, f"{original['gen']} {original['name']} {layout}: relative error {err:.2g}"


@pytest.mark.parametrize("gen", [g for g, _ in generations()])
def test_file_order_pairing_would_be_wrong_and_the_self_check_refuses_it(gen, tmp_path, monkeypatch):
    """The old rule (file order, ignoring the graph) builds another network; the self-check catches it."""
    keras = dict(generations())[gen]
    km = build_keras_model("mj-lat", SIZE, keras=keras)
    randomise(km, np.random.default_rng(0).uniform(0, 255, (2, *SIZE, 3)).astype(np.float32), np.random.default_rng(1), keras=keras)
    path = tmp_path / "mj-lat.h5"
    km.save(path)
    good = read_keras_file(path)
    assert good.order_source == "graph"
    file_order = replace(good, layers=[replace(k, key=()) for k in good.layers])
    monkeypatch.setattr(keras_import, "read_keras_file", lambda p: file_order)
    with pytest.raises(BadInputError, match="self-check failed"):
        import_keras(path, "mj-lat", input_size=SIZE)
    wrong = import_keras(path, "mj-lat", input_size=SIZE, self_check=False)
    monkeypatch.undo()
    right = import_keras(path, "mj-lat", input_size=SIZE)
    x = np.random.default_rng(2).uniform(0, 255, (1, *SIZE, 3)).astype(np.float32)
    with torch.no_grad():
        a, b = (m(torch.from_numpy(x).permute(0, 3, 1, 2))["jnd"] for m in (wrong, right))
    assert (a - b).abs().max() / b.abs().max() > 0.01


def test_without_tensorflow_the_self_check_is_skipped_with_a_warning(tmp_path, monkeypatch, caplog):
    from laserjnd.interop import keras_check

    km = build_keras_model("lat", SIZE, level=1)
    path = tmp_path / "lat.h5"
    km.save(path)
    monkeypatch.setattr(keras_check, "keras_modules", lambda kfile: None)
    with caplog.at_level(logging.WARNING, logger="laserjnd"):
        import_keras(path, "lat", level=1, out_path=tmp_path / "lat.pt")
    assert "self-check skipped" in caplog.text
    from laserjnd.checkpoint import read_checkpoint

    assert read_checkpoint(tmp_path / "lat.pt")["meta"]["self_check"] == "skipped (no TensorFlow)"


def test_weights_only_keras3_branches_without_tensorflow_warn_of_the_assumption(tmp_path, monkeypatch, caplog):
    from laserjnd.interop import keras_check

    km = build_keras_model("mj-lat", SIZE)
    path = tmp_path / "w.weights.h5"
    km.save_weights(path)
    monkeypatch.setattr(keras_check, "keras_modules", lambda kfile: None)
    with caplog.at_level(logging.WARNING, logger="laserjnd"):
        import_keras(path, "mj-lat", input_size=SIZE)
    assert "does not record which was created first" in caplog.text


def test_lambda_layers_are_refused(tmp_path):
    import h5py

    path = tmp_path / "lat.h5"
    build_keras_model("lat", SIZE, level=1).save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace('"class_name": "Flatten"', '"class_name": "Lambda"')
    with pytest.raises(BadInputError, match="Lambda layer") as e:
        import_keras(path, "lat", level=1)
    assert "\n" not in str(e.value)


def test_building_the_original_networks_prints_nothing_from_tensorflow():
    """TensorFlow's absl lines on import ignore TF_CPP_MIN_LOG_LEVEL; users of import and the
    self-check must not see them."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("from laserjnd.interop.keras_originals import build_keras_model\n"
            "build_keras_model('lat', (64, 128))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    assert r.stderr == ""
