"""The model zoo: ``create_model(name, **cfg)``, ``list_models()``, ``count_params(model)``, and the
static metadata ``model_entry(name)`` / ``get_model_spec(name, **cfg)`` (nothing built).

One model family per file; each file registers its entries and builders on import.
"""

from .base import JNDModel, count_params
from .convention import InputConvention
from .registry import create_model, get_model_spec, list_models, model_entry, register_model
from .spec import ModelEntry, ModelSpec, resolve_level

__all__ = ["JNDModel", "ModelEntry", "ModelSpec", "InputConvention", "count_params", "create_model",
           "get_model_spec", "list_models", "model_entry", "register_model", "resolve_level"]

# Families register themselves on import.
from . import autoencoder, laser, lite, mtjnd, direct, constant, texture  # noqa: E402,F401
