"""Convolutions in int8 on the CPU: oneDNN's quantised conv (VNNI), called through ``torch.ops.onednn``.

Weights are quantised per output channel (symmetric int8) and packed once. Each call quantises its
input per tensor from the input's own range (asymmetric uint8: no calibration data, nothing to
record per checkpoint) and returns float32, so every other layer runs as in fp32. A ReLU after the
conv is a post-op of the same call; oneDNN has no int8 LeakyReLU post-op, so that one runs after.
Transposed convs stay float (the engine runs a model that has them in bf16 where the CPU has bf16
units).

Measured through the engine (batch 4, 2 threads, AVX512-VNNI): lat 82 -> 31 ms/frame, mt-3ljnd
357 -> 111, mj-rec (its decoders in bf16) about 1400 -> 605. The accuracy cost depends on the
weights, so ``auto`` uses int8 only where it was measured (``inference/engine.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .fuse import ConvActivation2d

QMAX_WEIGHT = 127  # symmetric int8 weights
QMAX_INPUT = 255  # asymmetric uint8 inputs


def int8_conv_available() -> bool:
    """PyTorch built with oneDNN's quantised conv ops (the x86 CPU wheels are)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv2d_pointwise")


def _min_max(x: torch.Tensor) -> tuple[float, float]:
    # a whole-tensor reduction over a channels_last tensor takes a slow strided path (~30x slower):
    # reduce over the same memory viewed as one flat run
    flat = x.permute(0, 2, 3, 1) if x.is_contiguous(memory_format=torch.channels_last) else x
    lo, hi = torch.aminmax(flat.reshape(-1))
    return min(float(lo), 0.0), max(float(hi), 0.0)  # zero stays exactly representable (padding)


class Int8Conv2d(nn.Module):
    """``act(conv(x))`` with the conv in int8 (CPU, inference); the float module stays for other calls."""

    def __init__(self, conv: nn.Conv2d, act: nn.Module | None = None):
        super().__init__()
        self.conv, self.act = conv, act
        w = conv.weight.detach().float()
        self.w_scale = w.abs().amax((1, 2, 3)).clamp_min(1e-12) / QMAX_WEIGHT
        self.w_zero = torch.zeros(w.shape[0], dtype=torch.long)
        self.geometry = (list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups)
        qw = (w / self.w_scale.view(-1, 1, 1, 1)).round().clamp(-QMAX_WEIGHT - 1, QMAX_WEIGHT).to(torch.int8)
        self.packed = torch.ops.onednn.qconv_prepack(qw.contiguous(memory_format=torch.channels_last),
                                                     self.w_scale, 1.0, 0, *self.geometry, None)
        self.bias = None if conv.bias is None else conv.bias.detach().float()
        self.post_op = "relu" if type(act) is nn.ReLU else "none"

    def _float(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y if self.act is None else self.act(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or torch.is_grad_enabled():
            return self._float(x)
        lo, hi = _min_max(x)
        if not math.isfinite(hi - lo):
            return self._float(x)  # NaN/inf: let the float path carry it, as fp32 would
        scale = max(hi - lo, 1e-12) / QMAX_INPUT
        zero = math.floor(-lo / scale)
        # x / scale + zero lies in (-1, 255]: adding 0.5 and the cast's truncation round it to 0..255
        # without a clamp, in two passes over the input instead of five
        qx = torch.add(torch.tensor(zero + 0.5), x.float(), alpha=1 / scale).to(torch.uint8)
        y = torch.ops.onednn.qconv2d_pointwise(qx, scale, zero, self.packed, self.w_scale, self.w_zero, self.bias,
                                               *self.geometry, 1.0, 0, torch.float32, self.post_op, [], "")
        return y if self.act is None or self.post_op != "none" else self.act(y)


def _quantizable(conv: nn.Module) -> bool:
    return type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)


def quantize_convs_(model: nn.Module) -> int:
    """Replace every Conv2d (and conv fused with its activation) by an :class:`Int8Conv2d`; transposed
    convs and dense layers stay float. Returns how many convs run in int8."""
    if not int8_conv_available():
        return 0
    done = 0
    for name, child in list(model.named_children()):
        if isinstance(child, ConvActivation2d) and _quantizable(child.conv):
            setattr(model, name, Int8Conv2d(child.conv, child.act))
            done += 1
        elif _quantizable(child):
            setattr(model, name, Int8Conv2d(child))
            done += 1
        else:
            done += quantize_convs_(child)
    return done
