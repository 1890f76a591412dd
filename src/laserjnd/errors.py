"""User-facing errors: one line, naming the file and the problem.

The CLI prints ``str(err)`` of any :class:`JNDError` without a traceback (exit code 2).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class JNDError(Exception):
    """Base class of every error a user can cause (bad input, bad config)."""


class BadInputError(JNDError):
    """A file or value supplied by the user is unusable.

    ``BadInputError(path, "problem")`` renders as ``"<path>: problem"``.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class UnsafeFileError(BadInputError):
    """A file asks for something laserjnd never does (run code, decode a bomb); nothing was run."""


class OutputExistsError(BadInputError):
    """Writing would replace or delete something laserjnd did not write (or was told to keep)."""


class EncoderError(JNDError):
    """The video/image encoder failed on an input."""


class TrainingDiverged(JNDError):
    """Loss became NaN/inf or exploded; the last good checkpoint is kept."""


_OS_HINTS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "file name too long for the file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a parent of this path is a file, not a folder",
}


def os_error_line(e: OSError) -> str:
    """``OSError`` -> ``"<file>: <what happened>"`` on one line (disk full, name too long, ...)."""
    what = _OS_HINTS.get(e.errno or -1) or (e.strerror or str(e)).splitlines()[0]
    where = e.filename if e.filename is not None else None
    if where is not None and e.filename2 is not None:
        where = f"{e.filename} -> {e.filename2}"
    name = errno.errorcode.get(e.errno or -1)
    tail = f" ({name})" if name else ""
    return f"{os.fsdecode(where)}: {what}{tail}" if where is not None else f"{what}{tail}"
