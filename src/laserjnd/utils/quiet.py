"""Importing libraries whose native code logs before Python can configure it.

TensorFlow 2.21 prints absl lines on import ("oneDNN custom operations are on", "Could not find cuda
drivers") whatever ``TF_CPP_MIN_LOG_LEVEL`` says: they are written before absl reads its settings.
Only the process's stderr file descriptor can hold them back.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from types import ModuleType


@contextlib.contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block (Python exceptions still propagate)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def quiet_import(name: str) -> ModuleType:
    """import `name`, without its native start-up lines unless TF_CPP_MIN_LOG_LEVEL asks for them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        return importlib.import_module(name)
    with native_stderr_silenced():
        return importlib.import_module(name)
