"""Read a Keras weight file, any layout, into its weight-owning layers (h5py only, no TensorFlow).

Layouts:

- whole model, HDF5 (``model.save("m.h5")``, Keras 2, or Keras 3 legacy): weights under
  ``model_weights/``, the graph in the ``model_config`` attribute;
- weights only, HDF5 (Keras 2 ``model.save_weights("w.h5")``): layer groups at the top level, no
  graph; auto-generated names (``conv2d``, ``conv2d_1`` ...) are numbered in creation order;
- Keras 3 ``.keras`` (a zip of ``config.json`` with the graph and ``model.weights.h5``);
- Keras 3 weights only (``model.save_weights("w.weights.h5")``): ``layers/<name>/vars/<i>``, names
  given by class in the model's layer order (graph depth), so no creation order at all.

Each layer gets a ``key``: the creation order recovered from the graph where there is one
(:mod:`keras_graph`), else from the numbers in its name. ``order_source`` says which.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError
from .keras_graph import layer_keys, layer_name

KIND_NAMES = {"conv": "Conv2D", "deconv": "Conv2DTranspose", "dense": "Dense", "bn": "BatchNormalization"}
_CLASS_KIND = {v: k for k, v in KIND_NAMES.items()}
_NAME_KIND = {"conv2d": "conv", "conv2d_transpose": "deconv", "dense": "dense", "batch_normalization": "bn"}
BN_VARS = ("gamma", "beta", "moving_mean", "moving_variance")
_VARS = {"bn": BN_VARS, "conv": ("kernel", "bias"), "deconv": ("kernel", "bias"), "dense": ("kernel", "bias")}
REFUSED_LAYERS = {"Lambda": "runs Python code stored in the file"}

# How the order of same-kind, same-shape layers was recovered.
BY_GRAPH, BY_NAME, BY_DEPTH_NAME = "graph", "names", "keras3-weights-names"


@dataclass
class KerasLayer:
    index: int  # position among the file's weight-owning layers
    name: str  # as stored, "outer/inner" for a layer of a nested model
    kind: str | None  # conv / deconv / dense / bn; None = a 4-D kernel of unknown class
    arrays: dict[str, np.ndarray]
    config: dict[str, Any] | None = None
    key: tuple = ()  # creation order (see module doc)

    def describe(self) -> str:
        kind = KIND_NAMES.get(self.kind, "Conv2D/Conv2DTranspose") if self.kind else "Conv2D/Conv2DTranspose"
        main = self.arrays.get("kernel", self.arrays.get("gamma", self.arrays.get("moving_mean")))
        return f"layer {self.index} '{self.name}' ({kind} {tuple(main.shape) if main is not None else '?'})"


@dataclass
class KerasFile:
    path: Path
    layers: list[KerasLayer]
    config: dict[str, Any] | None
    input_size: tuple[int, int] | None
    order_source: str = BY_GRAPH
    layout: str = "model"  # "model" (graph in the file) or "weights"
    attrs: dict[str, str] = field(default_factory=dict)


def name_numbers(name: str) -> tuple[int, ...]:
    """``conv2d_12`` -> (12,), ``conv2d`` -> (), ``block4_conv2`` -> (4, 2): Keras numbers names in creation order."""
    short = name.rsplit("/", 1)[-1]
    auto = re.fullmatch(r"(?:%s)(?:_(\d+))?" % "|".join(sorted(_NAME_KIND, key=len, reverse=True)), short)
    if auto:
        return (int(auto.group(1)),) if auto.group(1) else ()
    return tuple(int(v) for v in re.findall(r"\d+", short))


def _str(v) -> str:
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def _attr_list(group, name: str) -> list[str]:
    """Keras splits long attributes into ``name0``, ``name1``, ...; join them."""
    if name in group.attrs:
        return [_str(v) for v in group.attrs[name]]
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out += [_str(v) for v in group.attrs[f"{name}{i}"]]
        i += 1
    return out


def _graph(config: dict | None) -> dict:
    return (config or {}).get("config", {}) if config and "config" in config else (config or {})


def _refuse_unsafe(path: Path, config: dict | None) -> None:
    def walk(layers):
        for lay in layers or []:
            cls = lay.get("class_name")
            if cls in REFUSED_LAYERS:
                raise BadInputError(path, f"Keras layer '{layer_name(lay)}' is a {cls} layer, which "
                                          f"{REFUSED_LAYERS[cls]}; laserjnd imports only known layer kinds")
            walk(lay.get("config", {}).get("layers"))

    walk(_graph(config).get("layers"))


def _layer_configs(config: dict | None) -> dict[str, dict]:
    """{layer name: {"class_name", "config", "key", "nested"}} over the whole graph, nested models included."""
    out: dict[str, dict] = {}

    def walk(graph: dict, prefix: tuple):
        keys = layer_keys(graph)
        for lay in graph.get("layers", []):
            cfg = lay.get("config", {})
            name = layer_name(lay)
            key = prefix + keys.get(name, ())
            out[name] = {"class_name": lay.get("class_name"), "config": cfg, "key": key, "nested": "layers" in cfg}
            if "layers" in cfg:
                walk(cfg, key)

    if config:
        walk(_graph(config), ())
    return out


def _input_size(config: dict | None) -> tuple[int, int] | None:
    for lay in _graph(config).get("layers", []):
        if lay.get("class_name") == "InputLayer":
            c = lay.get("config", {})
            shape = c.get("batch_shape") or c.get("batch_input_shape")
            if shape and len(shape) == 4 and shape[1] and shape[2]:
                return int(shape[1]), int(shape[2])
    return None


def _kind_of(arrays: dict[str, np.ndarray], class_name: str | None, name: str = "") -> str | None:
    if class_name in _CLASS_KIND:
        return _CLASS_KIND[class_name]
    base = re.sub(r"_\d+$", "", name.rsplit("/", 1)[-1])
    if base in _NAME_KIND:
        return _NAME_KIND[base]
    if "moving_mean" in arrays:
        return "bn"
    k = arrays.get("kernel")
    if k is not None and k.ndim == 2:
        return "dense"
    return None  # 4-D kernel: conv or transposed conv, the file does not say


def read_keras_file(path: str | Path) -> KerasFile:
    """The weight-owning layers of a Keras file (any layout above), each with its creation-order key."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "Keras weight file not found")
    if zipfile.is_zipfile(path):
        return _read_keras_zip(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise BadInputError(path, f"not a readable HDF5 file ({str(e).splitlines()[0][:120]})") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if _attr_list(root, "layer_names"):
            return _read_legacy(path, f, root)
        if "layers" in f:
            return _read_keras3_weights(path, f["layers"], None)
        raise BadInputError(path, "not a Keras weight file (no 'layer_names' attribute and no 'layers' group)")


def _read_legacy(path: Path, f, root) -> KerasFile:
    """Keras 2 layout (whole model or weights only), also Keras 3's legacy ``.h5``."""
    config = None
    if "model_config" in f.attrs:
        try:
            config = json.loads(_str(f.attrs["model_config"]))
        except ValueError:
            config = None
    _refuse_unsafe(path, config)
    confs = _layer_configs(config)
    layers: list[KerasLayer] = []
    for lname in _attr_list(root, "layer_names"):
        if lname not in root:
            raise BadInputError(path, f"layer '{lname}' is listed but has no weight group (truncated file?)")
        group = root[lname]
        owners: dict[str, dict[str, np.ndarray]] = {}
        for wn in _attr_list(group, "weight_names"):
            owner, _, var = wn.rpartition("/")
            try:
                owners.setdefault(owner or lname, {})[var.split(":")[0]] = np.asarray(group[wn][()])
            except KeyError:
                raise BadInputError(path, f"layer '{lname}': weight '{wn}' is listed but missing (truncated file?)") from None
        nested = confs.get(lname, {}).get("nested") or any(o.rsplit("/", 1)[-1] != lname for o in owners)
        for owner, arrays in owners.items():
            short = owner.rsplit("/", 1)[-1]
            conf = confs.get(short if nested else lname)
            display = f"{lname}/{short}" if nested else lname
            key = conf["key"] if conf else name_numbers(short)
            layers.append(KerasLayer(len(layers), display, _kind_of(arrays, conf and conf["class_name"], short), arrays,
                                     conf and conf["config"], key))
    attrs = {k: _str(f.attrs[k]) for k in ("keras_version", "backend") if k in f.attrs}
    return KerasFile(path, layers, config, _input_size(config), BY_GRAPH if config else BY_NAME,
                     "model" if config else "weights", attrs)


def _snake(class_name: str) -> str:
    """Keras 3's weight-group name for a class: ``Conv2DTranspose`` -> ``conv2d_transpose``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", class_name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _read_keras3_weights(path: Path, layers_group, config: dict | None) -> KerasFile:
    """``layers/<name>/vars/<i>``: names by class in layer order; with a config they map to its layers."""
    confs = _layer_configs(config)
    by_generic: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for lay in _graph(config).get("layers", []):  # Keras 3 names weight groups by class, in layer order
        base = _snake(lay.get("class_name", ""))
        n = counts.get(base, 0)
        counts[base] = n + 1
        by_generic[base if n == 0 else f"{base}_{n}"] = confs.get(layer_name(lay))
    layers: list[KerasLayer] = []
    for gname in layers_group:
        vars_group = layers_group[gname].get("vars")
        if vars_group is None or not len(vars_group):
            continue
        conf = by_generic.get(gname)
        arrays = [np.asarray(vars_group[str(i)][()]) for i in range(len(vars_group))]
        kind = _kind_of({"kernel": arrays[0]} if arrays[0].ndim > 1 else {}, conf and conf["class_name"], gname)
        if kind is None and len(arrays) == 4:
            kind = "bn"
        names = _VARS.get(kind, ("kernel", "bias"))
        key = conf["key"] if conf else name_numbers(gname)
        layers.append(KerasLayer(len(layers), gname, kind, dict(zip(names, arrays)), conf and conf["config"], key))
    return KerasFile(path, layers, config, _input_size(config), BY_GRAPH if config else BY_DEPTH_NAME,
                     "model" if config else "weights")


def _read_keras_zip(path: Path) -> KerasFile:
    import h5py

    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            weights = z.read("model.weights.h5")
    except (KeyError, ValueError, zipfile.BadZipFile) as e:
        raise BadInputError(path, f"not a Keras .keras archive ({str(e).splitlines()[0][:120]})") from None
    _refuse_unsafe(path, config)
    with h5py.File(io.BytesIO(weights), "r") as f:
        if "layers" not in f:
            raise BadInputError(path, "the .keras archive holds no layer weights")
        kfile = _read_keras3_weights(path, f["layers"], config)
    kfile.attrs = {"keras_version": str(config.get("keras_version", "3"))}
    return kfile
