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
  most accuracy for the least time), ``int8`` (CPU: convs through oneDNN's quantised kernels with
  per-channel weights and inputs quantised per call, ``layers/int8.py``; everything else float32), or
  ``auto``: the fastest of int8 and bf16 that the CPU runs natively (VNNI / AVX512-BF16, AMX) **and**
  that is known to cost at most ``AUTO_LIMIT`` (0.05 QP) mean change on these weights: measured on
  the validation split when ``train`` wrote the checkpoint, or by ``laserjnd check-precision`` for
  weights from elsewhere (``precision_check`` in its metadata, see :func:`precision_record`), or, for
  shipped weights, the model's static entry (``ModelEntry.auto_bf16``); fp32 otherwise. On CUDA
  ``auto`` is float16.
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

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
REDUCED = ("int8", "bf16")  # what ``auto`` may pick on a CPU, fastest first
ACTIVATION_BUDGET = 256 * 2**20  # bytes: a batch whose largest activation exceeds this runs in chunks
AUTO_LIMIT = 0.05  # mean |change| of the predicted label (QP / quality steps) that auto may cost


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic on this CPU (AVX512-BF16 or AMX-BF16), read from /proc/cpuinfo."""
    return any(f" {unit}" in _cpu_flags() for unit in ("avx512_bf16", "amx_bf16"))


def cpu_has_int8() -> bool:
    """Native int8 dot products (VNNI or AMX-INT8) and PyTorch's oneDNN quantised conv."""
    from ..layers.int8 import int8_conv_available

    units = any(f" {unit}" in _cpu_flags() for unit in ("avx512_vnni", "avx_vnni", "amx_int8"))
    return units and int8_conv_available()


def cpu_has(precision: str) -> bool:
    return {"int8": cpu_has_int8, "bf16": cpu_has_bf16}[precision]()


def resolve_precision(precision: str, device: torch.device, allowed: frozenset[str] = frozenset()) -> str:
    """``auto`` -> the precision this device and these weights get (``allowed``: the reduced precisions
    known to cost at most ``AUTO_LIMIT``); explicit values are checked."""
    from ..layers.int8 import int8_conv_available

    if precision not in PRECISIONS:
        raise JNDError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8" and (device.type != "cpu" or not int8_conv_available()):
        raise JNDError("--precision int8 runs on the CPU, with PyTorch's oneDNN (x86) quantised ops")
    if precision == "fp16" and device.type != "cuda":
        raise JNDError("--precision fp16 needs a CUDA device; on the CPU use bf16, int8 or fp32")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    return next((p for p in REDUCED if p in allowed and cpu_has(p)), "fp32")


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


def recorded_changes(payload: dict | None) -> dict[str, float]:
    """The mean |change| per reduced precision measured on a checkpoint's weights (``precision_check``
    in its metadata, written by :func:`precision_record`); empty when it carries none."""
    check = ((payload or {}).get("meta") or {}).get("precision_check") or {}
    values = {p: (check.get(p) or {}).get("mean_abs_change") for p in REDUCED}
    return {p: float(v) for p, v in values.items() if isinstance(v, (int, float))}


def precision_record(model: nn.Module, batches, source: str) -> dict:
    """What a checkpoint's ``meta.precision_check`` holds: each reduced precision's change on ``batches``
    (canonical frames the model will not be tested on) and where they came from."""
    from ..layers.int8 import int8_conv_available

    precisions = [p for p in REDUCED if p != "int8" or int8_conv_available()]
    return {p: change | {"split": source} for p, change in precision_changes(model, batches, precisions).items()}


