"""Ops that move data without arithmetic: reshape, transpose, broadcast, (un)squeeze, indexing, joining, padding."""
from __future__ import annotations

import numpy as np

from ..function import Function, op_error
from ..tape import dtype_shapes

try:
    from numpy.exceptions import AxisError
except ImportError:  # numpy < 1.25
    from numpy import AxisError


class Reshape(Function):
    name = "reshape"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, shape):
        ctx.in_shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise op_error("reshape", f"cannot reshape {a.size} elements into shape {tuple(shape)}", a) from None

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.in_shape),)


class Transpose(Function):
    name = "transpose"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, axes):
        if axes is not None and sorted(int(x) % max(a.ndim, 1) for x in axes) != list(range(a.ndim)):
            raise op_error("transpose", f"axes {tuple(axes)} are not a permutation of {a.ndim} axes", a)
        ctx.inverse = None if axes is None else tuple(np.argsort([int(x) % a.ndim for x in axes]))
        return np.transpose(a, axes)

    @staticmethod
    def backward(ctx, grad):
        return (np.transpose(grad, ctx.inverse),)


class BroadcastTo(Function):
    """Expand to ``shape`` by numpy broadcasting (a read-only view); the walk sums the gradient back."""
    name = "broadcast_to"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, shape):
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise op_error("broadcast_to", f"cannot broadcast to shape {tuple(shape)}", a) from None

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


class Squeeze(Function):
    name = "squeeze"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.in_shape = a.shape
        try:
            return np.squeeze(a, axis=axis)
        except AxisError:
            raise AxisError(f"squeeze: axis {axis} is out of range for {a.ndim}-d input "
                            f"({dtype_shapes([a])})") from None
        except ValueError:  # numpy's rule: squeezing an axis whose size is not 1 is an error
            raise op_error("squeeze", f"axis {axis} does not have size 1", a) from None

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.in_shape),)


class Unsqueeze(Function):
    name = "unsqueeze"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.in_shape = a.shape
        return np.expand_dims(a, axis)

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.in_shape),)


def _is_basic(index) -> bool:
    """True when the index selects a view (ints, slices, None, Ellipsis): every element at most once."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    """a[index] for ints, slices, integer arrays and boolean masks; repeated indices accumulate in backward."""
    name = "getitem"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, index):
        ctx.in_shape, ctx.in_dtype = a.shape, a.dtype
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.in_shape, dtype=grad.dtype)
        index = ctx.attrs["index"]
        if _is_basic(index):
            out[index] = grad
        else:
            np.add.at(out, index, grad)
        return (out,)


class Concatenate(Function):
    name = "concatenate"
    float_only = False

    @staticmethod
    def forward(ctx, *arrays, axis):
        if not arrays:
            raise ValueError("concatenate: needs at least one tensor")
        if arrays[0].ndim == 0:
            raise op_error("concatenate", "cannot join 0-d tensors (use stack)", *arrays)
        ax = _check_axis("concatenate", axis, arrays[0].ndim, arrays)
        ctx.splits = np.cumsum([a.shape[ax] for a in arrays])[:-1]
        ctx.ax = ax
        return np.concatenate(arrays, axis=ax)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.splits, axis=ctx.ax))


def _check_axis(op, axis, ndim, arrays):
    """``axis`` in [-ndim, ndim) as a non-negative int; numpy's AxisError (a ValueError) naming the op otherwise."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise AxisError(f"{op}: axis {axis} is out of range for {ndim}-d output (inputs: {dtype_shapes(arrays)})")
    return int(axis) % ndim


class Stack(Function):
    name = "stack"
    float_only = False

    @staticmethod
    def forward(ctx, *arrays, axis):
        if not arrays:
            raise ValueError("stack: needs at least one tensor")
        ctx.ax = _check_axis("stack", axis, arrays[0].ndim + 1, arrays)
        return np.stack(arrays, axis=ctx.ax)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.ax, 0))


class Pad(Function):
    """Constant padding; ``pad_width`` is numpy's ((before, after), ...) per axis."""
    name = "pad"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, pad_width, value):
        pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (a.ndim, 2))
        if (pw < 0).any():
            raise op_error("pad", f"pad_width must be non-negative, got {pad_width}", a)
        ctx.crop = tuple(slice(b, b + s) for (b, _), s in zip(pw, a.shape))
        return np.pad(a, pw, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return (grad[ctx.crop],)


def _index_arrays(index):
    """The index as numpy takes it, with every array COPIED: the node keeps it for backward, and a caller who
    mutates their index array afterwards must not reroute the gradient."""
    from ..tensor import Tensor
    if isinstance(index, Tensor):
        return np.array(index.data, copy=True)
    if isinstance(index, tuple):
        return tuple(np.array(i.data if isinstance(i, Tensor) else i, copy=True)
                     if isinstance(i, (Tensor, np.ndarray, list)) else i for i in index)
    if isinstance(index, (list, np.ndarray)):
        return np.array(index, copy=True)
    return index


def _shape_arg(op, shape, allow_minus_one=False):
    """A shape argument (an int or a sequence of ints) as a tuple of ints; TypeError/ValueError naming the op."""
    items = (shape,) if isinstance(shape, (int, np.integer)) else shape
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if items is None or not all(isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))
                                for d in items):
        raise TypeError(f"{op}: shape must be an int or a sequence of ints, got {shape!r}")
    items = tuple(int(d) for d in items)
    low = -1 if allow_minus_one else 0
    if any(d < low for d in items):
        raise ValueError(f"{op}: shape {items} has a negative size" + (" (only one -1 is allowed)"
                                                                          if allow_minus_one else ""))
    return items


def reshape(a, shape):
    return Reshape.apply(a, shape=_shape_arg("reshape", shape, allow_minus_one=True))


def transpose(a, axes=None):
    if axes is not None:
        try:
            axes = tuple(axes)
        except TypeError:
            raise TypeError(f"transpose: axes must be a sequence of ints or None, got {type(axes).__name__}") \
                from None
    return Transpose.apply(a, axes=axes)


permute = transpose


def broadcast_to(a, shape):
    return BroadcastTo.apply(a, shape=_shape_arg("broadcast_to", shape))


expand = broadcast_to


def squeeze(a, axis=None):
    return Squeeze.apply(a, axis=axis)


def unsqueeze(a, axis):
    return Unsqueeze.apply(a, axis=axis)


def getitem(a, index):
    try:
        index = _index_arrays(index)
    except (TypeError, ValueError) as e:
        raise IndexError(f"getitem: cannot use {type(index).__name__} as an index ({e})") from None
    return GetItem.apply(a, index=index)


def _sequence(op, tensors):
    try:
        return list(tensors)
    except TypeError:
        raise TypeError(f"{op}: expected a sequence of tensors, got {type(tensors).__name__}") from None


def concatenate(tensors, axis=0):
    return Concatenate.apply(*_sequence("concatenate", tensors), axis=axis)


def stack(tensors, axis=0):
    return Stack.apply(*_sequence("stack", tensors), axis=axis)


def pad(a, pad_width, value=0.0):
    return Pad.apply(a, pad_width=pad_width, value=value)


def flatten(a, start_axis=1):
    """Collapse axes ``start_axis`` and after into one (a reshape)."""
    from ..tensor import Tensor
    shape = a.shape if isinstance(a, Tensor) else np.shape(a)
    if not 0 <= start_axis < max(len(shape), 1):
        raise ValueError(f"flatten: start_axis {start_axis} is out of range for shape {tuple(shape)}")
    return reshape(a, tuple(shape[:start_axis]) + (int(np.prod(shape[start_axis:])),))
