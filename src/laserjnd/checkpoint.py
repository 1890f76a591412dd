"""Self-describing model checkpoints: everything prediction needs is inside the file.

Format (a ``torch.save`` dict, written atomically)::

    {"format": "laserjnd-checkpoint", "version": 1,
     "model": spec.to_dict(),            # name, cfg, levels, convention (channel order, scale, size)
     "label_unit": "qp" | "qf",          # QP: higher = more compression; QF: higher = better quality
     "state_dict": {...},
     "meta": {...}}                      # data manifest hash, training config, metrics, provenance

One loader reads every file a user can hand over, by what the file is (not only its name):

- ``.safetensors`` (the bundled zoo format): tensors + the payload without ``state_dict`` as JSON
  under the metadata key ``"laserjnd"``;
- torch files (our ``.pt``, Lightning ``.ckpt`` with the payload in ``hyper_parameters``, the
  prerequisite cache, legacy raw pickles): ``torch.load(weights_only=True)``, which accepts tensors
  and plain containers only. A file that asks the unpickler for anything else is refused; nothing
  in it runs.

Weights that are NaN or infinite are refused: such a model predicts nonsense.
"""

from __future__ import annotations

import json
import re
import struct
import warnings
from pathlib import Path
from typing import Any

import torch

from .data.labels.units import UNITS
from .errors import BadInputError, UnsafeFileError
from .models import JNDModel, create_model, model_entry
from .models.convention import InputConvention
from .utils.atomic import atomic_save

FORMAT = "laserjnd-checkpoint"
VERSION = 1
SAFETENSORS_KEY = "laserjnd"  # metadata key holding the payload without weights
LIGHTNING_PAYLOAD_KEY = FORMAT  # key of our payload in a Lightning checkpoint's hyper_parameters


