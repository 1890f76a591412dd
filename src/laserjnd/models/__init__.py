"""The model zoo: ``create_model(name, **cfg)``, ``list_models()``, ``count_params(model)``.

One model family per file; each file registers its factories on import.
"""

from .base import JNDModel, ModelSpec, count_params
from .convention import InputConvention
from .registry import create_model, list_models, register_model

__all__ = ["JNDModel", "ModelSpec", "InputConvention", "count_params", "create_model", "list_models", "register_model"]

# Families register themselves on import.
from . import autoencoder, laser, lite, mtjnd, direct, constant  # noqa: E402,F401
