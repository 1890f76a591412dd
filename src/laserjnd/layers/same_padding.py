"""TensorFlow "same" padding without a padded copy, for inference at a fixed input size.

``Conv2dSame`` pads its input with ``F.pad`` (a full copy of the activation) before every conv,
because TF's stride-2 "same" padding is asymmetric (the odd pixel goes after) and ``nn.Conv2d`` only
pads symmetrically. Once the input size is fixed the pads are known, and:

- symmetric pads become the conv's own ``padding`` (no copy);
- a chain of asymmetric stride-2 convs (an ``nn.Sequential`` of ``Conv2dSame`` and elementwise
  activations, e.g. the LASeR-JND encoder) runs on the spatially flipped image with flipped
  kernels: there the odd pixel falls *before*, and a symmetric ``padding=after`` conv gives exactly
  the flipped output (the extra pixel after is never sampled when the stride is >= 2). Two small
  flips (3-channel input, latent output) replace one padded copy per conv; the 6x6-kernel
  alternative (a zero row/column, symmetric pad) would cost 44 % more multiply-adds;
- the same holds for TF "same" transposed convs (``ConvTranspose2dSame``, the LASeR-JND decoder),
  which crop the full output (k-s)//2 before and the rest after and so leave every layer a
  strided view (a slow, copying path for the next layer): on the flipped input PyTorch's own
  ``padding``/``output_padding`` crop is exact, and no view is left;
- anything else keeps its (exact) pad.

Inference only: the rewritten modules hold copies of the weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JNDError
from .blocks import Conv2dSame, ConvTranspose2dSame, tf_same_padding
from .fuse import set_submodule
from .probe import Shapes, probe_shapes

ELEMENTWISE = (nn.LeakyReLU, nn.ReLU, nn.Identity, nn.Sigmoid, nn.Tanh, nn.GELU, nn.ELU)


def _tf_pads(conv: Conv2dSame, size: tuple[int, int]) -> list[tuple[int, int]]:
    return [tf_same_padding(n, k, s) for n, k, s in zip(size, conv.kernel_size, conv.stride)]


def _copy_params(src: nn.Module, new: nn.Module, flip: bool) -> nn.Module:
    new = new.to(src.weight.device, src.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(src.weight.flip(-2, -1) if flip else src.weight)
        if src.bias is not None:
            new.bias.copy_(src.bias)
    return new.requires_grad_(src.weight.requires_grad)


def _plain_conv(conv: Conv2dSame, padding: tuple[int, int], flip: bool) -> nn.Conv2d:
    return _copy_params(conv, nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding,
                                        bias=conv.bias is not None), flip)


def _plain_deconv(deconv: ConvTranspose2dSame) -> nn.ConvTranspose2d:
    """The flipped-space equivalent of cropping (before, after): PyTorch crops ``padding`` = after
    on both sides, then ``output_padding`` = after - before gives back the extra pixel at the end."""
    crop = deconv._crop
    return _copy_params(deconv, nn.ConvTranspose2d(
        deconv.in_channels, deconv.out_channels, deconv.kernel_size, deconv.stride,
        padding=tuple(a for _, a in crop), output_padding=tuple(a - b for b, a in crop),
        bias=deconv.bias is not None), flip=True)


class FlippedChain(nn.Module):
    """A chain of stride-2 "same" convs run on the spatially flipped input.

    TF puts the odd padding pixel after; on the flipped image it is before, where a symmetric
    ``padding=after`` conv with the flipped kernel gives exactly the flipped output (the extra pixel
    after is never sampled when the stride is >= 2). Two small flips (input, output) replace a
    padded copy before every conv.
    """

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flip(-2, -1)).flip(-2, -1)


def _chain_form(seq: nn.Sequential, sizes) -> FlippedChain | None:
    layers = []
    for m in seq:
        if isinstance(m, ELEMENTWISE):
            layers.append(m)
            continue
        if type(m) is ConvTranspose2dSame:
            layers.append(_plain_deconv(m))
            continue
        if type(m) is not Conv2dSame or id(m) not in sizes:
            return None
        pads = _tf_pads(m, sizes[id(m)])
        if any(b != a and s < 2 for (b, a), s in zip(pads, m.stride)):
            return None
        layers.append(_plain_conv(m, tuple(a for _, a in pads), flip=True))
    return FlippedChain(layers)


def static_same_padding_(model: nn.Module, input_size: tuple[int, int] | None = None, shapes: Shapes | None = None) -> int:
    """Replace every ``Conv2dSame`` of ``model`` (fixed ``input_size``) by padding-free-copy forms.

    Symmetric pads become the conv's own ``padding``; an ``nn.Sequential`` of asymmetric stride-2
    convs and elementwise activations becomes a :class:`FlippedChain`; any other asymmetric case
    is left as it is (exact, with its pad). ``shapes``: a probe the caller already ran
    (``probe_shapes``), else one is run at ``input_size``. Returns how many convs were rewritten.
    """
    if not any(type(m) in (Conv2dSame, ConvTranspose2dSame) for m in model.modules()):
        return 0
    if shapes is None and any(type(m) is Conv2dSame for m in model.modules()):
        shapes = probe_shapes(model, input_size)  # transposed convs need no sizes: their crop is fixed
    sizes = shapes.input_sizes if shapes else {}
    done = 0
    for name, mod in list(model.named_modules()):
        same = [c for c in mod if type(c) in (Conv2dSame, ConvTranspose2dSame)] if isinstance(mod, nn.Sequential) else []
        if same and not any(isinstance(c, FlippedChain) for c in mod):
            pads = [_tf_pads(c, sizes[id(c)]) if type(c) is Conv2dSame else c._crop for c in same
                    if type(c) is ConvTranspose2dSame or id(c) in sizes]
            if any(b != a for p in pads for b, a in p):
                chain = _chain_form(mod, sizes)
                if chain is not None:
                    _replace(model, name, chain)
                    done += len(pads)
    for name, mod in list(model.named_modules()):
        if type(mod) is Conv2dSame and id(mod) in sizes:
            pads = _tf_pads(mod, sizes[id(mod)])
            if all(b == a for b, a in pads):
                _replace(model, name, _plain_conv(mod, tuple(b for b, _ in pads), flip=False))
                done += 1
    return done


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    if not name:
        raise JNDError("cannot replace the root module")
    set_submodule(root, name, new)