def checkpoint_dict(model: JNDModel, *, label_unit: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    if label_unit not in UNITS:
        raise ValueError(f"label_unit must be one of {', '.join(UNITS)}, got {label_unit!r}")
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


# ---------------------------------------------------------------- reading any file safely


def load_torch_file(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load`` restricted to tensors and plain data; anything else is a one-line refusal."""
    path = Path(path)
    with open(path, "rb") as f:  # errors opening the file stay OSErrors; the rest are about its content
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's note on foreign pickle protocols
                return torch.load(f, map_location=map_location, weights_only=True)
        except Exception as e:  # UnpicklingError, RuntimeError (not a zip), EOFError, OSError (truncated zip)
            raise _load_error(path, e) from None


def _load_error(path: Path, e: Exception) -> BadInputError:
    text = str(e)
    if "Weights only load failed" in text:
        found = re.search(r"GLOBAL (\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        return UnsafeFileError(path, f"refused: the file asks to run or build Python objects{what}; "
                                     "laserjnd loads only tensors and plain data, nothing in it was run")
    first = text.strip().splitlines()[0][:120] if text.strip() else ""
    return BadInputError(path, f"not a readable checkpoint ({type(e).__name__}{': ' + first if first else ''})")


def is_safetensors(path: Path) -> bool:
    """A safetensors file starts with its JSON header length (u64, little endian), then ``{``."""
    if path.suffix.lower() == ".safetensors":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
        size = path.stat().st_size
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and 2 <= struct.unpack("<Q", head[:8])[0] <= size - 8


def read_safetensors(path: str | Path) -> dict[str, Any]:
    """A ``.safetensors`` file with our metadata -> the payload form (float32 weights)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(SAFETENSORS_KEY)
            state = {k: f.get_tensor(k) for k in f.keys()}
    except OSError:
        raise
    except Exception as e:  # safetensors raises its own error types
        detail = " ".join(str(e).split())[:100]
        raise BadInputError(path, f"not a readable safetensors file ({type(e).__name__}: {detail})") from None
    if raw is None:
        raise BadInputError(path, f"safetensors file without laserjnd metadata (key {SAFETENSORS_KEY!r}); "
                                  "not a laserjnd checkpoint")
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadInputError(path, f"laserjnd metadata is not valid JSON ({e.msg})") from None
    if not isinstance(payload, dict):
        raise BadInputError(path, "laserjnd metadata is not a JSON object")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    return payload | {"state_dict": state}


def load_payload_file(path: str | Path) -> Any:
    """The raw content of any checkpoint file, by file type; never runs code from it."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "checkpoint file not found" if not path.exists() else "is not a file")
    if is_safetensors(path):
        return read_safetensors(path)
    return load_torch_file(path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate the payload dict; a clear one-line error for anything that is not ours."""
    path = Path(path)
    return payload_from_raw(load_payload_file(path), path)


def payload_from_raw(payload: Any, path: Path) -> dict[str, Any]:
    """A file's raw content (``load_payload_file``) -> the validated payload dict."""
    if isinstance(payload, dict) and isinstance(payload.get("hyper_parameters"), dict) \
            and LIGHTNING_PAYLOAD_KEY in payload["hyper_parameters"]:  # a Lightning .ckpt of ours
        sd = payload.get("state_dict")
        payload = dict(payload["hyper_parameters"][LIGHTNING_PAYLOAD_KEY]) | {
            "state_dict": _strip_prefix(sd, "model.") if isinstance(sd, dict) else sd}
    validate_payload(payload, path)
    return payload


def validate_payload(payload: Any, path: str | Path) -> None:
    """Format tag, version, model description, label unit, and weights that are finite tensors."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BadInputError(path, "not a laserjnd checkpoint (missing format tag)")
    version = payload.get("version", 0)
    if not isinstance(version, int):
        raise BadInputError(path, f"checkpoint version {version!r} is not a number")
    if version > VERSION:
        raise BadInputError(path, f"checkpoint version {version} is newer than this laserjnd supports ({VERSION})")
    model = payload.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) \
            or not isinstance(model.get("convention"), dict) or not isinstance(model.get("cfg", {}), dict):
        raise BadInputError(path, "checkpoint does not describe its model (name, cfg, input convention)")
    unit = payload.get("label_unit")
    if not isinstance(unit, str) or unit not in UNITS:
        raise BadInputError(path, f"unknown label unit {unit!r} (expected {' or '.join(map(repr, UNITS))})")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInputError(path, "checkpoint holds no weights (state_dict of tensors)")
    _check_finite(state, path)


def _check_finite(state: dict[str, torch.Tensor], path: str | Path) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise BadInputError(path, f"weights hold NaN or infinite values ({bad[0]}{more}); refusing a broken model")


def load_checkpoint(path: str | Path, expect_model: str | None = None) -> tuple[JNDModel, dict[str, Any]]:
    """Rebuild the model from the file alone. Returns ``(model in eval mode, payload without state_dict)``."""
    payload = read_checkpoint(path)
    if expect_model is not None and payload["model"]["name"] != expect_model:
        raise BadInputError(path, f"checkpoint holds model {payload['model']['name']!r}, not {expect_model!r}")
    return model_from_payload(payload, path), {k: v for k, v in payload.items() if k != "state_dict"}


def model_from_payload(payload: dict[str, Any], path: str | Path) -> JNDModel:
    """Build the named model with its recorded cfg and convention, then load the weights strictly."""
    spec = payload["model"]
    try:
        convention = InputConvention.from_dict(spec["convention"])
        cfg = dict(spec.get("cfg", {}))
        cfg.setdefault("input_size", tuple(convention.input_size))
        if model_entry(spec["name"]).single_level and "level" not in cfg and "jnd_column" not in cfg:
            cfg["level"] = spec["levels"][0]  # older files of MTJND single-level models left the level implicit
        model = create_model(spec["name"], **cfg)
    except BadInputError:
        raise
    except Exception as e:  # unknown model, cfg keys the factory does not take, bad convention
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise BadInputError(path, f"cannot rebuild model {spec.get('name')!r} from the checkpoint ({first})") from None
    model.spec.convention = convention
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0][:200]
        raise BadInputError(path, f"weights do not fit model {spec['name']!r}: {first}") from None
    return model.eval()


def _strip_prefix(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
