"""Inference-only rewrites: fold eval-mode BatchNorm into the preceding convolution, fuse a conv
with the activation after it, make activations in place.

``y = BN(conv(x))`` with fixed statistics is an affine map per output channel, so it can be
merged into the conv's weight and bias. :func:`fuse_conv_bn_` works in place on any model:

1. a model method ``fuse_for_inference()`` wins when present (the model knows its structure);
2. otherwise the dataflow is read with ``torch.fx`` and every BatchNorm whose only input is a
   Conv2d output that nothing else reads is folded (conv and BN each called exactly once);
3. a module fx cannot trace (data-dependent control flow) is not folded as a whole: its children
   are traced one by one, and adjacent (Conv2d, BatchNorm2d) children of an untraceable
   ``nn.Sequential`` are folded.
Only exact ``nn.Conv2d`` instances are folded: a subclass may use its weight in other ways.

The folded BN is replaced by ``nn.Identity`` on its parent, so the model's class and ``forward``
(dict outputs and all) stay as they were. Only for inference: the result must not be trained.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Rewrite ``conv`` so that ``conv'(x) == bn(conv(x))`` with bn's running statistics."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    conv.weight.mul_(scale.reshape(-1, *([1] * (conv.weight.dim() - 1))).to(conv.weight.dtype))
    if conv.bias is None:
        conv.bias = nn.Parameter(torch.zeros(conv.out_channels, dtype=conv.weight.dtype, device=conv.weight.device),
                                 requires_grad=conv.weight.requires_grad)
    conv.bias.mul_(scale.to(conv.bias.dtype)).add_(shift.to(conv.bias.dtype))


def set_submodule(root: nn.Module, target: str, new: nn.Module) -> None:
    """Put ``new`` where the dotted name ``target`` points in ``root``."""
    parent_name, _, child = target.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
            and bn.num_features == conv.out_channels)


def _pairs_fx(model: nn.Module) -> list[tuple[str, str]]:
    import torch.fx as fx

    graph = fx.Tracer().trace(model)
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(model.get_submodule(node.target), nn.BatchNorm2d):
            continue
        src = node.args[0] if node.args else None
        if not isinstance(src, fx.Node) or src.op != "call_module" or len(src.users) != 1:
            continue
        if calls[node.target] != 1 or calls[src.target] != 1:
            continue  # a shared module would change its other uses too
        if _foldable(model.get_submodule(src.target), model.get_submodule(node.target)):
            pairs.append((src.target, node.target))
    return pairs


def _pairs(module: nn.Module, prefix: str = "") -> list[tuple[str, str]]:
    """fx on ``module``; where it cannot be traced, recurse into its children (so one untraceable
    layer, e.g. a conv with data-dependent padding, does not hide the rest of the model)."""
    pre = f"{prefix}." if prefix else ""
    try:
        return [(pre + c, pre + b) for c, b in _pairs_fx(module)]
    except Exception:
        pass
    pairs = []
    if isinstance(module, nn.Sequential):  # plain chain: adjacent children feed each other
        kids = list(module.named_children())
        pairs += [(pre + a, pre + b) for (a, ma), (b, mb) in zip(kids, kids[1:]) if _foldable(ma, mb)]
    for name, child in module.named_children():
        pairs += _pairs(child, pre + name)
    return pairs


def fuse_conv_bn_(model: nn.Module) -> int:
    """Fold every foldable Conv2d -> BatchNorm2d pair of ``model`` in place; returns how many.

    Puts the model in eval mode (folding uses running statistics).
    """
    model.eval()
    hook = getattr(model, "fuse_for_inference", None)
    if callable(hook):
        return int(hook() or 0)
    pairs = list(dict.fromkeys(_pairs(model)))
    for conv_name, bn_name in pairs:
        fold_bn_into_conv(model.get_submodule(conv_name), model.get_submodule(bn_name))
        set_submodule(model, bn_name, nn.Identity())
    return len(pairs)


PRODUCERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d)
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU)


def inplace_activations_(model: nn.Module) -> int:
    """Make every ReLU/LeakyReLU that directly follows a conv/linear/BN in an ``nn.Sequential``
    in-place: that output is fresh and read by nothing else, and writing a second full-size tensor
    costs as much as a small conv. Returns how many were changed. Inference only."""
    done = 0
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        mods = list(seq)
        for prev, act in zip(mods, mods[1:]):
            if isinstance(prev, PRODUCERS) and type(act) in ACTIVATIONS and not act.inplace:
                act.inplace = True
                done += 1
    return done


class ConvActivation2d(nn.Module):
    """``act(conv(x))`` as one oneDNN call with the activation as a post-op (CPU): the activation is
    applied while the conv's output is still in cache, instead of a second pass over a large map
    (lat fp32 and VGG bf16 ~2-3 % faster). ``self.conv`` keeps the weights, so precision casts and
    memory-format changes apply to it as to any conv; off the CPU it runs the two modules."""

    def __init__(self, conv: nn.Conv2d, act: nn.Module):
        super().__init__()
        self.conv, self.act = conv, act
        leaky = isinstance(act, nn.LeakyReLU)
        self.attr, self.scalars = ("leaky_relu", [act.negative_slope]) if leaky else ("relu", [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if x.device.type != "cpu" or torch.is_grad_enabled():
            return self.act(c(x))
        return torch.ops.mkldnn._convolution_pointwise(
            x.to(c.weight.dtype), c.weight, c.bias, list(c.padding), list(c.stride), list(c.dilation), c.groups,
            self.attr, self.scalars, "")


def _fusable_pair(conv: nn.Module, act: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and type(act) in ACTIVATIONS and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str))


def fuse_conv_activation_(model: nn.Module) -> int:
    """Fuse every Conv2d directly followed by a ReLU/LeakyReLU in an ``nn.Sequential`` into one
    :class:`ConvActivation2d` (the activation's slot becomes ``nn.Identity``, so indices and taps keep
    their meaning). Needs PyTorch's oneDNN (mkldnn) ops; returns how many pairs were fused."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")):
        return 0
    done = 0
    for seq in list(model.modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        names = [n for n, _ in seq.named_children()]
        for a, b in zip(names, names[1:]):
            conv, act = seq.get_submodule(a), seq.get_submodule(b)
            if _fusable_pair(conv, act):
                setattr(seq, a, ConvActivation2d(conv, act))
                setattr(seq, b, nn.Identity())
                done += 1
    return done
