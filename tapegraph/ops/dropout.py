"""Inverted dropout: kept values are scaled by 1 / (1 - rate) in training, so eval mode is the identity."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from ..function import Function, op_error
from ..random import get_rng


class Dropout(Function):
    """Inputs ``x`` and a boolean keep-mask of the same shape (not differentiated)."""
    name = "dropout"
    nondiff_inputs = (1,)

    @staticmethod
    def forward(ctx, x, keep, *, rate):
        if keep.shape != x.shape or keep.dtype != np.bool_:
            raise op_error("dropout", "mask must be a boolean array of the input's shape", x, keep)
        ctx.scale = scale = x.dtype.type(1 / (1 - rate))
        out = x * keep
        out *= scale
        ctx.save_for_backward(keep)
        return out

    @staticmethod
    def backward(ctx, grad):
        g = grad * ctx.saved[0]
        g *= ctx.scale
        return g, None


def check_rate(rate, who="dropout"):
    """``rate`` as a float in [0, 1), else ValueError naming ``who``."""
    if isinstance(rate, (str, bytes, bool, np.bool_)) or np.ndim(rate) != 0:
        raise TypeError(f"{who}: rate must be a number in [0, 1), got {rate!r}")
    try:
        r = float(rate)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: rate must be a number in [0, 1), got {type(rate).__name__}") from None
    if not 0 <= r < 1:
        raise ValueError(f"{who}: rate must be in [0, 1), got {rate}")
    return r


def dropout(x, rate, training=True, rng=None, mask=None):
    """Zero each element with probability ``rate`` and scale the rest by 1 / (1 - rate).

    The keep-mask is drawn from ``tapegraph.random.get_rng(rng)`` unless ``mask`` (boolean, True = keep) is given.
    Returns ``x`` itself when ``training`` is False or ``rate`` is 0.
    """
    rate = check_rate(rate)
    if not training or rate == 0:
        return x
    if mask is None:
        shape = np.shape(x.data if hasattr(x, "data") else x)
        mask = get_rng(rng).random(shape, dtype=np.float32) >= rate
    if not isinstance(mask, Tensor):
        mask = Tensor(mask, name="keep mask")                  # labelled in graphs and JSON
    return Dropout.apply(x, mask, rate=rate)
