"""Resampling of NCHW images: nearest and bilinear interpolation with PyTorch's index rules.

Both modes are separable: along each spatial axis an output position reads one (nearest) or two (bilinear) input
positions with fixed weights. Forward gathers along H then W; backward is the transposed map, per axis: the readers
of each input position are split into slots (its first reader, its second, ...), each slot one gather and one add.
"""
from __future__ import annotations

import math

import numpy as np

from ..function import Function, check_fits, op_error

MODES = ("nearest", "nearest-exact", "bilinear")


def _axis_map(n_in, n_out, mode, align_corners, scale, dtype):
    """[(source index, weight or None), ...] along one axis: one pair for nearest, two for bilinear.

    ``scale``: the user's scale_factor for this axis (used as 1/scale, as PyTorch does) or None (n_in / n_out).
    """
    if mode in ("nearest", "nearest-exact"):
        # PyTorch computes the ratio and the product in float32.
        ratio = np.float32(1.0 / scale) if scale is not None else np.float32(n_in) / np.float32(n_out)
        dst = np.arange(n_out, dtype=np.float32)
        if mode == "nearest-exact":
            dst = dst + np.float32(0.5)
        src = np.minimum(np.floor(dst * ratio).astype(np.int64), n_in - 1)
        return [(src, None)]
    if align_corners:
        ratio = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = np.arange(n_out, dtype=dtype) * dtype.type(ratio)
    else:
        ratio = 1.0 / scale if scale is not None else n_in / n_out
        src = np.maximum((np.arange(n_out, dtype=dtype) + dtype.type(0.5)) * dtype.type(ratio) - dtype.type(0.5), 0)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = i0 + (i0 < n_in - 1)
    l1 = (src - i0).astype(dtype)
    return [(i0, (1 - l1).astype(dtype)), (i1, l1)]


def _gather(a, amap, axis):
    """sum_k weight_k * a[..., src_k, ...] along ``axis``."""
    out = None
    for src, w in amap:
        part = np.take(a, src, axis=axis)
        if w is not None:
            part *= w.reshape((-1,) + (1,) * (a.ndim - 1 - axis))
        out = part if out is None else out + part
    return out


def _transpose_map(amap, n_in):
    """The map read backwards, in slots: slot t lists (input rows, the output position that is their t-th reader,
    weight or None). No input row repeats within a slot, so each slot is one gather and one add."""
    n_out = len(amap[0][0])
    src = np.concatenate([m[0] for m in amap])
    dst = np.tile(np.arange(n_out), len(amap))
    w = None if amap[0][1] is None else np.concatenate([m[1] for m in amap])
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    w = None if w is None else w[order]
    rank = np.arange(len(src)) - np.searchsorted(src, src)             # position within its run of equal src
    slots = []
    for t in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == t
        slots.append((src[sel], dst[sel], None if w is None else w[sel]))
    return slots


def _scatter(g, slots, n_in, axis):
    """Transpose of ``_gather``: the gradient of each output position added to its source positions."""
    shape = list(g.shape)
    shape[axis] = n_in
    out = np.zeros(shape, dtype=g.dtype)
    bshape = (-1,) + (1,) * (g.ndim - 1 - axis)
    for rows, dsts, w in slots:
        part = np.take(g, dsts, axis=axis)
        if w is not None:
            part *= w.reshape(bshape)
        if len(rows) == n_in:                                           # every row once, in order
            out += part
        elif len(rows) and rows[-1] - rows[0] + 1 == len(rows):         # a contiguous run: a basic slice
            out[(slice(None),) * axis + (slice(int(rows[0]), int(rows[-1]) + 1),)] += part
        elif len(rows):
            index = (slice(None),) * axis + (rows,)
            out[index] += part
    return out


