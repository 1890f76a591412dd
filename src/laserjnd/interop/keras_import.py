"""Convert a Keras (TensorFlow) weight file of a LASeR-JND / MTJND network into our model.

``import_keras(h5_path, model_name, out_path=None, **cfg) -> JNDModel``

Reads, with ``h5py`` only (TensorFlow is not needed), both HDF5 layouts Keras writes:

- whole model (``model.save("m.h5")``): weights under ``model_weights/``, the graph in the
  ``model_config`` attribute (used to check layer kinds, strides, BatchNorm epsilon and the input
  size);
- weights only (Keras 2 ``model.save_weights("w.h5")``): layer groups at the top level.

Mapping is by ORDER and SHAPE, never by layer names (auto-generated names differ from run to run):
the Keras layers that own weights are listed in the file's ``layer_names`` order (a nested model,
e.g. a frozen encoder, expands to its own layers), our modules with weights in registration order.
Each of ours takes the first unused Keras layer of the same kind and converted shape. Keras orders
parallel branches by graph depth (MJ-LAT: the three encoders' first convs, then their second ...),
so "first unused" pairs branch k with branch k as long as both sides list branches in the same
order. Anything left over on either side is an error: never a partial load.

Conversions: Conv2D kernel HWIO -> OIHW; Conv2DTranspose (H, W, out, in) -> (in, out, H, W), no
spatial flip (both frameworks compute the adjoint of a cross-correlation; ``layers/blocks.py``
reproduces TF's "same" cropping); Dense (in, out) -> (out, in), and for a Dense fed by a flatten
our model does in NCHW order, its input rows are permuted from Keras' NHWC flatten order (found
numerically, not assumed); BatchNorm gamma/beta/moving_mean/moving_variance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.labels.units import UNITS
from ..errors import BadInputError, JNDError
from ..models import JNDModel, create_model
from ..models.convention import InputConvention

KIND_NAMES = {"conv": "Conv2D", "deconv": "Conv2DTranspose", "dense": "Dense", "bn": "BatchNormalization"}
_CLASS_KIND = {v: k for k, v in KIND_NAMES.items()}
_BN_VARS = ("gamma", "beta", "moving_mean", "moving_variance")
# Originals' input conventions (OpenCV BGR; LASeR-JND raw 0..255, MTJND 0..1).
_FAMILY_SCALE = {"laser": 255.0, "lite": 255.0, "mtjnd": 1.0, "baseline": 1.0}


@dataclass
class KerasLayer:
    index: int  # position among the file's weight-owning layers
    name: str  # as stored, "outer/inner" for a layer of a nested model
    kind: str | None  # conv / deconv / dense / bn; None = a 4-D kernel of unknown class (no config)
    arrays: dict[str, np.ndarray]
    config: dict[str, Any] | None = None

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
    attrs: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------


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


def _layer_configs(config: dict | None) -> dict[str, dict]:
    """{layer name: {"class_name", "config", "layers" (nested order)}} over the whole graph."""
    out: dict[str, dict] = {}

    def walk(layers):
        for lay in layers or []:
            cfg = lay.get("config", {})
            name = lay.get("name") or cfg.get("name")
            entry = {"class_name": lay.get("class_name"), "config": cfg}
            if "layers" in cfg:  # nested Functional / Sequential
                entry["order"] = [(sub.get("name") or sub.get("config", {}).get("name")) for sub in cfg["layers"]]
                walk(cfg["layers"])
            out[name] = entry

    if config:
        walk(config.get("config", {}).get("layers"))
    return out


def _input_size(config: dict | None) -> tuple[int, int] | None:
    if not config:
        return None
    for lay in config.get("config", {}).get("layers", []):
        if lay.get("class_name") == "InputLayer":
            c = lay.get("config", {})
            shape = c.get("batch_shape") or c.get("batch_input_shape")
            if shape and len(shape) == 4 and shape[1] and shape[2]:
                return int(shape[1]), int(shape[2])
    return None


def _kind_of(arrays: dict[str, np.ndarray], class_name: str | None) -> str | None:
    if class_name in _CLASS_KIND:
        return _CLASS_KIND[class_name]
    if "moving_mean" in arrays:
        return "bn"
    k = arrays.get("kernel")
    if k is not None and k.ndim == 2:
        return "dense"
    return None  # 4-D kernel: conv or transposed conv, the file does not say


def read_keras_h5(path: str | Path) -> KerasFile:
    """List the weight-owning layers of a Keras HDF5 file in Keras order (see module doc)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "Keras weight file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise BadInputError(path, f"not a readable HDF5 file ({str(e).splitlines()[0][:120]})") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        names = _attr_list(root, "layer_names")
        if not names:
            if "layers" in f or "vars" in f:
                raise BadInputError(path, "Keras 3 '.weights.h5' files do not record the layer order; "
                                          "save the whole model as .h5 (model.save('m.h5')) and import that")
            raise BadInputError(path, "not a Keras weight file (no 'layer_names' attribute)")
        config = None
        if "model_config" in f.attrs:
            try:
                config = json.loads(_str(f.attrs["model_config"]))
            except ValueError:
                config = None
        confs = _layer_configs(config)
        layers: list[KerasLayer] = []
        for lname in names:
            if lname not in root:
                raise BadInputError(path, f"layer '{lname}' is listed but has no weight group (truncated file?)")
            group = root[lname]
            wnames = _attr_list(group, "weight_names")
            if not wnames:
                continue
            # Group the variables by owning layer (path minus the variable name). A nested model
            # lists trainable before non-trainable variables, so keep first-appearance order and
            # then, when the config is there, the nested model's own layer order.
            owners: dict[str, dict[str, np.ndarray]] = {}
            for wn in wnames:
                owner, _, var = wn.rpartition("/")
                var = var.split(":")[0]
                try:
                    owners.setdefault(owner or lname, {})[var] = np.asarray(group[wn][()])
                except KeyError:
                    raise BadInputError(path, f"layer '{lname}': weight '{wn}' is listed but missing (truncated file?)") from None
            order = confs.get(lname, {}).get("order")
            items = list(owners.items())
            if order and len(items) > 1:
                pos = {n: i for i, n in enumerate(order)}
                items.sort(key=lambda kv: pos.get(kv[0].rsplit("/", 1)[-1], len(pos)))
            nested = "order" in confs.get(lname, {}) or any(o != lname for o, _ in items)
            for owner, arrays in items:
                short = owner.rsplit("/", 1)[-1]
                conf = confs.get(short if nested else lname)
                display = f"{lname}/{short}" if nested else lname
                layers.append(KerasLayer(len(layers), display, _kind_of(arrays, conf and conf["class_name"]), arrays,
                                         conf and conf["config"]))
        attrs = {k: _str(f.attrs[k]) for k in ("keras_version", "backend") if k in f.attrs}
    return KerasFile(path, layers, config, _input_size(config), attrs)


