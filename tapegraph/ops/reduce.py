"""Reductions over an axis (int, tuple or None) with keepdims."""
from __future__ import annotations

import numpy as np

from ..function import Function, op_error


def _norm_axis(axis, ndim, op):
    """Axis argument -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"{op}: axis {ax} is out of range for an input of {ndim} dimensions")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    """The reduced shape with keepdims=True, for broadcasting a gradient back."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    name = "sum"

    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        ctx.axes = axes = _norm_axis(axis, a.ndim, "sum")
        ctx.in_shape = a.shape
        return np.sum(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        g = grad.reshape(_kept_shape(ctx.in_shape, ctx.axes))
        return (np.broadcast_to(g, ctx.in_shape),)


class Mean(Function):
    name = "mean"

    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        ctx.axes = axes = _norm_axis(axis, a.ndim, "mean")
        ctx.in_shape = a.shape
        if a.size == 0:
            raise op_error("mean", "cannot average an empty array", a)
        return np.mean(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        count = 1
        for ax in ctx.axes:
            count *= ctx.in_shape[ax]
        g = grad.reshape(_kept_shape(ctx.in_shape, ctx.axes)) * grad.dtype.type(1.0 / count)
        return (np.broadcast_to(g, ctx.in_shape),)


class _Extreme(Function):
    """max/min: the gradient is shared evenly by all elements equal to the extreme (ties split)."""
    reducer = None

    @classmethod
    def forward(cls, ctx, a, *, axis, keepdims):
        axes = _norm_axis(axis, a.ndim, cls.name)
        if a.size == 0:
            raise op_error(cls.name, "cannot reduce an empty array", a)
        out = cls.reducer(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes = axes
        return out if keepdims else out.reshape([s for i, s in enumerate(out.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved
        mask = (a == out).astype(grad.dtype)
        mask /= mask.sum(axis=ctx.axes, keepdims=True)
        return (mask * grad.reshape(out.shape),)


class Max(_Extreme):
    name = "max"
    reducer = staticmethod(np.max)


class Min(_Extreme):
    name = "min"
    reducer = staticmethod(np.min)


class Var(Function):
    """Variance with ``ddof`` (0: population, as numpy)."""
    name = "var"

    @staticmethod
    def forward(ctx, a, *, axis, keepdims, ddof):
        axes = _norm_axis(axis, a.ndim, "var")
        count = 1
        for ax in axes:
            count *= a.shape[ax]
        if count - ddof <= 0:
            raise op_error("var", f"needs more than ddof={ddof} elements along axis {axis}", a)
        centered = a - a.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.axes, ctx.denom = axes, count - ddof
        out = np.square(centered).sum(axis=axes, keepdims=keepdims) / (count - ddof)
        return out.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved
        g = grad.reshape(_kept_shape(centered.shape, ctx.axes))
        return (centered * (g * grad.dtype.type(2.0 / ctx.denom)),)


def sum(a, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy's name
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims=False):
    return Mean.apply(a, axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy's name
    return Max.apply(a, axis=axis, keepdims=keepdims)


def min(a, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy's name
    return Min.apply(a, axis=axis, keepdims=keepdims)


def var(a, axis=None, keepdims=False, ddof=0):
    return Var.apply(a, axis=axis, keepdims=keepdims, ddof=ddof)
