"""Ops that move data without arithmetic: reshape, transpose, broadcast, (un)squeeze, indexing, joining, padding."""
from __future__ import annotations

import numpy as np

from ..function import Function, op_error


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
        except ValueError:
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
        ax = axis % arrays[0].ndim
        ctx.splits = np.cumsum([a.shape[ax] for a in arrays])[:-1]
        ctx.ax = ax
        return np.concatenate(arrays, axis=ax)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.splits, axis=ctx.ax))


class Stack(Function):
    name = "stack"
    float_only = False

    @staticmethod
    def forward(ctx, *arrays, axis):
        if not arrays:
            raise ValueError("stack: needs at least one tensor")
        ctx.ax = axis % (arrays[0].ndim + 1)
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
    from ..tensor import Tensor
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def reshape(a, shape):
    return Reshape.apply(a, shape=(int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape))


def transpose(a, axes=None):
    return Transpose.apply(a, axes=None if axes is None else tuple(axes))


permute = transpose


def broadcast_to(a, shape):
    return BroadcastTo.apply(a, shape=tuple(shape))


expand = broadcast_to


def squeeze(a, axis=None):
    return Squeeze.apply(a, axis=axis)


def unsqueeze(a, axis):
    return Unsqueeze.apply(a, axis=axis)


def getitem(a, index):
    return GetItem.apply(a, index=_index_arrays(index))


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    return Stack.apply(*tensors, axis=axis)


def pad(a, pad_width, value=0.0):
    return Pad.apply(a, pad_width=pad_width, value=value)


def flatten(a, start_axis=1):
    """Collapse axes ``start_axis`` and after into one (a reshape)."""
    from ..tensor import Tensor
    shape = a.shape if isinstance(a, Tensor) else np.shape(a)
    if not 0 <= start_axis < max(len(shape), 1):
        raise ValueError(f"flatten: start_axis {start_axis} is out of range for shape {tuple(shape)}")
    return reshape(a, tuple(shape[:start_axis]) + (int(np.prod(shape[start_axis:])),))
