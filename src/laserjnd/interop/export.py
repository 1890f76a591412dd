"""Export a model to ONNX or TorchScript, self-describing like our checkpoints.

- :func:`export_onnx`: one input ``"input"`` (B, 3, H, W) float32 in the model's convention
  (channel order, scale, fixed H x W; batch dynamic by default), outputs named after the model's
  dict keys in the order ``jnd``, ``recon``, ``saliency`` (those it has). ``metadata_props`` record
  the convention and model (keys ``laserjnd.*``, plus ``laserjnd.spec`` as JSON).
- :func:`export_torchscript`: a traced module returning the same dict; the same description is
  stored as the ``_extra_files`` entry ``laserjnd.json`` (``torch.jit.load(p, _extra_files=...)``).
- :func:`onnx_session_predict` and :func:`time_onnxruntime`: run / time an export in onnxruntime.

The legacy TorchScript-based ONNX exporter is used (``dynamo=False``): it needs no onnxscript and
handles the models' shape-dependent padding (sizes are fixed, only the batch is dynamic).
Files are written atomically.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import BadInputError, JNDError
from ..models import JNDModel
from ..utils.atomic import atomic_path

OUTPUT_ORDER = ("jnd", "recon", "saliency")
INPUT_NAME = "input"
EXTRA_FILE = "laserjnd.json"


def _resolve(checkpoint_or_model, label_unit: str | None) -> tuple[JNDModel, dict[str, Any]]:
    """(model in eval mode, description dict) from a checkpoint path or a model."""
    if isinstance(checkpoint_or_model, nn.Module):
        model, unit, meta = checkpoint_or_model, label_unit or "qp", {}
    else:
        from ..checkpoint import load_checkpoint

        model, payload = load_checkpoint(checkpoint_or_model)
        unit, meta = label_unit or payload.get("label_unit", "qp"), payload.get("meta", {})
    if not hasattr(model, "spec"):
        raise JNDError(f"{type(model).__name__} is not a laserjnd model (no spec)")
    outputs = _output_names(model)
    spec = model.spec
    conv = spec.convention
    desc = {
        "format": "laserjnd-export",
        "model": spec.name,
        "family": spec.family,
        "levels": list(spec.levels),
        "label_unit": unit,
        "channel_order": conv.channel_order,
        "scale": conv.scale,
        "input_size": list(conv.input_size),
        "layout": "NCHW",
        "input_name": INPUT_NAME,
        "outputs": list(outputs),
        "spec": spec.to_dict(),
        "source": {k: meta[k] for k in ("source", "file", "sha256") if k in meta},
    }
    return model, desc


@torch.no_grad()
def _output_names(model: JNDModel) -> tuple[str, ...]:
    h, w = model.spec.input_size
    with _eval_mode(model):
        out = model(torch.zeros(1, 3, h, w))
    names = tuple(k for k in OUTPUT_ORDER if k in out)
    if not names:
        raise JNDError(f"model {model.spec.name!r} returns none of {OUTPUT_ORDER}")
    return names


@contextmanager
def _eval_mode(model: nn.Module):
    """Eval mode for the export, then the caller's mode back (exporters toggle modes themselves)."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


