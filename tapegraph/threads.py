"""Blocked loops for the elementwise and pooling passes NumPy runs without BLAS, spread over a few threads.

NumPy releases the GIL inside its ufunc loops, so the passes of pooling, activations and col2im run in parallel
when each thread takes its own part of the arrays. ``for_blocks(fn, n, per_item)`` calls ``fn(lo, hi)`` over
consecutive spans of ``range(n)`` (an axis of the arrays, outermost in memory) of at most ``BLOCK_ELEMS``
elements, shared out in contiguous runs to ``THREADS`` threads. ``fn`` must write disjoint slices for distinct
spans and allocate nothing large. Cache-sized spans (64K-1M elements, so that a span's arrays stay in cache across
a pass's ufuncs) were measured and not kept: 2-7% slower whole steps on one thread (MNIST CNN, LeNet-5, the
transposed-conv decoder), 5% faster only for MNIST CNN inference; so by default each thread takes one span.

``THREADS``: ``TAPEGRAPH_NUM_THREADS``, else ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` (the BLAS's budget),
else the CPUs this process may use, at most 4. Set it to 1 to run everything on the calling thread.

These threads share the cores with OpenBLAS's, which by default spin for ~0.1 s after every GEMM before they
sleep: a spinning BLAS thread takes the core a pass's second thread needs. ``OPENBLAS_THREAD_TIMEOUT=4`` in the
environment before numpy is imported makes them sleep at once (MNIST CNN step at batch 64 on 2 cores: 26 -> 21 ms;
README "Performance"); OpenBLAS reads it only when it loads, so tapegraph cannot set it for you.
"""
from __future__ import annotations

import os
import threading

BLOCK_ELEMS = 1 << 62                # no cache blocking by default (see above)
MIN_PARALLEL_ELEMS = 1 << 17         # below this a pass runs on the calling thread (a hand-off costs ~20-50 us)


def _default_threads() -> int:
    for var in ("TAPEGRAPH_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        v = os.environ.get(var, "")
        if v.isdigit() and int(v) > 0:
            return int(v)
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, 4))


THREADS = _default_threads()
_executor = None
_lock = threading.Lock()


def _pool():
    global _executor
    with _lock:
        if _executor is None:
            from concurrent.futures import ThreadPoolExecutor
            _executor = ThreadPoolExecutor(THREADS - 1, thread_name_prefix="tapegraph")
    return _executor


def memory_order(a) -> tuple:
    """Axes of ``a`` from outermost to innermost in memory (a conv output (N, C, H, W) over (C, H, W, N) memory
    gives (1, 2, 3, 0)); ``a.transpose(memory_order(a))`` walks memory in order."""
    return tuple(sorted(range(a.ndim), key=lambda ax: -abs(a.strides[ax])))


def for_blocks(fn, n: int, per_item: int) -> None:
    """``fn(lo, hi)`` for spans covering ``range(n)``, each about BLOCK_ELEMS elements (``per_item`` elements per
    index), in contiguous runs on up to THREADS threads; returns when all are done, re-raising the first error."""
    step = max(1, min(BLOCK_ELEMS // max(per_item, 1), -(-n // THREADS)))      # at least one span per thread
    spans = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    threads = min(THREADS, len(spans))
    if threads < 2 or n * per_item < MIN_PARALLEL_ELEMS:
        for lo, hi in spans:
            fn(lo, hi)
        return

    def run(part):
        for lo, hi in part:
            fn(lo, hi)

    cut = [len(spans) * t // threads for t in range(threads + 1)]
    parts = [spans[cut[t]:cut[t + 1]] for t in range(threads)]
    futures = [_pool().submit(run, p) for p in parts[1:]]
    try:
        run(parts[0])
    finally:
        for f in futures:
            f.result()


def map_blocks(fn, *arrays, order=None) -> None:
    """``fn(*parts)`` over matching blocks of same-shaped ``arrays``, split along the axis outermost in the first
    array's memory (or ``order[0]``, ``order`` a full axis order); see ``for_blocks``."""
    first = arrays[0]
    if first.ndim == 0 or first.size == 0:
        fn(*arrays)
        return
    order = memory_order(first) if order is None else order
    ts = [a.transpose(order) for a in arrays]
    n = ts[0].shape[0]
    for_blocks(lambda lo, hi: fn(*[t[lo:hi] for t in ts]), n, first.size // n)
