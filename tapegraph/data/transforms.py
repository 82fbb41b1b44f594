"""Pixel scaling, per-channel standardisation and vectorised augmentation of NCHW numpy batches."""
from __future__ import annotations

import operator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ops.reduce import _norm_axis
from ..random import get_rng

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float_dtype(dtype, who: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _FLOATS:
        raise TypeError(f"{who}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def to_float(x, dtype=np.float32) -> np.ndarray:
    """uint8 pixels (0..255) -> ``dtype`` (float32 by default) in [0, 1]; a new array."""
    x = np.asarray(x)
    dt = _float_dtype(dtype, "to_float")
    if x.dtype != np.uint8:
        raise TypeError(f"to_float: expected uint8 pixels (0..255), got {x.dtype} with shape {x.shape}")
    return np.divide(x, dt.type(255), dtype=dt)


def _as_stat(value, keep_shape, reduced_shape, dtype, name):
    v = np.asarray(value, dtype=dtype)
    if v.ndim == 0 or v.shape == keep_shape:
        return v
    if v.shape == reduced_shape:
        return v.reshape(keep_shape)
    raise ValueError(f"standardize: {name} has shape {v.shape}; expected a scalar, {reduced_shape} or {keep_shape}")


def standardize(x, mean=None, std=None, axis=(0, 2, 3)):
    """``(x - mean) / std`` with statistics over ``axis`` (per channel of NCHW by default).

    uint8 input is first scaled to [0, 1] (float32), so statistics are on that scale (see ``MNIST_MEAN``); float
    input keeps float32/float64. ``mean``/``std`` not given are computed from ``x`` (float64 accumulation); a zero
    std counts as 1. Returns ``(x_norm, mean, std)``, the statistics with the ``axis`` dimensions removed (shape
    ``(C,)`` by default), ready to pass back in for a test set.
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        out = to_float(x)
    elif x.dtype.kind == "f":
        out = x.astype(x.dtype if x.dtype in _FLOATS else np.float32, copy=True)
    else:
        raise TypeError(f"standardize: expected uint8 or float data, got {x.dtype} with shape {x.shape}")
    axes = _norm_axis(axis, x.ndim, "standardize")
    keep = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
    reduced = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    if mean is None:
        m = out.mean(axis=axes, dtype=np.float64, keepdims=True).astype(out.dtype)
    else:
        m = _as_stat(mean, keep, reduced, out.dtype, "mean")
    out -= m
    if std is None:
        var = np.mean(np.square(out), axis=axes, dtype=np.float64, keepdims=True)
        if mean is not None:  # centred on a given mean: remove the offset of the data's own mean
            var -= np.square(out.mean(axis=axes, dtype=np.float64, keepdims=True))
        s = np.sqrt(np.maximum(var, 0.0)).astype(out.dtype)
        s[s == 0] = 1
    else:
        s = _as_stat(std, keep, reduced, out.dtype, "std")
        if np.any(s <= 0):
            raise ValueError(f"standardize: std must be positive, got {s.reshape(-1)[:8]}")
    out /= s
    ret = [v.reshape(reduced) if v.shape == keep else v for v in (m, s)]
    return out, ret[0], ret[1]


def _pair(v, who: str, name: str) -> tuple[int, int]:
    try:
        pair = (operator.index(v),) * 2 if np.ndim(v) == 0 else tuple(operator.index(i) for i in v)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise TypeError(f"{who}: {name} must be an int or a pair of ints, got {v!r}")
    return pair


def _check_batch(x, who: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{who}: expected an NCHW batch (4 dimensions), got shape {x.shape}")
    return x


def random_crop(x, size=32, padding=4, rng=None) -> np.ndarray:
    """Pad H and W of an NCHW batch with ``padding`` zeros and cut a random ``size`` window from each sample.

    ``size`` is an int or ``(height, width)``; ``rng`` a Generator, a seed, or None for the global generator
    (pass one Generator, not an int, to get a different crop every call). Returns a new array.
    """
    x = _check_batch(x, "random_crop")
    sh, sw = _pair(size, "random_crop", "size")
    p = operator.index(padding)
    n, _, h, w = x.shape
    if p < 0 or sh < 1 or sw < 1 or sh > h + 2 * p or sw > w + 2 * p:
        raise ValueError(f"random_crop: cannot cut {sh}x{sw} windows from {h}x{w} images padded by {padding}")
    rng = get_rng(rng)
    oy = rng.integers(0, h + 2 * p - sh + 1, n)
    ox = rng.integers(0, w + 2 * p - sw + 1, n)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    win = sliding_window_view(xp, (sh, sw), axis=(2, 3))  # (N, C, Hp-sh+1, Wp-sw+1, sh, sw), a view
    return win[np.arange(n), :, oy, ox]                   # (N, C, sh, sw): one window per sample


def random_flip(x, rng=None, p=0.5) -> np.ndarray:
    """Mirror each sample of an NCHW batch left-right with probability ``p``; returns a new array."""
    x = _check_batch(x, "random_flip")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"random_flip: p must be in [0, 1], got {p}")
    flip = get_rng(rng).random(x.shape[0]) < p
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


class Compose:
    """Chain transforms: ``Compose([to_float, random_flip])(x)`` applies them left to right."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {t!r}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        names = ", ".join(getattr(t, "__name__", repr(t)) for t in self.transforms)
        return f"Compose([{names}])"