class _TupleOutputs(nn.Module):
    """Dict outputs -> a tuple in a fixed order (ONNX outputs are positional)."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, x: torch.Tensor):
        out = self.model(x)
        return tuple(out[k] for k in self.names)


def _metadata(desc: dict[str, Any]) -> dict[str, str]:
    md = {f"laserjnd.{k}": (v if isinstance(v, str) else json.dumps(v)) for k, v in desc.items() if k not in ("spec", "source")}
    md["laserjnd.spec"] = json.dumps(desc["spec"], sort_keys=True)
    md["laserjnd.source"] = json.dumps(desc["source"], sort_keys=True)
    return md


def export_onnx(checkpoint_or_model, out_path: str | Path, opset: int = 17, dynamic_batch: bool = True,
                label_unit: str | None = None, batch_size: int = 2) -> Path:
    """Write an ONNX file of a checkpoint (path) or a model; returns ``out_path``."""
    import onnx

    model, desc = _resolve(checkpoint_or_model, label_unit)
    names = tuple(desc["outputs"])
    h, w = desc["input_size"]
    example = torch.rand(batch_size, 3, h, w) * desc["scale"]
    dyn = {n: {0: "batch"} for n in (INPUT_NAME, *names)} if dynamic_batch else None
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as td:
        raw = Path(td) / "raw.onnx"
        # The wrapper must be in eval mode too: the exporter restores the wrapper's mode
        # recursively afterwards, which would leave BatchNorm in training mode.
        with warnings.catch_warnings(), _eval_mode(model):
            warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer warnings
            torch.onnx.export(_TupleOutputs(model, names).eval(), (example,), str(raw), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=list(names), dynamic_axes=dyn,
                              do_constant_folding=True)
        proto = onnx.load(str(raw))
        for k, v in _metadata(desc).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        proto.doc_string = f"laserjnd {desc['model']} ({desc['channel_order'].upper()}, x{desc['scale']:g}, {h}x{w}, NCHW)"
        with atomic_path(out_path) as tmp:
            onnx.save(proto, str(tmp))
    return out_path


def export_torchscript(checkpoint_or_model, out_path: str | Path, label_unit: str | None = None, batch_size: int = 2) -> Path:
    """Write a traced TorchScript module (dict outputs) with the description as an extra file."""
    model, desc = _resolve(checkpoint_or_model, label_unit)
    h, w = desc["input_size"]
    example = torch.rand(batch_size, 3, h, w) * desc["scale"]
    with warnings.catch_warnings(), torch.no_grad(), _eval_mode(model):
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, strict=False, check_trace=False)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        torch.jit.save(traced, str(tmp), _extra_files={EXTRA_FILE: json.dumps(desc, sort_keys=True)})
    return out_path


def read_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    extra = {EXTRA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise BadInputError(path, f"not a readable TorchScript file ({type(e).__name__})") from None
    return module, json.loads(extra[EXTRA_FILE] or "{}")


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The ``laserjnd.*`` metadata of an exported ONNX file, JSON values decoded."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    out = {}
    for p in proto.metadata_props:
        if p.key.startswith("laserjnd."):
            try:
                out[p.key[9:]] = json.loads(p.value)
            except ValueError:
                out[p.key[9:]] = p.value
    return out


def _session(path: str | Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_session_predict(path_or_session, batch) -> dict[str, np.ndarray]:
    """Run an exported file (path or an onnxruntime session) on a (B, 3, H, W) batch in model convention."""
    sess = path_or_session if hasattr(path_or_session, "run") else _session(path_or_session)
    x = batch.detach().cpu().numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: x.astype(np.float32, copy=False)})))


def time_onnxruntime(model: JNDModel, input_size: tuple[int, int] | None = None, batch_size: int = 1,
                     repeats: int = 10, warmup: int = 2, threads: int | None = None) -> float:
    """Median milliseconds per frame of ``model`` exported to ONNX and run in onnxruntime (CPU).

    ``input_size`` must be the model's own (the export fixes H x W); None takes it.
    """
    if input_size is not None and tuple(input_size) != tuple(model.spec.input_size):
        raise JNDError(f"model was built for {tuple(model.spec.input_size)}, asked to time {tuple(input_size)}")
    h, w = model.spec.input_size
    with tempfile.TemporaryDirectory() as td:
        path = export_onnx(model, Path(td) / "m.onnx", batch_size=max(batch_size, 1))
        sess = _session(path, threads)
        x = (np.random.default_rng(0).random((batch_size, 3, h, w)) * model.spec.convention.scale).astype(np.float32)
        for _ in range(warmup):
            onnx_session_predict(sess, x)
        times = []
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            onnx_session_predict(sess, x)
            times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000.0 / batch_size


def quantize_int8(onnx_path: str | Path, out_path: str | Path) -> Path:
    """Dynamic int8 quantisation (weights int8, activations quantised per batch) of an exported file,
    keeping its ``laserjnd.*`` metadata."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as td:
        raw = Path(td) / "int8.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)  # onnxruntime logs whole tensor protos on the root logger
            try:
                quantize_dynamic(str(onnx_path), str(raw), weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
        proto, source = onnx.load(str(raw)), onnx.load(str(onnx_path), load_external_data=False)
        del proto.metadata_props[:]
        for p in source.metadata_props:
            entry = proto.metadata_props.add()
            entry.key, entry.value = p.key, p.value
        entry = proto.metadata_props.add()
        entry.key, entry.value = "laserjnd.quantization", json.dumps("dynamic int8 weights")
        with atomic_path(out_path) as tmp:
            onnx.save(proto, str(tmp))
    return out_path
