"""Arrays reused from one training step to the next, so a step does not page-fault its working set back in.

A step allocates the same large arrays every time (activations, im2col columns, gradients). With glibc's default
malloc thresholds each one above the mmap threshold is a fresh ``mmap`` whose pages fault in on first touch and
are unmapped on free: up to a third of a small CNN's step (PERF-NOTES). The hot ops take their large outputs and
scratch arrays from ``empty(shape, dtype)`` instead of ``np.empty``: a pool keyed by (shape, dtype) that hands
back an array nobody references any more. A pooled array is free when the pool's list holds the only reference
to it: a NumPy view keeps its base alive, so a Tensor, a tape record, a saved array or a user's variable that
still reaches the array (or any view of it) keeps it busy. The tape knows every shape after the first step, so
from the second step on a steady loop allocates nothing large.

The contents of an array from ``empty`` are stale: callers overwrite every element (``out=``, ``copyto``) or
call ``zeros``. Arrays under ``MIN_BYTES`` come from NumPy (malloc serves those without page faults). The pool
keeps at most ``MAX_PER_KEY`` arrays per key and ``MAX_BYTES`` in all; past that, arrays come fresh and are
not kept. ``clear()`` frees every pooled array nobody holds; ``TAPEGRAPH_BUFFER_POOL=0`` in the environment turns
pooling off (every call allocates, as ``np.empty`` does). The price is a resident size that stays at the step's
peak between steps, like the malloc thresholds ``tapegraph.allocator.tune()`` raises.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 17                  # glibc's default mmap threshold: smaller blocks come from the heap
MAX_PER_KEY = 8
MAX_BYTES = 1 << 30

enabled = os.environ.get("TAPEGRAPH_BUFFER_POOL", "1") != "0"
_pool: dict = {}
_lock = threading.Lock()
_held = [0]                          # bytes held by the pool
_getrefcount = sys.getrefcount


def _find_free(arrays, free_refs):
    for a in arrays:
        if _getrefcount(a) == free_refs:
            return a
    return None


def _calibrate() -> int:
    """References a free pooled array shows inside ``_find_free`` (the list's, the loop's, the call's): measured,
    not assumed, since interpreters differ in how loops hold their items."""
    probe = [np.empty(1)]
    counts = []
    for a in probe:
        counts.append(_getrefcount(a))
    return counts[0]


_FREE_REFS = _calibrate()


def empty(shape, dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape``/``dtype``, reused from the pool when one is free."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape) if not isinstance(shape, (int, np.integer)) else (int(shape),)
    nbytes = dtype.itemsize
    for s in shape:
        nbytes *= s
    if not enabled or nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    key = (shape, dtype)
    with _lock:
        arrays = _pool.get(key)
        if arrays is None:
            arrays = _pool[key] = []
        else:
            a = _find_free(arrays, _FREE_REFS)
            if a is not None:
                return a
        a = np.empty(shape, dtype)
        if len(arrays) < MAX_PER_KEY and _held[0] + nbytes <= MAX_BYTES:
            arrays.append(a)
            _held[0] += nbytes
        return a


def zeros(shape, dtype=np.float32) -> np.ndarray:
    a = empty(shape, dtype)
    a.fill(0)
    return a


def empty_in_order_of(like: np.ndarray, shape, dtype, zero: bool = False) -> np.ndarray:
    """An array of ``shape`` whose axes lie in memory in the order of ``like``'s (a conv output is (N, C, H, W)
    over (C, N, H, W) memory), so gradients keep the layout of the activations and the ops before need no copies."""
    order = sorted(range(like.ndim), key=lambda ax: -like.strides[ax])       # outermost axis first
    buf = (zeros if zero else empty)([shape[ax] for ax in order], dtype)
    return buf.transpose(np.argsort(order))


def clear():
    """Forget every pooled array that nobody holds (those still in use stay alive with their holders)."""
    with _lock:
        _pool.clear()
        _held[0] = 0


def stats() -> dict:
    """{"arrays": pooled arrays, "bytes": their total size, "keys": distinct (shape, dtype)}."""
    with _lock:
        return {"arrays": sum(len(v) for v in _pool.values()), "bytes": _held[0], "keys": len(_pool)}
