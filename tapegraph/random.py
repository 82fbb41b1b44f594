"""The global random generator: initialisation, shuffling and dropout draw from it, so ``manual_seed`` makes a run
repeatable bit for bit."""
from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator; returns it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """``rng`` if given (a Generator or a seed), else the global generator."""
    if rng is None:
        return _rng
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