# ---------------------------------------------------------------------------------------------
# Our side
# ---------------------------------------------------------------------------------------------


@dataclass
class OurLayer:
    path: str
    module: nn.Module
    kind: str
    nchw_flatten: tuple[int, int, int] | None = None  # (C, H, W) when a Dense follows an NCHW flatten

    def keras_shapes(self) -> dict[str, tuple[int, ...]]:
        m = self.module
        if self.kind == "bn":
            return {v: (m.num_features,) for v in _BN_VARS}
        w = tuple(m.weight.shape)
        if self.kind == "conv":
            shapes = {"kernel": (w[2], w[3], w[1], w[0])}
        elif self.kind == "deconv":
            shapes = {"kernel": (w[2], w[3], w[1], w[0])}  # torch (in, out, kh, kw) -> (kh, kw, out, in)
        else:
            shapes = {"kernel": (w[1], w[0])}
        if m.bias is not None:
            shapes["bias"] = tuple(m.bias.shape)
        return shapes

    def describe(self) -> str:
        main = self.keras_shapes().get("kernel", self.keras_shapes().get("gamma"))
        return f"our '{self.path}' ({KIND_NAMES[self.kind]} {main})"


def _our_layers(model: nn.Module) -> list[OurLayer]:
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.ConvTranspose2d):
            kind = "deconv"
        elif isinstance(m, nn.Conv2d):
            kind = "conv"
        elif isinstance(m, nn.Linear):
            kind = "dense"
        elif isinstance(m, nn.BatchNorm2d):
            kind = "bn"
        elif next(m.parameters(recurse=False), None) is not None:
            raise JNDError(f"cannot import Keras weights into '{name}' ({type(m).__name__}): unsupported layer type")
        else:
            continue
        out.append(OurLayer(name, m, kind))
    return out


