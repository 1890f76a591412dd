"""Name -> (static entry, builder) registry (timm / CompressAI style).

``@register_model(ENTRY)`` on a builder ``(spec: ModelSpec) -> JNDModel``; ``create_model(name,
**cfg)`` resolves the spec from the entry (no layers) and hands it to the builder.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import JNDError
from .spec import ModelEntry, ModelSpec

_REGISTRY: dict[str, tuple[ModelEntry, Callable[[ModelSpec], Any]]] = {}


def register_model(entry: ModelEntry):
    """Decorator: ``@register_model(MJ_LAT)`` on a builder ``(spec) -> JNDModel``."""
    if not isinstance(entry, ModelEntry):
        raise TypeError(f"register_model takes the model's ModelEntry (see laserjnd/models/spec.py), got {entry!r}")

    def deco(build: Callable[[ModelSpec], Any]):
        if entry.name in _REGISTRY:
            raise ValueError(f"model {entry.name!r} registered twice")
        _REGISTRY[entry.name] = (entry, build)
        return build

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """The static facts of model ``name`` (nothing is built)."""
    if name not in _REGISTRY:
        raise JNDError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _REGISTRY[name][0]


def get_model_spec(name: str, **cfg: Any) -> ModelSpec:
    """What ``create_model(name, **cfg)`` would build (levels, prerequisites, input size...), without building it."""
    return model_entry(name).spec(**cfg)


def create_model(name: str, **cfg: Any):
    spec = get_model_spec(name, **cfg)
    model = _REGISTRY[name][1](spec)
    if model.spec is not spec:
        raise RuntimeError(f"builder of {name!r} must keep the spec it was given")
    return model
