"""Native libraries that write to the process's stderr past Python.

libpng/libjpeg print decoder warnings straight to file descriptor 2, and TensorFlow 2.21 prints absl
lines on import ("oneDNN custom operations are on", "Could not find cuda drivers") whatever
``TF_CPP_MIN_LOG_LEVEL`` says: they are written before absl reads its settings. Only pointing fd 2
elsewhere holds them back.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from types import ModuleType
from typing import BinaryIO, Iterator

_STDERR_LOCK = threading.Lock()  # one redirection at a time: fd 2 is shared by every thread


@contextlib.contextmanager
def native_stderr_into(sink: BinaryIO | None = None) -> Iterator[None]:
    """Point fd 2 at ``sink`` (default /dev/null) for the block; a no-op where there is no usable fd 2."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with _STDERR_LOCK:
        with open(os.devnull, "wb") if sink is None else contextlib.nullcontext(sink) as target:
            os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()  # Python-level writes of the window go to the sink too
            os.dup2(saved, 2)
            os.close(saved)


def quiet_import(name: str) -> ModuleType:
    """import `name`, without its native start-up lines unless TF_CPP_MIN_LOG_LEVEL=0 asks for them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        return importlib.import_module(name)
    with native_stderr_into():
        return importlib.import_module(name)