@torch.no_grad()
def _find_nchw_flattens(model: nn.Module, layers: list[OurLayer], input_size: tuple[int, int]) -> None:
    """Mark each Dense whose input is a flattened (C, H, W) map in NCHW order (needs a row permute).

    Found by running the model once and comparing the Dense input with the NHWC / NCHW flatten of
    the feature maps that modules produced, so it holds however a model writes its flatten.
    """
    dense = [lay for lay in layers if lay.kind == "dense"]
    sizes = {lay.module.in_features for lay in dense}
    maps: list[torch.Tensor] = []
    inputs: dict[int, torch.Tensor] = {}
    hooks = []

    def keep_map(_m, _inp, out):
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out[0].numel() in sizes:
            maps.append(out.detach().clone())

    for m in model.modules():
        if not isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(keep_map))
    for lay in dense:
        hooks.append(lay.module.register_forward_pre_hook(lambda m, a: inputs.setdefault(id(m), a[0].detach().clone())))
    was_training = model.training
    try:
        model.eval()
        model(torch.rand(1, 3, *input_size) * 2 + 0.1)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for lay in dense:
        x = inputs.get(id(lay.module))
        if x is None or x.dim() != 2:
            continue
        for t in reversed(maps):
            if t[0].numel() != x.shape[1]:
                continue
            if torch.equal(t.permute(0, 2, 3, 1).reshape(1, -1), x):
                break  # NHWC flatten, like Keras: plain transpose
            if torch.equal(t.reshape(1, -1), x):
                lay.nchw_flatten = tuple(t.shape[1:])
                break


# ---------------------------------------------------------------------------------------------
# Pairing and conversion
# ---------------------------------------------------------------------------------------------


def _fits(ours: OurLayer, k: KerasLayer) -> bool:
    if k.kind is None:
        if ours.kind not in ("conv", "deconv"):
            return False
    elif k.kind != ours.kind:
        return False
    want = ours.keras_shapes()
    if set(want) != set(k.arrays):
        return False
    return all(tuple(k.arrays[v].shape) == s for v, s in want.items())


def _check_config(path: Path, ours: OurLayer, k: KerasLayer) -> None:
    """Things the weights cannot show but the whole-model config can: strides, BN epsilon."""
    c = k.config or {}
    m = ours.module
    if ours.kind in ("conv", "deconv") and "strides" in c and tuple(c["strides"]) != tuple(m.stride):
        raise BadInputError(path, f"{k.describe()} has strides {tuple(c['strides'])}, {ours.describe()} has {tuple(m.stride)}")
    if ours.kind == "bn" and "epsilon" in c and abs(float(c["epsilon"]) - m.eps) > 1e-12:
        raise BadInputError(path, f"{k.describe()} has BatchNorm epsilon {c['epsilon']}, {ours.describe()} uses {m.eps}")


def pair_layers(path: Path, ours: list[OurLayer], theirs: list[KerasLayer], model_name: str) -> list[tuple[OurLayer, KerasLayer]]:
    used = [False] * len(theirs)
    pairs = []
    cursor = 0  # first Keras layer after the last match: the best one to blame in an error
    for o in ours:
        hit = next((i for i, k in enumerate(theirs) if not used[i] and _fits(o, k)), None)
        if hit is None:
            blame = next((i for i in range(cursor, len(theirs)) if not used[i]), None)
            if blame is None:
                blame = next((i for i in range(len(theirs)) if not used[i]), None)
            if blame is None:
                raise BadInputError(path, f"the file has no layer left for {o.describe()}: missing layer "
                                          f"(is this a '{model_name}' file?)")
            raise BadInputError(path, f"{theirs[blame].describe()} does not match {o.describe()} "
                                      f"(is this a '{model_name}' file?)")
        used[hit] = True
        cursor = hit + 1
        _check_config(path, o, theirs[hit])
        pairs.append((o, theirs[hit]))
    extra = [k for k, u in zip(theirs, used) if not u]
    if extra:
        raise BadInputError(path, f"{extra[0].describe()} has no counterpart in model '{model_name}' "
                                  f"({len(extra)} extra layer(s); is this a '{model_name}' file?)")
    return pairs


