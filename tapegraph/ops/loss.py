"""Losses as fused ops: each is one record on the tape with a stable forward and a closed-form backward.

All return the mean over the batch. Probabilities are clipped to [EPSILON, 1 - EPSILON] (as Keras) so that inputs of
exactly 0 or 1 give finite values; the gradient is zero where clipping was active.
"""
from __future__ import annotations

import numpy as np

from ..function import Function, op_error
from .activation import _log_softmax, _sigmoid

EPSILON = 1e-7


class MeanSquaredError(Function):
    name = "mean_squared_error"

    @staticmethod
    def forward(ctx, pred, target):
        if pred.shape != target.shape:
            raise op_error("mean_squared_error", "pred and target must have the same shape", pred, target)
        if pred.size == 0:
            raise op_error("mean_squared_error", "empty batch", pred)
        diff = pred - target
        ctx.save_for_backward(diff)
        return np.asarray(np.vdot(diff, diff) / diff.size, dtype=pred.dtype)

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved
        g = diff * (grad * diff.dtype.type(2.0 / diff.size))
        return g, (-g if ctx.needs_input_grad[1] else None)


def _clip_probabilities(pred):
    """pred clipped to [EPSILON, 1 - EPSILON], and where it was inside (the gradient is zero elsewhere)."""
    return np.clip(pred, EPSILON, 1 - EPSILON), (pred >= EPSILON) & (pred <= 1 - EPSILON)


def _check_probability_target(op, pred, target):
    if target.shape != pred.shape:
        raise op_error(op, "target must have the same shape as pred", pred, target)
    if target.dtype.kind == "f" and np.isnan(target).any():
        raise op_error(op, "target contains NaN", target)


class BinaryCrossentropy(Function):
    name = "binary_crossentropy"
    nondiff_inputs = (1,)

    @staticmethod
    def forward(ctx, pred, target, *, from_logits):
        _check_probability_target("binary_crossentropy", pred, target)
        if pred.size == 0:
            raise op_error("binary_crossentropy", "empty batch", pred)
        t = target.astype(pred.dtype, copy=False)
        n = pred.size
        if from_logits:
            # max(x, 0) - x t + log(1 + exp(-|x|)): never overflows.
            loss = np.maximum(pred, 0) - pred * t + np.log1p(np.exp(-np.abs(pred)))
            ctx.save_for_backward(pred, t)
        else:
            p, inside = _clip_probabilities(pred)
            loss = -(t * np.log(p) + (1 - t) * np.log1p(-p))
            ctx.save_for_backward(p, t, inside)
        return np.asarray(loss.sum() / n, dtype=pred.dtype)

    @staticmethod
    def backward(ctx, grad):
        scale = grad / ctx.saved[0].size
        if ctx.attrs["from_logits"]:
            x, t = ctx.saved
            return (_sigmoid(x) - t) * scale, None
        p, t, inside = ctx.saved
        return ((p - t) / (p * (1 - p)) * inside) * scale, None


class CategoricalCrossentropy(Function):
    """Cross-entropy over axis 1 of (N, C) predictions; target is int labels (N,) or probabilities (N, C)."""
    name = "categorical_crossentropy"
    nondiff_inputs = (1,)

    @staticmethod
    def forward(ctx, pred, target, *, from_logits):
        op = "categorical_crossentropy"
        if pred.ndim != 2:
            raise op_error(op, "pred must be (batch, classes)", pred)
        n, c = pred.shape
        if n == 0:
            raise op_error(op, "empty batch", pred)
        if target.dtype.kind in "iu":
            if target.shape != (n,):
                raise op_error(op, f"integer labels must have shape ({n},)", pred, target)
            if target.size and (target.min() < 0 or target.max() >= c):
                raise op_error(op, f"labels must lie in [0, {c}), got range [{target.min()}, {target.max()}]",
                               pred, target)
        elif target.dtype.kind == "f":
            _check_probability_target(op, pred, target)
        else:
            raise TypeError(f"{op}: target must be integer labels or float probabilities, got dtype {target.dtype}")
        rows = np.arange(n)
        if from_logits:
            logp = _log_softmax(pred, axis=1)
            ctx.save_for_backward(logp, target)
            picked = logp[rows, target] if target.dtype.kind in "iu" else (logp * target).sum(axis=1)
        else:
            p, inside = _clip_probabilities(pred)
            ctx.save_for_backward(p, target, inside)
            picked = np.log(p[rows, target]) if target.dtype.kind in "iu" else (np.log(p) * target).sum(axis=1)
        return np.asarray(-picked.sum() / n, dtype=pred.dtype)

    @staticmethod
    def backward(ctx, grad):
        first, target = ctx.saved[0], ctx.saved[1]
        n = first.shape[0]
        scale = grad / n
        labels = target.dtype.kind in "iu"
        if ctx.attrs["from_logits"]:
            g = np.exp(first)                               # softmax(pred)
            if labels:
                g[np.arange(n), target] -= 1
            else:
                g = g * target.sum(axis=1, keepdims=True) - target
            return g * scale, None
        p, inside = first, ctx.saved[2]
        if labels:
            g = np.zeros_like(p)
            rows = np.arange(n)
            g[rows, target] = -1 / p[rows, target]
        else:
            g = -target.astype(p.dtype, copy=False) / p
        return g * inside * scale, None


def mean_squared_error(pred, target):
    return MeanSquaredError.apply(pred, target)


def binary_crossentropy(pred, target, from_logits=False):
    return BinaryCrossentropy.apply(pred, target, from_logits=from_logits)


def categorical_crossentropy(pred, target, from_logits=False):
    return CategoricalCrossentropy.apply(pred, target, from_logits=from_logits)


# Short aliases (Keras spells these too).
mse = mean_squared_error