class Interpolate(Function):
    name = "interpolate"

    @staticmethod
    def forward(ctx, x, *, size, scales, mode, align_corners):
        if x.ndim != 4:
            raise op_error("interpolate", "x must be 4-D (N, C, H, W)", x)
        if min(x.shape[2:]) == 0:
            raise op_error("interpolate", "the input's spatial size must be positive", x)
        n, c, _, w = x.shape
        # the H-resampled intermediate and the output, each with the parts _gather sums (bilinear: two parts and
        # their sum alive at once), and the axis maps (~40 bytes per position)
        parts = 3 if mode == "bilinear" else 1
        check_fits("interpolate", parts * x.itemsize * n * c * size[0] * (size[1] + w) + 40 * (size[0] + size[1]),
                   f"the output (N, C, H, W) = {(n, c, *size)}", x)
        maps = [_axis_map(n, o, mode, align_corners, s, x.dtype) for n, o, s in zip(x.shape[2:], size, scales)]
        ctx.maps = maps
        return _gather(_gather(x, maps[0], 2), maps[1], 3)

    @staticmethod
    def backward(ctx, grad):
        h, w = ctx.inputs[0].shape[2:]
        (mh, mw) = ctx.maps
        return (_scatter(_scatter(grad, _transpose_map(mw, w), w, 3), _transpose_map(mh, h), h, 2),)


def _two(op, what, v, kind):
    """int/float or a pair of them -> a 2-tuple, every entry positive."""
    ok_item = ((lambda u: isinstance(u, (int, np.integer)) and not isinstance(u, bool)) if kind == "int" else
               (lambda u: isinstance(u, (int, float, np.integer, np.floating)) and not isinstance(u, bool)
                and math.isfinite(u)))
    pair = (v, v) if ok_item(v) else v
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(ok_item(u) for u in pair)):
        raise TypeError(f"{op}: {what} must be a{'n int' if kind == 'int' else ' number'} or a pair of them, "
                        f"got {v!r}")
    if min(pair) <= 0:
        raise ValueError(f"{op}: {what} must be > 0, got {v!r}")
    return tuple(int(u) if kind == "int" else float(u) for u in pair)


def interpolate(x, scale_factor=None, size=None, mode="nearest", align_corners=False):
    """Resize x (N, C, H, W) to ``size`` (int or (H, W)) or by ``scale_factor`` (number or pair; output
    floor(H * scale)), exactly one of the two. PyTorch's semantics: "nearest" reads source floor(dst * in / out)
    (with a scale_factor, floor(dst / scale)); "nearest-exact" floor((dst + 0.5) * in / out); "bilinear" maps
    with half-pixel centres (src = (dst + 0.5) * in / out - 0.5, clamped at 0) or, with ``align_corners=True``,
    corner to corner (src = dst * (in - 1) / (out - 1)). ``align_corners`` applies to "bilinear" only."""
    from ..tensor import Tensor
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {MODES}, got {mode!r}")
    if not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(f"interpolate: align_corners must be a bool, got {align_corners!r}")
    if align_corners and mode != "bilinear":
        raise ValueError(f"interpolate: align_corners=True only applies to mode='bilinear', not {mode!r}")
    if (scale_factor is None) == (size is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if len(shape) != 4:
        raise ValueError(f"interpolate: x must be 4-D (N, C, H, W), got shape {tuple(shape)}")
    if size is not None:
        out = _two("interpolate", "size", size, "int")
        scales = (None, None)
    else:
        scales = _two("interpolate", "scale_factor", scale_factor, "float")
        if not all(math.isfinite(n * s) and n * s < 2 ** 31 for n, s in zip(shape[2:], scales)):
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} gives an output size >= 2**31 for x of "
                             f"shape {tuple(shape)}")
        out = tuple(int(math.floor(n * s)) for n, s in zip(shape[2:], scales))
        if min(out) < 1:
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} gives an empty output {out} for x of "
                             f"shape {tuple(shape)}")
    if max(out) >= 2 ** 31:
        raise ValueError(f"interpolate: size {size!r} must be < 2**31")
    return Interpolate.apply(x, size=out, scales=scales, mode=mode, align_corners=bool(align_corners))
    # (Function.apply restates a MemoryError with the op, the shape asked for and the inputs)
