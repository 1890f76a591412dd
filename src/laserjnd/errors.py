"""User-facing errors: one line, naming the file and the problem.

The CLI prints ``str(err)`` of any :class:`JNDError` without a traceback.
"""

from __future__ import annotations

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


class EncoderError(JNDError):
    """The video/image encoder failed on an input."""


class TrainingDiverged(JNDError):
    """Loss became NaN/inf or exploded; the last good checkpoint is kept."""
