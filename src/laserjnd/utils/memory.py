"""Keep freed heap memory for reuse (glibc), so large activations do not page-fault on every call.

glibc serves blocks above 32 MB with a fresh ``mmap`` and unmaps them on ``free``: a 352x640 batch of
4 allocates ~120 MB per conv output, and touching those new pages cost about 20 % of a LASeR-JND
forward pass on the CPU (lat, batch 4: 106 -> 86 ms/frame fp32, 54 -> 44 bf16). With mmap off and
a high trim threshold, freed blocks stay in the heap and the next call reuses them (what
TensorFlow's own allocator does). The process keeps its peak heap; ``LASERJND_KEEP_MEMORY=0``
leaves the allocator alone. A no-op outside glibc.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: keep up to 2 GB of freed memory at the heap top


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory instead of returning it; True when it agreed."""
    if os.environ.get("LASERJND_KEEP_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
