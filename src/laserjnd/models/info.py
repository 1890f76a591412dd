"""What each registered model is: levels, input, outputs, parameter count and FLOPs per frame.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` for one frame (batch 1) under
``no_grad``; it counts a multiply-add as 2 FLOPs and covers conv, transposed conv and matmul
(not activations, pooling or BatchNorm). To be fast the model is first built on the ``meta``
device (shapes only, no arithmetic); a model that cannot run there is built on the CPU.
Single-level models are built for JND1 (``ModelEntry.example_cfg``). Everything but the counts
comes from the static spec table without building anything.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import JNDModel, count_params
from .registry import create_model, get_model_spec, list_models, model_entry


def example_cfg(name: str, input_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The cfg the table describes: JND1 for single-level models, ``input_size`` when given."""
    size = {} if input_size is None else {"input_size": tuple(input_size)}
    return model_entry(name).example_cfg() | size


def _build(name: str, input_size: tuple[int, int] | None, device: str | None) -> JNDModel:
    if device is None:
        return create_model(name, **example_cfg(name, input_size))
    with torch.device(device):
        return create_model(name, **example_cfg(name, input_size))


def count_flops(model: JNDModel, input_size: tuple[int, int] | None = None) -> int:
    """FLOPs of one forward pass on one frame at ``input_size`` (default the model's own)."""
    from torch.utils.flop_counter import FlopCounterMode

    h, w = input_size or model.spec.input_size
    dev = next((p.device for p in model.parameters()), None) or next((b.device for b in model.buffers()), torch.device("cpu"))
    x = torch.zeros(1, 3, h, w, device=dev)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(x)
    finally:
        model.train(was_training)
    return int(fc.get_total_flops())


def unpublished_params(model: JNDModel) -> int:
    """Parameters of parts the published total leaves out (``model.unpublished_parts()``, e.g. MTJND's VA tail)."""
    parts = getattr(model, "unpublished_parts", None)
    return sum(count_params(m) for m in parts().values()) if callable(parts) else 0


def model_info(name: str, input_size: tuple[int, int] | None = None, flops: bool = True) -> dict[str, Any]:
    """One row describing model ``name`` built at ``input_size`` (default: its published size).

    Keys: name, family, levels, input_size, outputs, params, unpublished_params (parts the
    published total leaves out, e.g. MTJND's VA tail), published_params, params_match (params
    minus unpublished parts == published; only meaningful at the published size), flops.
    """
    spec = get_model_spec(name, **example_cfg(name, input_size))  # a bad size fails here, before any build
    model = None
    flop_count = None
    if flops:
        try:  # meta device: counts without computing
            model = _build(name, input_size, "meta")
            flop_count = count_flops(model)
        except Exception:
            model = None
    if model is None:
        model = _build(name, input_size, None)
    if flops and flop_count is None:
        flop_count = count_flops(model)
    params = count_params(model)
    extra = unpublished_params(model)
    published = spec.published_params
    return {
        "name": name,
        "family": spec.family,
        "levels": list(spec.levels),
        "input_size": list(spec.input_size),
        "outputs": list(spec.outputs),
        "params": params,
        "unpublished_params": extra,
        "published_params": published,
        "params_match": None if published is None else (params - extra == published),
        "flops": flop_count,
    }


def model_table(input_size: tuple[int, int] | None = None, flops: bool = True) -> list[dict[str, Any]]:
    """:func:`model_info` for every registered model. A model that fails to build gets a row with
    ``error`` (its message) instead of aborting the table."""
    rows = []
    for name in list_models():
        try:
            rows.append(model_info(name, input_size, flops=flops))
        except Exception as e:
            rows.append({"name": name, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
    return rows
