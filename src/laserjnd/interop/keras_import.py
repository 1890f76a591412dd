"""Convert a Keras (TensorFlow) weight file of a LASeR-JND / MTJND network into our model.

``import_keras(path, model_name, out_path=None, **cfg) -> JNDModel``

Files are read with ``h5py`` (:mod:`keras_file`: whole-model ``.h5`` and ``.keras``, weights-only
``.h5`` and Keras 3 ``.weights.h5``). Layers are paired by KIND, SHAPE and CREATION ORDER, never by
their names alone (auto-generated names depend on what else the session built):

- each of our layers (registration order: branch by branch, input to output) takes the unused
  Keras layer of its kind and converted shape that was created first;
- creation order comes from the graph where the file has one (:mod:`keras_graph`: which output,
  which input of a merge such as MJ-LAT's multiply, depth), else from the numbers Keras puts in
  auto-generated names (``conv2d``, ``conv2d_1`` ... in creation order). A Keras 3 ``.weights.h5``
  numbers its layers in graph order instead: for models with parallel branches the original network
  is built in Keras (:mod:`keras_originals`), the file loaded into it, and its graph used; without
  TensorFlow the file order is assumed, with a warning naming the layers concerned.
- anything left over on either side is an error: never a partial load.

After the import a self-check (:mod:`keras_check`) runs the Keras file and the converted model on
the same input and refuses the result if they disagree (skipped, with a warning, without TensorFlow).

Conversions: Conv2D kernel HWIO -> OIHW; Conv2DTranspose (H, W, out, in) -> (in, out, H, W), no
spatial flip (both frameworks compute the adjoint of a cross-correlation; ``layers/blocks.py``
reproduces TF's "same" cropping); Dense (in, out) -> (out, in), and for a Dense fed by a flatten
our model does in NCHW order, its input rows are permuted from Keras' NHWC flatten order (found
numerically, not assumed); BatchNorm gamma/beta/moving_mean/moving_variance.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.labels.units import UNITS
from ..errors import BadInputError, JNDError
from ..models import JNDModel, create_model
from ..models.convention import InputConvention

from .keras_file import BN_VARS as _BN_VARS
from .keras_file import BY_DEPTH_NAME, BY_GRAPH, KIND_NAMES, KerasFile, KerasLayer, read_keras_file

log = logging.getLogger("laserjnd")
# Originals' input conventions (OpenCV BGR; LASeR-JND raw 0..255, MTJND 0..1).
_FAMILY_SCALE = {"laser": 255.0, "lite": 255.0, "mtjnd": 1.0, "baseline": 1.0}


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


def pair_layers(kfile: KerasFile, ours: list[OurLayer], model_name: str) -> list[tuple[OurLayer, KerasLayer]]:
    """Each of ours takes the first-created unused Keras layer of its kind and shape (see module doc)."""
    path, theirs = kfile.path, kfile.layers
    used = [False] * len(theirs)
    pairs = []
    for o in ours:
        fits = [i for i, k in enumerate(theirs) if not used[i] and _fits(o, k)]
        if not fits:
            blame = next((k for k, u in zip(theirs, used) if not u), None)
            if blame is None:
                raise BadInputError(path, f"the file has no layer left for {o.describe()}: missing layer "
                                          f"(is this a '{model_name}' file?)")
            raise BadInputError(path, f"{blame.describe()} does not match {o.describe()} (is this a '{model_name}' file?)")
        hit = min(fits, key=lambda i: (theirs[i].key, i))
        used[hit] = True
        _check_config(path, o, theirs[hit])
        pairs.append((o, theirs[hit]))
    extra = [k for k, u in zip(theirs, used) if not u]
    if extra:
        raise BadInputError(path, f"{extra[0].describe()} has no counterpart in model '{model_name}' "
                                  f"({len(extra)} extra layer(s); is this a '{model_name}' file?)")
    return pairs


def ambiguous_groups(kfile: KerasFile, pairs: list[tuple[OurLayer, KerasLayer]], parallel: bool) -> list[list[str]]:
    """Keras layers of one kind and shape whose creation order the file does not record."""
    if kfile.order_source == BY_GRAPH:
        return []
    groups: dict[tuple, list[KerasLayer]] = {}
    for o, k in pairs:
        sig = (o.kind, tuple(sorted(o.keras_shapes().items())))
        groups.setdefault(sig, []).append(k)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        tied = len({k.key for k in members}) < len(members)
        if tied or (kfile.order_source == BY_DEPTH_NAME and parallel):
            out.append([k.name for k in members])
    return out


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


def has_parallel_branches(model: JNDModel) -> bool:
    """Several prerequisite autoencoders side by side (MJ-LAT, MJ-REC): repeated shapes in parallel branches."""
    return len(model.spec.requires) > 1


def load_keras_weights(model: JNDModel, kfile: KerasFile) -> list[tuple[str, str]]:
    """Copy the file's weights into ``model`` (all or nothing). Returns [(our path, keras name)]."""
    ours = _our_layers(model)
    _find_nchw_flattens(model, ours, tuple(model.spec.input_size))
    pairs = pair_layers(kfile, ours, model.spec.name)
    for names in ambiguous_groups(kfile, pairs, has_parallel_branches(model)):
        log.warning("%s: Keras layers %s have the same kind and shape and the file does not record which was "
                    "created first; paired in file order (assumed to be branch order). Import the whole model "
                    "(model.save) or install TensorFlow so the self-check can confirm it", kfile.path, ", ".join(names))
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


def import_keras(h5_path: str | Path, model_name: str, out_path: str | Path | None = None, *,
                 self_check: bool = True, **cfg: Any) -> JNDModel:
    """Build ``model_name`` (cfg as for ``create_model``, e.g. ``level=2``) with the Keras file's weights.

    ``label_unit`` ("qp" default, "qf" for MCL-JCI-trained files) is stored in the checkpoint.
    The input size is taken from cfg, else from the file's model config, else the published one.
    ``self_check`` runs the Keras file beside the result (needs TensorFlow; else a warning).
    With ``out_path`` the result is saved as a laserjnd checkpoint (atomically).
    """
    from ..checkpoint import save_checkpoint
    from .keras_check import check_against_keras, graph_from_original

    path = Path(h5_path)
    label_unit = cfg.pop("label_unit", "qp")
    if label_unit not in UNITS:
        raise JNDError(f"label_unit must be one of {', '.join(UNITS)}, got {label_unit!r}")
    if model_name == "constant":
        raise JNDError("model 'constant' has no network to import Keras weights into")
    kfile = read_keras_file(path)
    if cfg.get("input_size") is None:
        cfg.pop("input_size", None)
        if kfile.input_size is not None:
            cfg["input_size"] = kfile.input_size
    model = create_model(model_name, **cfg)
    model.spec.convention = convention_for(model)
    if kfile.order_source == BY_DEPTH_NAME and has_parallel_branches(model):
        kfile = graph_from_original(kfile, model) or kfile
    load_keras_weights(model, kfile)
    model.eval()
    check = check_against_keras(kfile, model, cfg) if self_check else {"self_check": "not run (asked)"}
    if out_path is not None:
        meta = {"source": "keras", "file": str(path.resolve()), "sha256": file_sha256(path), **kfile.attrs, **check}
        save_checkpoint(out_path, model, label_unit=label_unit, meta=meta)
    return model
