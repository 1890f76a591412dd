"""One probe forward at a fixed input size: what static inference rewrites need to know."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Shapes:
    input_sizes: dict[int, tuple[int, int]]  # spatial input size of each leaf module, by ``id``
    largest_output: int  # elements of the largest leaf-module output, for one frame


def probe_shapes(model: nn.Module, input_size: tuple[int, int]) -> Shapes:
    """Run ``model`` once on a zero frame (batch 1) and record every leaf module's input size and
    the largest output. Hooks only record (a pre-hook's return value would replace the input)."""
    sizes: dict[int, tuple[int, int]] = {}
    largest = 0

    def before(mod, args) -> None:
        if args and isinstance(args[0], torch.Tensor) and args[0].dim() >= 2:
            sizes.setdefault(id(mod), tuple(args[0].shape[-2:]))

    def after(mod, args, out) -> None:
        nonlocal largest
        outs = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else (out,)
        largest = max([largest] + [t.numel() for t in outs if isinstance(t, torch.Tensor)])

    leaves = [m for m in model.modules() if not any(m.children())]
    hooks = [m.register_forward_pre_hook(before) for m in leaves] + [m.register_forward_hook(after) for m in leaves]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, *input_size, device=next(model.parameters(), torch.empty(0)).device))
    finally:
        for h in hooks:
            h.remove()
    return Shapes(sizes, largest)
