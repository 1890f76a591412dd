"""Atomic file and folder writes: temp file in the same folder, then rename.

A crash leaves either the old file or the new one, never a half-written file. Temp names are
derived from the final name (``.<name>.<random>.tmp`` / ``.<name>.<random>.partial``) and are cut
short so that they never exceed the file system's name limit when the final name fits.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import OutputExistsError

log = logging.getLogger("laserjnd")

PARTIAL_SUFFIX = ".partial"
OWNER_FILE = ".laserjnd-owner"  # "host pid" of the run building a .partial folder
_RANDOM = 8  # length of tempfile's random part
_MARGIN = 2 + _RANDOM + len(PARTIAL_SUFFIX)  # the dots, the random part, the longest suffix


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_name_length(path: Path) -> None:
    """``ENAMETOOLONG`` before any work, rather than after it (when the result is renamed into place)."""
    folder = path.parent if path.parent.exists() else Path(".")
    if len(os.fsencode(path.name)) > name_max(folder):
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(path))


def _temp_prefix(path: Path) -> str:
    """``.<name>.`` cut so that prefix + random part + suffix fits the name limit."""
    keep = max(1, name_max(path.parent) - _MARGIN - 1)
    name = os.fsencode(path.name)[:keep].decode("utf-8", "ignore")
    return f".{name}."


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_name_length(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp (or a writer) made 0600; give the usual mode
        os.replace(tmp_path, path)
    except OSError as e:
        if e.filename is None:  # e.g. ENOSPC from a write: say which output failed
            e.filename = str(path)
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` (e.g. ``torch.save``, ``cv2.imwrite``) and rename the result into place."""
    with atomic_path(path) as tmp:
        writer(tmp)


def refuse_existing(path: Path, option: str, overwrite: bool) -> None:
    """A file laserjnd derives a name for: never replaced without ``--overwrite``."""
    if path.exists() and not overwrite:
        raise OutputExistsError(path, f"exists; pass --overwrite to replace it, or choose another {option}")


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


@contextmanager
def atomic_dir(path: str | Path, replace: bool = False) -> Iterator[Path]:
    """Build a folder under a temp name; rename it to ``path`` only when the block succeeds.

    An existing empty folder is replaced; a non-empty one only with ``replace=True`` (the caller
    decides whether it may go: this module cannot know who wrote it). On failure the temp folder
    is removed; one left by a killed run is removed by the next run for the same ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_name_length(path)
    _refuse_to_clobber(path, replace)
    remove_stale_partials(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=PARTIAL_SUFFIX, dir=path.parent))
    (tmp / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    try:
        yield tmp
        _refuse_to_clobber(path, replace)  # it may have appeared while we worked
        (tmp / OWNER_FILE).unlink()
        _swap_in(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _refuse_to_clobber(path: Path, replace: bool) -> None:
    if path.exists() and not path.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(path))
    if path.is_dir() and not replace and not is_empty_dir(path):
        raise FileExistsError(errno.ENOTEMPTY, "folder exists and is not empty", str(path))


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; an existing ``path`` is first renamed to a stale ``.partial`` name.

    A kill between the two renames leaves no ``path`` and the old folder under a ``.partial``
    name, which the next run removes (it was being replaced anyway).
    """
    if not path.exists():
        os.replace(tmp, path)
        return
    if is_empty_dir(path):
        path.rmdir()
        os.replace(tmp, path)
        return
    old = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=PARTIAL_SUFFIX, dir=path.parent))
    os.replace(path, old)  # onto the empty folder mkdtemp made
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def _partial_pattern(path: Path) -> re.Pattern:
    return re.compile(re.escape(_temp_prefix(path)) + r"[a-z0-9_]{%d}" % _RANDOM + re.escape(PARTIAL_SUFFIX))


def remove_stale_partials(path: str | Path) -> list[Path]:
    """Remove ``.partial`` folders that our own naming says belong to ``path`` and no live run owns."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = _partial_pattern(path)
    removed = []
    for p in path.parent.iterdir():
        if p.is_dir() and not p.is_symlink() and pattern.fullmatch(p.name) and not _owner_alive(p):
            shutil.rmtree(p, ignore_errors=True)
            log.info("removed %s, left by an interrupted run", p)
            removed.append(p)
    return removed


def _owner_alive(folder: Path) -> bool:
    try:
        host, pid = (folder / OWNER_FILE).read_text().split()
        pid_number = int(pid)
    except (OSError, ValueError):
        return False  # no owner: a replaced old folder or a run killed before it wrote one
    if host != socket.gethostname():
        return True  # another machine's run (shared file system): cannot tell, leave it
    if pid_number == os.getpid():
        return False
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
