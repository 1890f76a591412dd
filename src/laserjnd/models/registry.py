"""Name -> factory registry (timm / CompressAI style)."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import JNDError
from .base import JNDModel

_REGISTRY: dict[str, Callable[..., JNDModel]] = {}


def register_model(name: str):
    """Decorator: ``@register_model("mj-lat")`` on a factory ``(**cfg) -> JNDModel``."""

    def deco(fn: Callable[..., JNDModel]):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **cfg: Any) -> JNDModel:
    if name not in _REGISTRY:
        raise JNDError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    model = _REGISTRY[name](**cfg)
    model.spec.cfg = dict(cfg)
    return model
