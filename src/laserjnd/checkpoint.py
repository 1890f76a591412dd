"""Self-describing model checkpoints: everything prediction needs is inside the file.

Format (a ``torch.save`` dict, written atomically)::

    {"format": "laserjnd-checkpoint", "version": 1,
     "model": spec.to_dict(),            # name, cfg, levels, convention (channel order, scale, size)
     "label_unit": "qp" | "qf",          # QP: higher = more compression; QF: higher = better quality
     "state_dict": {...},
     "meta": {...}}                      # data manifest hash, training config, metrics, provenance
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import BadInputError
from .models import JNDModel, create_model
from .models.convention import InputConvention
from .utils.atomic import atomic_save

FORMAT = "laserjnd-checkpoint"
VERSION = 1


def checkpoint_dict(model: JNDModel, *, label_unit: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    if label_unit not in ("qp", "qf"):
        raise ValueError(f"label_unit must be 'qp' or 'qf', got {label_unit!r}")
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model.spec.to_dict(),
        "label_unit": label_unit,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }


def save_checkpoint(path: str | Path, model: JNDModel, *, label_unit: str, meta: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    payload = checkpoint_dict(model, label_unit=label_unit, meta=meta)
    atomic_save(path, lambda tmp: torch.save(payload, tmp))
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate the raw dict; a clear one-line error for anything that is not ours."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated, not a torch file, wrong pickle
        raise BadInputError(path, f"not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if isinstance(payload, dict) and "hyper_parameters" in payload and FORMAT in payload.get("hyper_parameters", {}):
        payload = payload["hyper_parameters"][FORMAT] | {"state_dict": _strip_prefix(payload["state_dict"], "model.")}
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BadInputError(path, "not a laserjnd checkpoint (missing format tag)")
    if payload.get("version", 0) > VERSION:
        raise BadInputError(path, f"checkpoint version {payload['version']} is newer than this laserjnd supports ({VERSION})")
    return payload


def load_checkpoint(path: str | Path, expect_model: str | None = None) -> tuple[JNDModel, dict[str, Any]]:
    """Rebuild the model from the file alone. Returns ``(model in eval mode, payload without state_dict)``."""
    payload = read_checkpoint(path)
    if expect_model is not None and payload["model"]["name"] != expect_model:
        raise BadInputError(path, f"checkpoint holds model {payload['model']['name']!r}, not {expect_model!r}")
    return model_from_payload(payload, path), {k: v for k, v in payload.items() if k != "state_dict"}


def model_from_payload(payload: dict[str, Any], path: str | Path) -> JNDModel:
    """Build the named model with its recorded cfg and convention, then load the weights strictly."""
    spec = payload["model"]
    cfg = dict(spec.get("cfg", {}))
    cfg.setdefault("input_size", tuple(spec["convention"]["input_size"]))
    model = create_model(spec["name"], **cfg)
    model.spec.convention = InputConvention.from_dict(spec["convention"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0][:200]
        raise BadInputError(path, f"weights do not fit model {spec['name']!r}: {first}") from None
    return model.eval()


def _strip_prefix(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