def precision_changes(model: nn.Module, batches, precisions, max_frames: int = 64) -> dict[str, dict]:
    """Mean and max |change| of the JND outputs under each of ``precisions`` against fp32 (CPU), over
    canonical frame batches (e.g. the validation split), read once: what ``auto`` decides by."""
    fp32 = InferenceEngine(model, "fp32", "cpu")
    low = {p: InferenceEngine(model, p, "cpu") for p in precisions}
    diffs: dict[str, list[torch.Tensor]] = {p: [] for p in precisions}
    n = 0
    for batch in batches:
        batch = batch[: max_frames - n]
        ref = fp32(batch)["jnd"]
        for p, engine in low.items():
            diffs[p].append((engine(batch)["jnd"] - ref).abs())
        n += len(batch)
        if n >= max_frames:
            break
    return {p: _change(torch.cat(d) if d else torch.zeros(0)) | {"frames": n, "native": cpu_has(p)}
            for p, d in diffs.items()}


def _change(d: torch.Tensor) -> dict:
    some = d.numel() > 0
    return {"mean_abs_change": float(d.mean()) if some else None, "max_abs_change": float(d.max()) if some else None}


def within_limit(recorded: dict[str, float]) -> frozenset[str]:
    """The precisions whose measured mean |change| ``auto`` accepts."""
    return frozenset(p for p, change in recorded.items() if change <= AUTO_LIMIT)


def _half_dtype(precision: str, model: nn.Module) -> torch.dtype | None:
    """The 16-bit float the engine's float work runs in. int8 leaves the transposed convs (the REC
    decoders, a third of mj-rec's time) as the only heavy float layers: a model that has them runs its
    float remainder in bf16 where the CPU has bf16 units; any other model keeps it in float32."""
    if precision == "int8":
        transposed = any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
        return torch.bfloat16 if transposed and cpu_has_bf16() else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def _allowed(name: str, recorded: dict[str, float] | None) -> frozenset[str]:
    """Reduced precisions ``auto`` may use: as measured on these weights, else the shipped weights' entry."""
    from ..models import model_entry

    if recorded:  # measured on these very weights: that decides
        return within_limit(recorded)
    try:
        return frozenset({"bf16"}) if model_entry(name).auto_bf16 else frozenset()
    except JNDError:
        return frozenset()


class InferenceEngine:
    def __init__(self, model: nn.Module, precision: str = "auto", device: str | torch.device | None = None,
                 recorded: dict[str, float] | None = None, outputs: tuple[str, ...] | None = None):
        """``recorded``: the measured mean |change| per reduced precision on these weights
        (``recorded_changes``); ``outputs``: the outputs the caller needs (None: all), so branches
        feeding only others are skipped."""
        from ..layers.fuse import fuse_conv_activation_, fuse_conv_bn_, inplace_activations_
        from ..layers.int8 import quantize_convs_
        from ..layers.probe import probe_shapes
        from ..layers.same_padding import static_same_padding_

        self.device = torch.device(device) if device is not None else next(model.parameters(), torch.empty(0)).device
        spec = model.spec
        self.precision = resolve_precision(precision, self.device, _allowed(spec.name, recorded))
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
        self.quantized = quantize_convs_(fast) if self.precision == "int8" else 0
        self.half = _half_dtype(self.precision, fast)
        if self.half is not None:
            _keep_linears_fp32(fast)
            _cast_convs(fast, self.half)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.channels_last = self.device.type == "cpu" or self.precision != "fp32"
        self.model = fast.to(memory_format=torch.channels_last) if self.channels_last else fast
        frame_bytes = shapes.largest_output * (2 if self.precision in ("bf16", "fp16") else 4)
        self.chunk = max(1, ACTIVATION_BUDGET // max(1, frame_bytes))

    @property
    def spec(self):
        return self.model.spec

    def _autocast(self):
        if self.half is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.half)

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
        return InferenceEngine(model, precision, device, recorded=recorded_changes(payload), outputs=outputs)
    if device is not None and torch.device(device).type != "cpu":
        raise JNDError("--backend onnxruntime runs on the CPU; pass --device cpu or use --backend torch")
    if precision not in ("auto", "fp32", "int8"):
        raise JNDError(f"--backend onnxruntime takes --precision auto, fp32 or int8, not {precision!r}")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise JNDError("--backend onnxruntime needs onnxruntime: pip install 'laserjnd[onnx]'") from None
    return OnnxRuntimeEngine(model, int8=precision == "int8")
