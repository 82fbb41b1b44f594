"""Mini-batches of numpy arrays: a one-pass generator and a re-iterable loader with ``len()``."""
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


def _iterate(x, y, bs, order, drop_last):
    n = len(x)
    stop = n - n % bs if drop_last else n
    for i in range(0, stop, bs):
        if order is None:
            yield x[i:i + bs], y[i:i + bs]
        else:
            idx = order[i:i + bs]
            yield x[idx], y[idx]


def batches(x, y, batch_size, shuffle=True, seed=None, drop_last=False):
    """Yield ``(xb, yb)`` batches covering every sample once (the last one smaller unless ``drop_last``).

    Shuffles with ``tapegraph.random.get_rng(seed)``: the global generator when ``seed`` is None, so
    ``tg.manual_seed`` makes it repeatable. Unshuffled batches are views of ``x`` and ``y``; shuffled ones copies.
    Arguments are checked at the call, not at the first ``next()``.
    """
    x, y, bs = _check(x, y, batch_size, "batches")
    order = get_rng(seed).permutation(len(x)) if shuffle else None
    return _iterate(x, y, bs, order, drop_last)


class DataLoader:
    """Re-iterable batches: every ``for xb, yb in loader`` is one epoch, freshly shuffled.

    ``seed`` fixes the sequence of epochs (one generator drawn from for all of them); ``transform`` is applied
    to each ``xb`` (e.g. ``Compose([to_float, random_flip])``). ``len(loader)`` is the number of batches.
    """

    def __init__(self, x, y, batch_size, shuffle=True, seed=None, drop_last=False, transform=None):
        self.x, self.y, self.batch_size = _check(x, y, batch_size, "DataLoader")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {type(transform).__name__}")
        self.shuffle, self.drop_last, self.transform = bool(shuffle), bool(drop_last), transform
        self._rng = None if seed is None else get_rng(seed)

    def __len__(self):
        n, bs = len(self.x), self.batch_size
        return n // bs if self.drop_last else -(-n // bs)

    def __iter__(self):
        order = get_rng(self._rng).permutation(len(self.x)) if self.shuffle else None
        for xb, yb in _iterate(self.x, self.y, self.batch_size, order, self.drop_last):
            yield (xb if self.transform is None else self.transform(xb)), yb

    def __repr__(self):
        return (f"DataLoader({len(self.x)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, {len(self)} batches)")
