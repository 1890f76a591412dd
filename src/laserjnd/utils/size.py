"""Frame sizes given as text (``--input-size``)."""

from __future__ import annotations

import re

from ..errors import BadInputError

_SIZE = re.compile(r"\s*(\d+)\s*[xX, ]\s*(\d+)\s*")


class InputSizeError(BadInputError, ValueError):
    """Also a ``ValueError``, so ``argparse`` (the benchmarks) reports it as a bad argument."""


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"270x480"`` (also ``"270,480"``, ``"270 480"``) -> ``(270, 480)`` as (H, W); None or blank -> None.

    Only the form is checked here; each model checks the sizes its architecture accepts.
    """
    if text is None or not str(text).strip():
        return None
    m = _SIZE.fullmatch(str(text))
    if not m or min(int(m.group(1)), int(m.group(2))) < 1:
        raise InputSizeError(None, f"--input-size must look like HxW (e.g. 270x480), got {text!r}")
    return int(m.group(1)), int(m.group(2))
