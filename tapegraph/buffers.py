"""Arrays reused from one training step to the next, so a step does not page-fault its working set back in.

A step allocates the same large arrays every time (activations, im2col columns, gradients). With glibc's default
malloc thresholds each one above the mmap threshold is a fresh ``mmap`` whose pages fault in on first touch and
are unmapped on free: up to a third of a small CNN's step (PERF-NOTES). The hot ops take their large outputs and
scratch arrays from ``empty(shape, dtype)`` instead of ``np.empty``: a view of a raw byte block from a pool, the
smallest free block that holds the request (at most ``SLACK`` times its size), else a new block. A block is
free when the pool holds the only reference to it: a NumPy view keeps its base alive, so a Tensor, a tape record,
a saved array or a user's variable that still reaches any array carved from the block keeps it busy. Blocks are
matched by size, not shape, so a step's transient scratch is reused by its later arrays as malloc would, and the
resident peak stays that of an unpooled step. From the second step on, a steady loop allocates nothing large.

The contents of an array from ``empty`` are stale: callers overwrite every element (``out=``, ``copyto``) or
call ``zeros``. Requests under ``MIN_BYTES`` come from NumPy (malloc serves those without page faults). The pool
holds at most ``MAX_BYTES``; past that, arrays come fresh and are not kept. ``clear()`` forgets every block (those
in use live on with their holders); ``TAPEGRAPH_BUFFER_POOL=0`` in the environment turns pooling off.
"""
from __future__ import annotations

import bisect
import os
import sys
import threading

import numpy as np

from .threads import memory_order

MIN_BYTES = 1 << 17                  # glibc's default mmap threshold: smaller blocks come from the heap
SLACK = float("inf")                 # a request takes a free block of at most SLACK times its size (measured: any
                                     # size beats 2x, MNIST CNN predict at batch 256 peaks 144 vs 161 MB)
MAX_BYTES = 1 << 30

enabled = os.environ.get("TAPEGRAPH_BUFFER_POOL", "1") != "0"
_sizes: list = []                    # block sizes, ascending
_blocks: list = []                   # uint8 blocks, in the order of _sizes
_lock = threading.Lock()
_getrefcount = sys.getrefcount


def _find_free(blocks, start, limit, free_refs):
    for i in range(start, len(blocks)):
        blk = blocks[i]
        if blk.nbytes > limit:
            return None
        if _getrefcount(blk) == free_refs:
            return blk
    return None


def _calibrate() -> int:
    """References a free block shows inside ``_find_free`` (the list's, the local's, the call's): measured, not
    assumed, since interpreters differ in how they hold locals."""
    return _find_free_count([np.empty(8, np.uint8)])


def _find_free_count(blocks):
    blk = blocks[0]
    return _getrefcount(blk)


_FREE_REFS = _calibrate()


def empty(shape, dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape``/``dtype``, carved from a free pooled block if one fits."""
    dtype = np.dtype(dtype)
    if type(shape) is not tuple:       # (tuple(generator) would leave tracemalloc-visible tuples behind)
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple([int(v) for v in shape])
    nbytes = dtype.itemsize
    for v in shape:
        nbytes *= v
    if not enabled or nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        i = bisect.bisect_left(_sizes, nbytes)
        blk = _find_free(_blocks, i, SLACK * nbytes, _FREE_REFS)
        if blk is None:
            size = -(-nbytes // 4096) * 4096
            blk = np.empty(size, np.uint8)
            if sum(_sizes) + size <= MAX_BYTES:
                j = bisect.bisect_right(_sizes, size)
                _sizes.insert(j, size)
                _blocks.insert(j, blk)
        return blk[:nbytes].view(dtype).reshape(shape)


def zeros(shape, dtype=np.float32) -> np.ndarray:
    a = empty(shape, dtype)
    a.fill(0)
    return a


def empty_in_order_of(like: np.ndarray, shape, dtype, zero: bool = False) -> np.ndarray:
    """An array of ``shape`` whose axes lie in memory in the order of ``like``'s (a conv output is (N, C, H, W)
    over (C, H, W, N) memory), so gradients keep the layout of the activations and the ops before need no copies."""
    order = memory_order(like)                                               # outermost axis first
    buf = (zeros if zero else empty)([shape[ax] for ax in order], dtype)
    inverse = [0] * len(order)
    for i, ax in enumerate(order):
        inverse[ax] = i
    return buf.transpose(inverse)


def clear():
    """Forget every pooled block (blocks still in use stay alive with their holders)."""
    with _lock:
        _sizes.clear()
        _blocks.clear()


def stats() -> dict:
    """{"blocks": pooled blocks, "bytes": their total size}."""
    with _lock:
        return {"blocks": len(_blocks), "bytes": sum(_sizes)}