def _converted(o: OurLayer, k: KerasLayer) -> dict[str, np.ndarray]:
    a = k.arrays
    if o.kind == "bn":
        return {"weight": a["gamma"], "bias": a["beta"], "running_mean": a["moving_mean"], "running_var": a["moving_variance"]}
    out = {}
    if o.kind in ("conv", "deconv"):
        # Same transpose for both: HWIO -> OIHW, and (H, W, out, in) -> (in, out, H, W).
        out["weight"] = a["kernel"].transpose(3, 2, 0, 1)
    else:
        w = a["kernel"].T  # (out, in)
        if o.nchw_flatten is not None:
            c, h, wd = o.nchw_flatten
            # Column j of ours (NCHW position) takes Keras row idx[j] (NHWC position).
            idx = np.arange(c * h * wd).reshape(h, wd, c).transpose(2, 0, 1).reshape(-1)
            w = w[:, idx]
        out["weight"] = w
    if "bias" in a:
        out["bias"] = a["bias"]
    return out


def convention_for(model: JNDModel) -> InputConvention:
    scale = _FAMILY_SCALE.get(model.spec.family, model.spec.convention.scale)
    return InputConvention("bgr", scale, tuple(model.spec.input_size))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_keras_weights(model: JNDModel, kfile: KerasFile) -> list[tuple[str, str]]:
    """Copy the file's weights into ``model`` (all or nothing). Returns [(our path, keras name)]."""
    ours = _our_layers(model)
    _find_nchw_flattens(model, ours, tuple(model.spec.input_size))
    pairs = pair_layers(kfile.path, ours, kfile.layers, model.spec.name)
    sd = model.state_dict()
    new = {}
    for o, k in pairs:
        for attr, arr in _converted(o, k).items():
            key = f"{o.path}.{attr}" if o.path else attr
            target = sd[key]
            t = torch.from_numpy(np.ascontiguousarray(arr)).to(target.dtype)
            if t.shape != target.shape:  # cannot happen after _fits; a guard against a wrong conversion
                raise BadInputError(kfile.path, f"{k.describe()} converts to {tuple(t.shape)}, {o.describe()} needs {tuple(target.shape)}")
            new[key] = t
    sd.update(new)
    model.load_state_dict(sd, strict=True)
    return [(o.path, k.name) for o, k in pairs]


def import_keras(h5_path: str | Path, model_name: str, out_path: str | Path | None = None, **cfg: Any) -> JNDModel:
    """Build ``model_name`` (cfg as for ``create_model``, e.g. ``level=2``) with the Keras file's weights.

    ``label_unit`` ("qp" default, "qf" for MCL-JCI-trained files) is stored in the checkpoint.
    The input size is taken from cfg, else from the file's model config, else the published one.
    With ``out_path`` the result is saved as a laserjnd checkpoint (atomically).
    """
    from ..checkpoint import save_checkpoint

    path = Path(h5_path)
    label_unit = cfg.pop("label_unit", "qp")
    if label_unit not in UNITS:
        raise JNDError(f"label_unit must be one of {', '.join(UNITS)}, got {label_unit!r}")
    if model_name == "constant":
        raise JNDError("model 'constant' has no network to import Keras weights into")
    kfile = read_keras_h5(path)
    if cfg.get("input_size") is None:
        cfg.pop("input_size", None)
        if kfile.input_size is not None:
            cfg["input_size"] = kfile.input_size
    model = create_model(model_name, **cfg)
    model.spec.convention = convention_for(model)
    load_keras_weights(model, kfile)
    model.eval()
    if out_path is not None:
        meta = {"source": "keras", "file": str(path.resolve()), "sha256": file_sha256(path), **kfile.attrs}
        save_checkpoint(out_path, model, label_unit=label_unit, meta=meta)
    return model
