"""The one fast inference path: what ``predict``, ``test``, ``laserjnd.load().predict`` and the demo run.

``make_engine(model, backend, precision)`` returns ``InferenceEngine`` (PyTorch) or
``OnnxRuntimeEngine`` (the model exported to ONNX once; ``int8`` quantises it dynamically).
``InferenceEngine(model, precision="auto")`` takes a model once and returns its outputs for
canonical batches:

- a private copy in eval mode without gradients, Conv+BatchNorm folded and, on the CPU, each
  conv fused with the ReLU/LeakyReLU after it (``layers/fuse.py``),
  TensorFlow "same" padding without a padded copy (``layers/same_padding.py``), channels_last
  memory format, called under ``torch.inference_mode()``;
- precision: ``fp32``, ``bf16`` (CPU autocast; dense layers stay in float32, where bf16 costs the
  most accuracy for the least time), or ``auto``: bf16 only when the CPU has native bf16 units
  (AVX512-BF16 / AMX) **and** bf16 is known to cost at most ``AUTO_BF16_LIMIT`` (0.05 QP) mean
  change on these weights: measured on the validation split when ``train`` wrote the checkpoint, or
  by ``laserjnd check-precision`` for weights from elsewhere (``precision_check`` in its metadata, see
  :func:`precision_record`), or, for shipped weights, the model's static entry
  (``ModelEntry.auto_bf16``); fp32 otherwise. On CUDA ``auto`` is float16.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import JNDError
from ..utils.memory import keep_freed_memory

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")  # int8: onnxruntime only
ACTIVATION_BUDGET = 256 * 2**20  # bytes: a batch whose largest activation exceeds this runs in chunks
AUTO_BF16_LIMIT = 0.05  # mean |change| of the predicted label (QP / quality steps) that auto may cost


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic on this CPU (AVX512-BF16 or AMX-BF16), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device, auto_bf16: bool) -> str:
    """``auto`` -> the precision this device and model get; explicit values are checked."""
    if precision not in PRECISIONS:
        raise JNDError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        raise JNDError("--precision int8 is for --backend onnxruntime")
    if precision == "fp16" and device.type != "cuda":
        raise JNDError("--precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    return "bf16" if auto_bf16 and cpu_has_bf16() else "fp32"


class Float32Linear(nn.Module):
    """A Linear that runs in float32 inside an autocast region (heads are cheap and sensitive)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.linear(x.float(), self.weight.float(), None if self.bias is None else self.bias.float())


def _keep_linears_fp32(model: nn.Module) -> None:
    for name, child in model.named_children():
        if type(child) is nn.Linear:
            setattr(model, name, Float32Linear(child))
        else:
            _keep_linears_fp32(child)


def _cast_convs(model: nn.Module, dtype: torch.dtype) -> None:
    """Conv weights in the autocast dtype once, instead of a cast on every call."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.to(dtype)


def recorded_bf16_change(payload: dict | None) -> float | None:
    """The bf16 mean |change| a checkpoint's training measured on its validation split, if any."""
    check = ((payload or {}).get("meta") or {}).get("precision_check") or {}
    value = (check.get("bf16") or {}).get("mean_abs_change")
    return float(value) if isinstance(value, (int, float)) else None


def precision_record(model: nn.Module, batches, source: str) -> dict:
    """What a checkpoint's ``meta.precision_check`` holds: bf16's change on ``batches`` (canonical frames
    the model will not be tested on) and where they came from; :func:`recorded_bf16_change` reads it."""
    return {"bf16": precision_change(model, batches) | {"split": source}}


def precision_change(model: nn.Module, batches, precision: str = "bf16", max_frames: int = 64) -> dict:
    """Mean and max |change| of the JND outputs under ``precision`` against fp32 (CPU), over canonical
    frame batches (e.g. the validation split): what ``auto`` reads before choosing bf16."""
    fp32, low = InferenceEngine(model, "fp32", "cpu"), InferenceEngine(model, precision, "cpu")
    diffs, n = [], 0
    for batch in batches:
        batch = batch[: max_frames - n]
        diffs.append((low(batch)["jnd"] - fp32(batch)["jnd"]).abs())
        n += len(batch)
        if n >= max_frames:
            break
    d = torch.cat(diffs) if diffs else torch.zeros(0)
    return {"mean_abs_change": float(d.mean()) if n else None, "max_abs_change": float(d.max()) if n else None,
            "frames": n, "cpu_has_bf16": cpu_has_bf16()}


