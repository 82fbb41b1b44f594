"""Opt-in: keep freed blocks in the process instead of handing them back to the OS after every op.

glibc's malloc serves blocks above M_MMAP_THRESHOLD with fresh mmap()s and unmaps them on free, and trims the heap
top above M_TRIM_THRESHOLD, so a program that allocates and frees the same large arrays every step page-faults
them back in every step. ``tune()`` raises both thresholds for the whole process (glibc only; a no-op elsewhere).

tapegraph no longer needs it: the hot ops reuse their large arrays across steps themselves
(``tapegraph.buffers``), so ``import tapegraph`` leaves malloc alone. Call ``tapegraph.allocator.tune()`` (or set
``TAPEGRAPH_MALLOC_TUNING=1`` before the import) for other array-heavy code in the same process; it costs a
resident size that stays at the peak instead of shrinking.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20        # glibc's ceiling for this setting on 64-bit
TRIM_THRESHOLD = 256 << 20

tuned = False


def tune(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Raise glibc's mmap and trim thresholds; returns True when both settings took effect."""
    global tuned
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    tuned = tuned or ok
    return ok


def _tune_on_import():
    """Only when asked: TAPEGRAPH_MALLOC_TUNING=1 in the environment."""
    if os.environ.get("TAPEGRAPH_MALLOC_TUNING", "0") == "1":
        tune()
