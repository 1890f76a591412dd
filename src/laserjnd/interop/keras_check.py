"""Self-check of a Keras import: the Keras file and the converted model, same input, same answer.

Where TensorFlow is installed, the file is run in Keras (a whole model is loaded; a weights-only
file is loaded into the original network built by :mod:`keras_originals`) and compared with the
converted model on one random frame at the model's input size; a relative difference above
``TOLERANCE`` refuses the import. Without TensorFlow the check is skipped, with a warning.
"""

from __future__ import annotations

import copy
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BadInputError
from ..utils.quiet import quiet_import
from .keras_file import BY_GRAPH, KerasFile, read_keras_file
from .keras_originals import build_keras_model, keras_float

log = logging.getLogger("laserjnd")
TOLERANCE = 1e-3  # relative to the largest Keras output; float32 round-off is ~1e-6, a wrong pairing ~1


def keras_modules(kfile: KerasFile):
    """(keras module matching the file's generation, or None) without TensorFlow's start-up chatter."""
    keras2 = kfile.attrs.get("keras_version", "").startswith("2")
    for name in (("tf_keras", "keras") if keras2 else ("keras",)):
        try:
            module = quiet_import(name)
            if name == "keras" and int(module.__version__.split(".")[0]) < 3 and not keras2:
                continue
            return module
        except ImportError:
            continue
    return None


def _level_cfg(model) -> dict[str, Any]:
    return {"level": model.spec.levels[0]} if len(model.spec.levels) == 1 else {}


def _original(keras, kfile: KerasFile, model):
    km = build_keras_model(model.spec.name, tuple(model.spec.input_size), keras=keras, **_level_cfg(model))
    km.load_weights(str(kfile.path))
    return km


def graph_from_original(kfile: KerasFile, model) -> KerasFile | None:
    """A Keras 3 weights-only file read through the original network's graph (None without TensorFlow)."""
    keras = keras_modules(kfile)
    if keras is None:
        return None
    try:
        km = _original(keras, kfile, model)
    except Exception as e:  # not the original architecture: pairing falls back to the file order
        log.warning("%s: could not load the file into the original %s network (%s)", kfile.path, model.spec.name,
                    str(e).splitlines()[0][:160])
        return None
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "model.keras"
        km.save(whole)
        resolved = read_keras_file(whole)
    resolved.path, resolved.layout = kfile.path, kfile.layout
    return resolved


def _keras_model(keras, kfile: KerasFile, model):
    if kfile.layout == "model" and kfile.order_source == BY_GRAPH:
        if kfile.path.suffix == ".keras":
            return keras.saving.load_model(str(kfile.path), compile=False, safe_mode=True)
        return keras.models.load_model(str(kfile.path), compile=False)
    return _original(keras, kfile, model)


def _keras_output(km, out, key: str) -> np.ndarray:
    """The Keras model's ``jnd`` outputs as (B, L) in level order, or its reconstruction (``recon``)."""
    if isinstance(out, dict):
        if key in out:
            return np.asarray(out[key])
        names, values = list(out), list(out.values())
    else:
        values = list(out) if isinstance(out, (list, tuple)) else [out]
        names = list(getattr(km, "output_names", None) or [f"out{i}" for i in range(len(values))])
    if key == "recon":
        return np.asarray(next(v for v in values if np.ndim(v) == 4))
    levels = [(int(m.group(1)), np.asarray(v)) for n, v in zip(names, values) if (m := re.match(r"JND(\d)", str(n)))]
    chosen = [v for _, v in sorted(levels, key=lambda t: t[0])] or [np.asarray(values[0])]
    return np.concatenate([v.reshape(len(v), -1) for v in chosen], axis=1)


def check_against_keras(kfile: KerasFile, model, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run both; refuse (one line) if they disagree. Returns what to record in the checkpoint."""
    keras = keras_modules(kfile)
    if keras is None:
        log.warning("%s: self-check skipped: TensorFlow is not installed (pip install 'laserjnd[keras]'); "
                    "the import was not compared with Keras", kfile.path)
        return {"self_check": "skipped (no TensorFlow)"}
    try:
        with keras_float(keras, "float64"):  # a network built here computes in float64 (a loaded one as saved)
            km = _keras_model(keras, kfile, model)
    except Exception as e:
        log.warning("%s: self-check skipped: Keras could not run the file (%s)", kfile.path, str(e).splitlines()[0][:160])
        return {"self_check": "skipped (Keras could not run the file)"}
    h, w = model.spec.input_size
    x = np.random.default_rng(0).uniform(0, model.spec.convention.scale, (1, h, w, 3)).astype(np.float32)
    dtype = np.dtype(getattr(km.inputs[0].dtype, "name", km.inputs[0].dtype))  # tf.DType or a string
    key = "jnd" if "jnd" in model.spec.outputs else "recon"
    theirs = _keras_output(km, km(x.astype(dtype), training=False), key).astype(np.float64)
    with torch.no_grad():  # ours in float64: the difference left is Keras' own round-off
        ours = copy.deepcopy(model).double()(torch.from_numpy(x).double().permute(0, 3, 1, 2))[key].numpy()
    if key == "recon":
        ours = ours.transpose(0, 2, 3, 1)
    if ours.shape != theirs.shape:
        raise BadInputError(kfile.path, f"self-check: Keras gives {key} of shape {theirs.shape}, the converted model {ours.shape}")
    rel = float(np.abs(ours - theirs).max() / (np.abs(theirs).max() + 1e-12))
    if not rel <= TOLERANCE:
        raise BadInputError(kfile.path, f"self-check failed: the converted model differs from Keras by {rel:.2g} "
                                        f"(relative, tolerance {TOLERANCE:g}); the layers were not paired correctly")
    log.info("%s: self-check passed (relative difference %.2g)", kfile.path, rel)
    return {"self_check": f"passed ({keras.__name__} {keras.__version__}, relative difference {rel:.2g})"}