class InferenceEngine:
    def __init__(self, model: nn.Module, precision: str = "auto", device: str | torch.device | None = None,
                 bf16_change: float | None = None, outputs: tuple[str, ...] | None = None):
        """``bf16_change``: the measured bf16 mean |change| on these weights (``recorded_bf16_change``);
        ``outputs``: the outputs the caller needs (None: all), so branches feeding only others are skipped."""
        from ..layers.fuse import fuse_conv_activation_, fuse_conv_bn_, inplace_activations_
        from ..layers.probe import probe_shapes
        from ..layers.same_padding import static_same_padding_
        from ..models import model_entry

        self.device = torch.device(device) if device is not None else next(model.parameters(), torch.empty(0)).device
        spec = model.spec
        try:
            auto_bf16 = model_entry(spec.name).auto_bf16
        except JNDError:
            auto_bf16 = False
        if bf16_change is not None:  # measured on these very weights: that decides
            auto_bf16 = bf16_change <= AUTO_BF16_LIMIT
        self.precision = resolve_precision(precision, self.device, auto_bf16)
        fast = copy.deepcopy(model).to(self.device).eval()
        fast.spec = spec
        if outputs is not None:
            fast.wanted_outputs = frozenset(outputs)
        for p in fast.parameters():
            p.requires_grad_(False)
        self.folded = fuse_conv_bn_(fast)
        shapes = probe_shapes(fast, tuple(spec.input_size))  # one probe forward serves the rewrites below
        self.unpadded = static_same_padding_(fast, shapes=shapes)
        self.fused = fuse_conv_activation_(fast) if self.device.type == "cpu" else 0
        inplace_activations_(fast)
        if self.precision != "fp32":
            _keep_linears_fp32(fast)
            _cast_convs(fast, torch.bfloat16 if self.precision == "bf16" else torch.float16)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.channels_last = self.device.type == "cpu" or self.precision != "fp32"
        self.model = fast.to(memory_format=torch.channels_last) if self.channels_last else fast
        frame_bytes = shapes.largest_output * (4 if self.precision == "fp32" else 2)
        self.chunk = max(1, ACTIVATION_BUDGET // max(1, frame_bytes))

    @property
    def spec(self):
        return self.model.spec

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _prepare(self, canonical: torch.Tensor) -> torch.Tensor:
        x = self.spec.convention.to_model(canonical.to(self.device))
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __call__(self, canonical: torch.Tensor) -> dict[str, torch.Tensor]:
        """Canonical RGB [0, 1] batch (B, 3, H, W) -> the model's outputs, in float32.

        Frames run ``self.chunk`` at a time: a model with huge activations (the REC family's
        512-channel full-resolution maps, ~460 MB a frame) is faster one frame at a time than with
        several gigabytes in flight (rec, batch 4: 1171 vs 899 ms a frame)."""
        x = self._prepare(canonical)
        parts = []
        with torch.inference_mode(), self._autocast():
            for i in range(0, len(x), self.chunk):
                parts.append(self.model(x[i:i + self.chunk]))
        return {k: torch.cat([p[k] for p in parts]).float() for k in parts[0]}


BACKENDS = ("torch", "onnxruntime")


class OnnxRuntimeEngine:
    """The same call as :class:`InferenceEngine`, run by onnxruntime (CPU) on the model exported to
    ONNX once (``int8``: dynamically quantised weights)."""

    def __init__(self, model: nn.Module, int8: bool = False, threads: int | None = None):
        import tempfile

        from ..interop.export import _session, export_onnx, quantize_int8

        self.spec = model.spec
        self.precision = "int8" if int8 else "fp32"
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = export_onnx(model, Path(tmp) / "model.onnx")
                if int8:
                    path = quantize_int8(path, Path(tmp) / "model-int8.onnx")
            except Exception as e:
                first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
                raise JNDError(f"model {self.spec.name!r} cannot run in onnxruntime (ONNX export failed: {first}); "
                               f"use --backend torch") from None
            self.session = _session(path, threads or torch.get_num_threads())

    def __call__(self, canonical: torch.Tensor) -> dict[str, torch.Tensor]:
        from ..interop.export import onnx_session_predict

        out = onnx_session_predict(self.session, self.spec.convention.to_model(canonical.cpu()))
        return {k: torch.from_numpy(v).float() for k, v in out.items()}


def make_engine(model: nn.Module, backend: str = "torch", precision: str = "auto", device=None, payload=None,
                outputs: tuple[str, ...] | None = None):
    """The engine for ``--backend``: torch (with ``precision``) or onnxruntime (``precision`` fp32/int8/auto).
    ``payload``: the checkpoint's, whose recorded precision check ``auto`` follows."""
    if backend not in BACKENDS:
        raise JNDError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch":
        return InferenceEngine(model, precision, device, bf16_change=recorded_bf16_change(payload), outputs=outputs)
    if device is not None and torch.device(device).type != "cpu":
        raise JNDError("--backend onnxruntime runs on the CPU; pass --device cpu or use --backend torch")
    if precision not in ("auto", "fp32", "int8"):
        raise JNDError(f"--backend onnxruntime takes --precision auto, fp32 or int8, not {precision!r}")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise JNDError("--backend onnxruntime needs onnxruntime: pip install 'laserjnd[onnx]'") from None
    return OnnxRuntimeEngine(model, int8=precision == "int8")
