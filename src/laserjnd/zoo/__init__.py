"""Bundled pretrained weights (the default model), loaded offline from inside the package.

A zoo entry is one ``.safetensors`` file: weights stored as float16 (to stay small) and, in the
file's metadata under ``"laserjnd"``, the checkpoint payload without weights (model name and cfg,
input convention, label unit, training data and test error). See docs/MODEL_CARD.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import BadInputError, JNDError

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_NAME = "default"


def entry_path(name: str = DEFAULT_NAME) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def list_pretrained() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def save_pretrained(checkpoint: str | Path, out_path: str | Path, extra_meta: dict[str, Any] | None = None) -> Path:
    """Our checkpoint -> a compact float16 safetensors zoo entry with self-describing metadata."""
    from safetensors.torch import save_file

    from ..checkpoint import read_checkpoint
    from ..utils.atomic import atomic_save

    payload = read_checkpoint(checkpoint)
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in payload["state_dict"].items()}
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["meta"] = dict(meta.get("meta", {})) | dict(extra_meta or {})
    out_path = Path(out_path)
    atomic_save(out_path, lambda tmp: save_file(tensors, str(tmp), metadata={"laserjnd": json.dumps(meta)}))
    return out_path


def load_pretrained_payload(path: str | Path) -> dict[str, Any]:
    """Read a zoo file into the checkpoint payload form (float32 weights), through the one loader."""
    from ..checkpoint import read_checkpoint

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "pretrained weight file not found")
    try:
        return read_checkpoint(path)
    except BadInputError as e:
        raise BadInputError(path, f"not a laserjnd zoo file ({e.problem})") from None


def load_pretrained(name: str = DEFAULT_NAME):
    """Model (eval mode) + payload of a bundled entry."""
    from ..checkpoint import model_from_payload

    path = entry_path(name)
    if not path.is_file():
        raise JNDError(f"no bundled model {name!r}; available: {', '.join(list_pretrained()) or 'none'}")
    payload = load_pretrained_payload(path)
    return model_from_payload(payload, path), {k: v for k, v in payload.items() if k != "state_dict"}
