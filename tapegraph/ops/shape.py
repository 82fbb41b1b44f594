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


PAD_MODES = ("constant", "reflect", "edge")


def _pad_index(n, before, after, mode):
    """Source index of each output position along one axis (numpy's mapping, repeated reflections included)."""
    return np.pad(np.arange(n), (before, after), mode=mode)


class Pad(Function):
    """numpy-style padding: ``pad_width`` ((before, after), ...) per axis, already validated by ``pad``; negative
    widths crop first. "constant" fills ``value``; "reflect" and "edge" are numpy's modes (reflect omits the edge
    cell; widths past the axis reflect again). Backward: the crop of the gradient for "constant", and for the
    other modes the gradient of each padded cell added to its source cell (per axis, the border rows only)."""
    name = "pad"
    float_only = False

    @staticmethod
    def forward(ctx, a, *, pad_width, mode="constant", value=0):
        pw = np.asarray(pad_width, dtype=np.int64).reshape(a.ndim, 2)
        crop = tuple(slice(max(-b, 0), s - max(-e, 0)) for (b, e), s in zip(pw, a.shape))
        grow = np.maximum(pw, 0)
        ctx.crop = crop
        ctx.grow = grow
        c = a[crop]
        if mode == "constant":
            return np.pad(c, grow, mode="constant", constant_values=value)
        for ax, ((b, e), n) in enumerate(zip(grow, c.shape)):
            if (b or e) and n == 0:
                raise op_error("pad", f"cannot {mode}-pad axis {ax} of size 0 (after cropping), pad_width "
                                      f"{pw.tolist()}", a)
        return np.pad(c, grow, mode=mode)

    @staticmethod
    def backward(ctx, grad):
        grow, mode = ctx.grow, ctx.attrs.get("mode", "constant")
        a_shape = ctx.inputs[0].shape
        g = grad
        if mode == "constant":
            g = g[tuple(slice(b, g.shape[ax] - e) for ax, (b, e) in enumerate(grow))]
        else:
            for ax, (b, e) in enumerate(grow):
                if not (b or e):
                    continue
                n = g.shape[ax] - b - e
                src = _pad_index(n, b, e, mode)
                g = np.moveaxis(g, ax, 0)
                out = g[b:b + n].copy()                                # the unpadded part maps to itself
                border = np.r_[0:b, b + n:b + n + e]
                np.add.at(out, src[border], g[border])
                g = np.moveaxis(out, 0, ax)
        if g.shape == a_shape:
            return (g,)
        dx = np.zeros(a_shape, dtype=g.dtype)
        dx[ctx.crop] = g
        return (dx,)


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


def _has_bool(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return True
    return isinstance(v, (tuple, list)) and any(_has_bool(u) for u in v)


def _pad_widths(a, pad_width):
    """numpy's pad_width forms (n, (b, a), ((b, a), ...) per axis) -> an (ndim, 2) list of ints; refuses
    non-integers and bools, and crops (negative widths) that remove more than the axis holds."""
    from ..tensor import Tensor
    shape = a.shape if isinstance(a, Tensor) else np.shape(a)
    try:
        raw = np.asarray(pad_width.data if isinstance(pad_width, Tensor) else pad_width)
    except (ValueError, TypeError):
        raw = None
    if raw is None or raw.dtype.kind not in "iu" or _has_bool(pad_width):
        raise TypeError(f"pad: pad_width must be integers (an int, (before, after) or one pair per axis), got "
                        f"{pad_width!r} for x of shape {tuple(shape)}")
    try:
        pw = np.broadcast_to(raw, (len(shape), 2)).astype(np.int64)
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit x of shape {tuple(shape)}; expected an int, "
                         f"(before, after) or {len(shape)} such pairs") from None
    for ax, ((b, e), n) in enumerate(zip(pw, shape)):
        if max(-b, 0) + max(-e, 0) > n:
            raise ValueError(f"pad: pad_width {pw[ax].tolist()} on axis {ax} crops more than its {n} cells (x of "
                             f"shape {tuple(shape)})")
    return tuple(tuple(int(v) for v in row) for row in pw)


def pad(a, pad_width, mode="constant", value=0):
    """Pad ``a`` numpy-style: ``pad_width`` is an int, (before, after) or one pair per axis; negative widths crop.
    ``mode``: "constant" (fills ``value``), "reflect" or "edge" (numpy's modes; PyTorch's reflect / replicate)."""
    if not isinstance(mode, str) or mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"pad: value must be a real number, got {value!r}")
    if mode != "constant" and value != 0:
        raise ValueError(f"pad: value={value!r} only applies to mode='constant', not {mode!r}")
    return Pad.apply(a, pad_width=_pad_widths(a, pad_width), mode=mode, value=value)


def flatten(a, start_axis=1, end_axis=-1):
    """Collapse axes ``start_axis`` .. ``end_axis`` (inclusive, negative counts from the end) into one (a reshape).
    The default keeps the batch axis (Keras' Flatten); ``Tensor.flatten`` defaults to start_axis=0 (NumPy)."""
    from ..tensor import Tensor
    shape = tuple(a.shape if isinstance(a, Tensor) else np.shape(a))
    nd = max(len(shape), 1)
    for what, v in (("start_axis", start_axis), ("end_axis", end_axis)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"flatten: {what} must be an int, got {v!r}")
        if not -nd <= v < nd:
            raise ValueError(f"flatten: {what} {v} is out of range for shape {shape}")
    s, e = int(start_axis) % nd, int(end_axis) % nd
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis} for shape {shape}")
    if not shape:
        return reshape(a, (1,))
    return reshape(a, shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])
