"""Reductions over an axis (int, tuple or None) with keepdims.

NumPy's rules at the edges: an axis out of range raises numpy's AxisError (a ValueError) naming the op; the mean
or variance of an empty slice, and a variance with ddof >= the count, is NaN/inf with a RuntimeWarning (as
``np.mean``/``np.var``); max/min of an empty slice raise (numpy has no identity for them).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..function import Function, op_error

try:
    from numpy.exceptions import AxisError
except ImportError:  # numpy < 1.25
    from numpy import AxisError


class _Reduction(Function):
    promote_bool = True


def _norm_axis(axis, ndim, op):
    """Axis argument -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, (int, np.integer)) else axis
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if items is None or not all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))
                                for a in items):
        raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
    axes = tuple(int(a) for a in items)
    out = []
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise AxisError(f"{op}: axis {ax} is out of range for an input of {ndim} dimensions")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    """The reduced shape with keepdims=True, for broadcasting a gradient back."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(_Reduction):
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


class Mean(_Reduction):
    name = "mean"

    @staticmethod
    def forward(ctx, a, *, axis, keepdims):
        ctx.axes = axes = _norm_axis(axis, a.ndim, "mean")
        ctx.in_shape = a.shape
        if _count(a.shape, axes) == 0:
            warnings.warn("mean: mean of an empty slice is NaN", RuntimeWarning, stacklevel=4)
            return np.full(_out_shape(a.shape, axes, keepdims), np.nan, dtype=a.dtype)
        return np.mean(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        count = _count(ctx.in_shape, ctx.axes)
        if count == 0:
            return (np.zeros(ctx.in_shape, grad.dtype),)
        g = grad.reshape(_kept_shape(ctx.in_shape, ctx.axes)) * grad.dtype.type(1.0 / count)
        return (np.broadcast_to(g, ctx.in_shape),)


class _Extreme(_Reduction):
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


class Var(_Reduction):
    """Variance with ``ddof`` (0: population, as numpy)."""
    name = "var"

    @staticmethod
    def forward(ctx, a, *, axis, keepdims, ddof):
        axes = _norm_axis(axis, a.ndim, "var")
        if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, np.integer, float, np.floating)):
            raise TypeError(f"var: ddof must be a number, got {ddof!r}")
        count = _count(a.shape, axes)
        denom = count - ddof if count > ddof else 0   # numpy: max(n - ddof, 0)
        if denom == 0:
            warnings.warn(f"var: degrees of freedom <= 0 (count {count}, ddof {ddof}); the result is NaN/inf",
                          RuntimeWarning, stacklevel=4)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.full(_out_shape(a.shape, axes, True), np.nan, a.dtype) if count == 0 \
                else a.mean(axis=axes, keepdims=True)
            centered = a - mean
            ctx.save_for_backward(centered)
            ctx.axes, ctx.denom = axes, denom
            out = np.square(centered).sum(axis=axes, keepdims=keepdims) / a.dtype.type(denom)
        return np.asarray(out).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved
        g = grad.reshape(_kept_shape(centered.shape, ctx.axes))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (centered * (g * (grad.dtype.type(2.0) / grad.dtype.type(ctx.denom))),)


def _count(shape, axes) -> int:
    count = 1
    for ax in axes:
        count *= shape[ax]
    return count


def _out_shape(shape, axes, keepdims):
    return tuple(1 if i in axes else s for i, s in enumerate(shape) if keepdims or i not in axes)


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
