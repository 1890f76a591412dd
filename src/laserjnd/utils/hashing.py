"""Stable content hashes used as cache keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def array_hash(a: np.ndarray) -> str:
    """SHA-256 of an array's shape, dtype and bytes (first 16 hex digits)."""
    h = hashlib.sha256()
    h.update(str((a.shape, a.dtype.str)).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def dict_hash(d: dict[str, Any]) -> str:
    """SHA-256 of a JSON-serialisable dict with sorted keys (first 16 hex digits)."""
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]
