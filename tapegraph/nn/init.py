"""Weight initialisers. Each takes ``(shape, fan_in, fan_out, rng=None, dtype=np.float32)`` and returns an ndarray
drawn from ``tapegraph.random.get_rng(rng)`` directly in ``dtype`` (no float64 intermediate for float32).

The *_normal variants are plain (untruncated) normals with the named variance, as PyTorch's kaiming/xavier normal.
"""
from __future__ import annotations

import math

import numpy as np

from ..random import get_rng


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a Dense weight (in, out) or a conv weight (out, in, kh, kw)."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    if len(shape) >= 3:
        field = int(np.prod(shape[2:]))
        return int(shape[1]) * field, int(shape[0]) * field
    n = int(shape[0]) if shape else 1
    return n, n


def _uniform(shape, limit, rng, dtype):
    out = get_rng(rng).random(shape, dtype=dtype)
    out *= dtype.type(2 * limit)
    out -= dtype.type(limit)
    return out


def _normal(shape, std, rng, dtype):
    out = get_rng(rng).standard_normal(shape, dtype=dtype)
    out *= dtype.type(std)
    return out


def he_uniform(shape, fan_in, fan_out, rng=None, dtype=np.float32):
    """U(-sqrt(6 / fan_in), sqrt(6 / fan_in))."""
    return _uniform(shape, math.sqrt(6.0 / max(fan_in, 1)), rng, np.dtype(dtype))


def he_normal(shape, fan_in, fan_out, rng=None, dtype=np.float32):
    """N(0, 2 / fan_in)."""
    return _normal(shape, math.sqrt(2.0 / max(fan_in, 1)), rng, np.dtype(dtype))


def glorot_uniform(shape, fan_in, fan_out, rng=None, dtype=np.float32):
    """U(-sqrt(6 / (fan_in + fan_out)), sqrt(6 / (fan_in + fan_out)))."""
    return _uniform(shape, math.sqrt(6.0 / max(fan_in + fan_out, 1)), rng, np.dtype(dtype))


def glorot_normal(shape, fan_in, fan_out, rng=None, dtype=np.float32):
    """N(0, 2 / (fan_in + fan_out))."""
    return _normal(shape, math.sqrt(2.0 / max(fan_in + fan_out, 1)), rng, np.dtype(dtype))


def zeros(shape, fan_in=0, fan_out=0, rng=None, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def ones(shape, fan_in=0, fan_out=0, rng=None, dtype=np.float32):
    return np.ones(shape, dtype=dtype)


INITIALIZERS = {f.__name__: f for f in (he_uniform, he_normal, glorot_uniform, glorot_normal, zeros, ones)}


def get(init, who="initializer"):
    """An initialiser by name, or a callable with the same signature, else ValueError naming ``who``."""
    if callable(init):
        return init
    try:
        return INITIALIZERS[init]
    except (KeyError, TypeError):
        raise ValueError(f"{who}: unknown initializer {init!r}; expected one of {sorted(INITIALIZERS)} "
                         f"or a callable(shape, fan_in, fan_out, rng, dtype)") from None
