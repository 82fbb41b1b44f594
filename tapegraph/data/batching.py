"""Mini-batches of numpy arrays: a one-pass generator and a re-iterable loader with ``len()``.

Sharding for data-parallel training (``shard=(rank, size)``, or ``"auto"`` for the MPI world of
``tapegraph.distributed``): every epoch, every rank draws the SAME permutation of the n samples and keeps the
contiguous slice ``order[rank*m:(rank+1)*m]`` with ``m = n // size``, then batches it. The slices are disjoint,
every rank has the same number of samples and batches, and the last ``n % size`` samples of each epoch's
permutation are dropped (different ones each epoch when shuffling). Shuffled sharding needs the same permutation on
every rank: give ``seed`` (with ``shard="auto"`` and no seed, one is drawn on rank 0 and broadcast, so the loader
must then be created on every rank).
"""
from __future__ import annotations

import operator

import numpy as np

from ..random import get_rng


def _check(x, y, batch_size, who):
    x, y = np.asarray(x), np.asarray(y)
    try:
        bs = operator.index(batch_size)
    except TypeError:
        raise TypeError(f"{who}: batch_size must be an int, got {type(batch_size).__name__}") from None
    if bs <= 0:
        raise ValueError(f"{who}: batch_size must be positive, got {bs}")
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{who}: x and y need a leading sample axis, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{who}: x has {len(x)} samples (shape {x.shape}) but y has {len(y)} (shape {y.shape})")
    return x, y, bs


def _resolve_shard(shard, who):
    """None (no sharding) or (rank, size) for a ``shard`` argument: None, "auto" or a (rank, size) pair."""
    if shard is None:
        return None
    if isinstance(shard, str):
        if shard != "auto":
            raise ValueError(f"{who}: shard must be None, 'auto' or (rank, size), got {shard!r}")
        from .. import distributed
        n = distributed.size()
        return None if n == 1 else (distributed.rank(), n)
    try:
        r, n = (operator.index(v) for v in shard)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: shard must be None, 'auto' or a (rank, size) pair of ints, got {shard!r}") from None
    if n <= 0 or not 0 <= r < n:
        raise ValueError(f"{who}: shard=(rank, size) needs size >= 1 and 0 <= rank < size, got {(r, n)}")
    return None if n == 1 else (r, n)


def _shard_order(order, rank, size):
    m = len(order) // size
    return order[rank * m:(rank + 1) * m]


def _sharded_seed(seed, shuffle):
    """Seed for shuffling under shard="auto": the given one, else one drawn on rank 0 and shared by all ranks."""
    if not shuffle or seed is not None:
        return seed
    from .. import distributed
    if distributed.size() > 1:
        return distributed.shared_seed()
    return seed


def _iterate(x, y, bs, order, drop_last):
    n = len(x) if order is None else len(order)
    stop = n - n % bs if drop_last else n
    for i in range(0, stop, bs):
        if order is None:
            yield x[i:i + bs], y[i:i + bs]
        else:
            idx = order[i:i + bs]
            yield x[idx], y[idx]


def batches(x, y, batch_size, shuffle=True, seed=None, drop_last=False, shard=None):
    """Yield ``(xb, yb)`` batches covering every sample once (the last one smaller unless ``drop_last``).

    Shuffles with ``tapegraph.random.get_rng(seed)``: the global generator when ``seed`` is None, so
    ``tg.manual_seed`` makes it repeatable. Unshuffled batches are views of ``x`` and ``y``; shuffled ones copies.
    ``shard``: None, ``(rank, size)`` or ``"auto"``: this rank's slice only (module docstring).
    Arguments are checked at the call, not at the first ``next()``.
    """
    x, y, bs = _check(x, y, batch_size, "batches")
    sh = _resolve_shard(shard, "batches")
    if sh is not None and shard == "auto":
        seed = _sharded_seed(seed, shuffle)
    order = get_rng(seed).permutation(len(x)) if shuffle else None
    if sh is not None:
        order = _shard_order(np.arange(len(x)) if order is None else order, *sh)
        if not shuffle:                       # a contiguous block: keep the batches views
            lo = sh[0] * len(order)
            return _iterate(x[lo:lo + len(order)], y[lo:lo + len(order)], bs, None, drop_last)
    return _iterate(x, y, bs, order, drop_last)


class DataLoader:
    """Re-iterable batches: every ``for xb, yb in loader`` is one epoch, freshly shuffled.

    ``seed`` fixes the sequence of epochs (one generator drawn from for all of them); ``transform`` is applied
    to each ``xb`` (e.g. ``Compose([to_float, random_flip])``). ``len(loader)`` is the number of batches (of this
    rank's shard when ``shard`` is given: None, ``(rank, size)`` or ``"auto"``, see the module docstring).
    """

    def __init__(self, x, y, batch_size, shuffle=True, seed=None, drop_last=False, transform=None, shard=None):
        self.x, self.y, self.batch_size = _check(x, y, batch_size, "DataLoader")
        self.shard = _resolve_shard(shard, "DataLoader")
        if self.shard is not None and shard == "auto":
            seed = _sharded_seed(seed, shuffle)
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {type(transform).__name__}")
        self.shuffle, self.drop_last, self.transform = bool(shuffle), bool(drop_last), transform
        self._rng = None if seed is None else get_rng(seed)

    def __len__(self):
        n, bs = len(self.x), self.batch_size
        if self.shard is not None:
            n //= self.shard[1]
        return n // bs if self.drop_last else -(-n // bs)

    def __iter__(self):
        order = get_rng(self._rng).permutation(len(self.x)) if self.shuffle else None
        x, y = self.x, self.y
        if self.shard is not None:
            if order is None:                 # a contiguous block: keep the batches views
                m = len(x) // self.shard[1]
                x, y = x[self.shard[0] * m:(self.shard[0] + 1) * m], y[self.shard[0] * m:(self.shard[0] + 1) * m]
            else:
                order = _shard_order(order, *self.shard)
        for xb, yb in _iterate(x, y, self.batch_size, order, self.drop_last):
            yield (xb if self.transform is None else self.transform(xb)), yb

    def __repr__(self):
        shard = "" if self.shard is None else f", shard={self.shard}"
        return (f"DataLoader({len(self.x)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}{shard}, {len(self)} batches)")
