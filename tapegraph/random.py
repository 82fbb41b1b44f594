"""The random generators: initialisation, shuffling and dropout draw from them, so ``manual_seed`` makes a run
repeatable bit for bit.

Each thread has its own generator, so two threads training two models do not interleave draws from one stream (which
made their weights depend on thread scheduling). The thread that calls ``manual_seed(seed)`` gets
``default_rng(seed)``; any other thread, on its first draw, gets a stream derived from that seed and the thread's
*name* (``threading.Thread(name=...)``; default names number threads in creation order), so the same program gives
the same weights in every thread on every run. For full control pass ``rng=`` (a Generator or a seed) to the layer,
``fit`` or op.
"""
from __future__ import annotations

import threading
import zlib

import numpy as np

_rng = np.random.default_rng()          # the generator of the thread that last called manual_seed (or import's)
_seed = None                            # the last manual_seed (None: fresh entropy for every thread)
_epoch = 0                              # bumped by manual_seed: other threads' streams are derived again
_owner = threading.get_ident()
_local = threading.local()


def _check_seed(seed, who="manual_seed"):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"{who}: seed must be a non-negative int, got {seed!r}")
    return int(seed)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the calling thread's generator (and the seed other threads derive theirs from); returns it."""
    global _rng, _seed, _epoch, _owner
    seed = _check_seed(seed)
    _rng = np.random.default_rng(seed)
    _seed, _owner = seed, threading.get_ident()
    _epoch += 1
    _local.gen, _local.epoch = _rng, _epoch
    return _rng


def _thread_rng() -> np.random.Generator:
    if getattr(_local, "epoch", None) == _epoch:
        return _local.gen
    if threading.get_ident() == _owner:
        gen = _rng
    elif _seed is None:
        gen = np.random.default_rng()
    else:
        name = threading.current_thread().name
        gen = np.random.default_rng([_seed, zlib.crc32(name.encode("utf-8", "replace"))])
    _local.gen, _local.epoch = gen, _epoch
    return gen


def get_rng(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """``rng`` if given (a Generator or a seed), else the calling thread's generator."""
    if rng is None:
        return _thread_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(_check_seed(rng, "rng"))
