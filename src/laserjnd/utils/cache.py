"""Where laserjnd keeps what it can rebuild: ladder caches, benchmark content, zoo runs."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$LASERJND_CACHE_DIR``, else ``~/.cache/laserjnd``."""
    return Path(os.environ.get("LASERJND_CACHE_DIR", Path.home() / ".cache" / "laserjnd"))
