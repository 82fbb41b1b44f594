"""2-D convolution (cross-correlation, as in every DL framework): NCHW input, OIHW weight, optional fused bias.

Algorithms (``algorithm=``; the one used is recorded on the Node as ``attrs["algorithm"]``):

- ``"im2col"``: the padded input's sliding windows are copied once into a column matrix (C*KH*KW, N*Ho*Wo) that
  forward keeps; forward, input gradient and weight gradient are one GEMM each. The input gradient's columns go
  back to the image by a loop over the KH*KW kernel offsets (col2im; the fastest scatter measured, PERF-NOTES).
- ``"sliding"``: nothing but the input is kept. Forward and weight gradient contract a strided window view
  (``as_strided``, no copy) with a GEMM, a batch chunk at a time so the transient columns stay small; the input
  gradient is the full correlation of the stride-dilated output gradient with the flipped kernel, done as one
  (C, F) @ (F, N*Ho*Wo) GEMM per kernel offset added into the shifted (strided) input window.
- ``"fft"``: ``"sliding"`` forward and input gradient, weight gradient by FFT correlation (rfft2 over the spatial
  axes, one batched product per frequency summing over the batch, irfft2, then the needed lags cropped).
- ``"auto"``: a cost model per (shapes, stride, dilation, padding, dtype), cached process-wide in ``AUTO_CHOICES``.
  im2col unless its cached columns would exceed ``IM2COL_MAX_BYTES``; FFT for the weight gradient where its
  estimated cost is lower (large kernels on large images).

Outputs and input gradients are returned as (N, C, H, W) views of (C, N, H, W)-ordered buffers: the GEMMs produce
that order, and a gradient that arrives in it (e.g. through relu or pooling, which keep the layout) needs no copy.
"""
from __future__ import annotations

import math
import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..function import Function, op_error

try:  # optional: scipy.fft runs on several threads; numpy.fft is the fallback (and is tested)
    import scipy.fft as _scipy_fft
except ImportError:  # pragma: no cover - depends on the environment
    _scipy_fft = None

ALGORITHMS = ("auto", "sliding", "im2col", "fft")
# im2col keeps its columns between forward and backward; above this size "auto" uses the sliding path instead.
IM2COL_MAX_BYTES = 128 << 20
# The sliding path materialises at most about this many column elements at a time.
SLIDING_CHUNK_ELEMS = 1 << 22
# Process-wide: key (x shape, w shape, stride, padding, dilation, dtype) -> algorithm chosen by "auto".
AUTO_CHOICES: dict = {}
FFT_WORKERS = max(1, min(os.cpu_count() or 1, 4))


# -- argument handling (shared with pool.py) -------------------------------------------------------------------------
def _pair(value, what: str, op: str, minimum: int = 1) -> tuple:
    """int or pair of ints -> (a, b); every entry >= ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        p = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        p = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    if min(p) < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {value!r}")
    return p


def _same_pad(size: int, k_eff: int, stride: int) -> tuple:
    """Keras/TF "same": output ceil(size / stride); the odd extra padding goes after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return (total // 2, total - total // 2)


def _resolve_padding(padding, hw: tuple, k_eff: tuple, stride: tuple, op: str, allow_explicit: bool = True) -> tuple:
    """padding argument -> ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            return tuple(_same_pad(s, k, st) for s, k, st in zip(hw, k_eff, stride))
        expected = ("'valid', 'same', an int, a pair or ((top, bottom), (left, right))" if allow_explicit
                    else "'valid' or 'same'")
        raise ValueError(f"{op}: unknown padding {padding!r}; expected {expected}")
    if not allow_explicit:
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding)):
        pads = tuple(_pair(tuple(p), "padding", op, minimum=0) for p in padding)
    else:
        ph, pw = _pair(padding, "padding", op, minimum=0)
        pads = ((ph, ph), (pw, pw))
    return pads


def _with_shapes(err: Exception, *arrays) -> Exception:
    """The same kind of error, its message followed by the inputs' dtypes and shapes."""
    got = ", ".join(f"{a.dtype}{list(a.shape)}" for a in arrays)
    return type(err)(f"{err} (got {got})")


def _pad(x: np.ndarray, pads: tuple, value=0) -> np.ndarray:
    """Spatially padded copy of an (N, C, H, W) array (``x`` itself when there is no padding)."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + t + b, w + l + r), value, dtype=x.dtype) if value else \
        np.zeros((n, c, h + t + b, w + l + r), dtype=x.dtype)
    out[:, :, t:t + h, l:l + w] = x
    return out


def _window(i: int, j: int, out_hw: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Index of the (N, C, Ho, Wo) input cells that kernel offset (i, j) meets: a strided basic slice (a view)."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return (slice(None), slice(None), slice(i * dh, i * dh + (ho - 1) * sh + 1, sh),
            slice(j * dw, j * dw + (wo - 1) * sw + 1, sw))


def _windows(xp: np.ndarray, k: tuple, out_hw: tuple, stride: tuple, dilation: tuple) -> np.ndarray:
    """Read-only strided view (C, KH, KW, N, Ho, Wo) of a padded (N, C, Hp, Wp) array; no copy."""
    sn, sc, sh, sw = xp.strides
    shape = (xp.shape[1], k[0], k[1], xp.shape[0], out_hw[0], out_hw[1])
    strides = (sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0], sw * stride[1])
    return as_strided(xp, shape, strides, writeable=False)


def _col2im(dcols: np.ndarray, padded_shape: tuple, k: tuple, out_hw: tuple, stride: tuple, dilation: tuple):
    """Sum columns (C, KH, KW, N, Ho, Wo) back into a padded (N, C, Hp, Wp) view of a (C, N, Hp, Wp) buffer."""
    n, c, hp, wp = padded_shape
    dxp = np.zeros((c, n, hp, wp), dtype=dcols.dtype)                  # (C, N, Hp, Wp)
    view = dxp.transpose(1, 0, 2, 3)                                   # (N, C, Hp, Wp) view
    for i in range(k[0]):
        for j in range(k[1]):
            view[_window(i, j, out_hw, stride, dilation)] += dcols[:, i, j].transpose(1, 0, 2, 3)
    return view


def _crop(xp: np.ndarray, pads: tuple) -> np.ndarray:
    (t, b), (l, r) = pads
    return xp[:, :, t:xp.shape[2] - b, l:xp.shape[3] - r]


# -- FFT weight gradient ---------------------------------------------------------------------------------------------
def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a cheap FFT length)."""
    m = max(n, 1)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _fft_funcs():
    if _scipy_fft is not None:
        return (lambda a, s, axes: _scipy_fft.rfft2(a, s=s, axes=axes, workers=FFT_WORKERS),
                lambda a, s, axes: _scipy_fft.irfft2(a, s=s, axes=axes, workers=FFT_WORKERS))
    return np.fft.rfft2, np.fft.irfft2


def _fft_lengths(x_hw, pads, out_hw, stride):
    """Circular length per axis that equals linear correlation at every lag the weight gradient needs."""
    lens = []
    for size, (before, after), o, s in zip(x_hw, pads, out_hw, stride):
        span = (o - 1) * s + 1                       # support of the stride-dilated output gradient
        lens.append(_fast_len(max(size + max(before, after), span)))
    return tuple(lens)


def _weight_grad_fft(x, gF, k, pads, stride, dilation):
    """dW[f, c, i, j] = sum_{n, a, b} g[n, f, a, b] * xpad[n, c, a*sh + i*dh, b*sw + j*dw], by FFT.

    The lag i*dh of the padded input is lag i*dh - top of the unpadded one; with the circular length from
    ``_fft_lengths`` no wrapped term meets real data, so no padded copy is made.
    """
    rfft2, irfft2 = _fft_funcs()
    n, c, h, w = x.shape
    f, _, ho, wo = gF.shape
    l1, l2 = _fft_lengths((h, w), pads, (ho, wo), stride)
    X = rfft2(x, s=(l1, l2), axes=(2, 3))                                       # (N, C, L1, L2h)
    gd = np.zeros((n, f, l1, l2), dtype=x.dtype)
    gd[:, :, :(ho - 1) * stride[0] + 1:stride[0], :(wo - 1) * stride[1] + 1:stride[1]] = gF.transpose(1, 0, 2, 3)
    G = rfft2(gd, s=(l1, l2), axes=(2, 3))                                      # (N, F, L1, L2h)
    del gd
    l2h = G.shape[3]
    Gc = np.empty((l1, l2h, f, n), dtype=G.dtype)
    np.conjugate(G.transpose(2, 3, 1, 0), out=Gc)                               # (L1, L2h, F, N)
    del G
    Xt = np.ascontiguousarray(X.transpose(2, 3, 0, 1))                          # (L1, L2h, N, C)
    del X
    R = np.matmul(Gc, Xt)                                                       # (L1, L2h, F, C): sum over N
    del Gc, Xt
    r = irfft2(R, s=(l1, l2), axes=(0, 1))                                      # (L1, L2, F, C)
    rows = (np.arange(k[0]) * dilation[0] - pads[0][0]) % l1
    cols = (np.arange(k[1]) * dilation[1] - pads[1][0]) % l2
    return np.ascontiguousarray(r[rows][:, cols].transpose(2, 3, 0, 1))         # (F, C, KH, KW)


# -- the chooser -----------------------------------------------------------------------------------------------------
def _fft_wins(x_shape, w_shape, out_hw, pads, stride) -> bool:
    """Cost model: direct dW is one GEMM of 2*F*C*KH*KW*N*Ho*Wo flops; FFT dW is N*(C+F) forward transforms
    plus a complex (F, N) @ (N, C) product per frequency. Rates are this machine's measurements (PERF-NOTES)."""
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    l1, l2 = _fft_lengths((h, w), pads, out_hw, stride)
    direct = 2.0 * f * c * kh * kw * n * out_hw[0] * out_hw[1] / 120e9
    size = l1 * l2
    fft = (n * (c + f) + f * c) * 2.5 * size * math.log2(max(size, 2)) / 6e9 \
        + 8.0 * f * c * n * l1 * (l2 // 2 + 1) / 25e9
    return fft < direct


def _choose(x, w, out_hw, pads, stride, dilation) -> str:
    key = (x.shape, w.shape, stride, pads, dilation, x.dtype.str)
    algo = AUTO_CHOICES.get(key)
    if algo is None:
        n, c = x.shape[:2]
        f, _, kh, kw = w.shape
        if _fft_wins(x.shape, w.shape, out_hw, pads, stride):
            algo = "fft"
        elif c * kh * kw * n * out_hw[0] * out_hw[1] * x.dtype.itemsize <= IM2COL_MAX_BYTES:
            algo = "im2col"
        else:
            algo = "sliding"
        AUTO_CHOICES[key] = algo
    return algo


# -- the op ----------------------------------------------------------------------------------------------------------
class Conv2d(Function):
    """y[n, f] = sum_c x[n, c] (cross-correlated with) w[f, c] + b[f]; see the module docstring for algorithms."""
    name = "conv2d"

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, dilation, algorithm):
        if x.ndim != 4:
            raise op_error("conv2d", "x must be 4-D (N, C, H, W)", x)
        if w.ndim != 4:
            raise op_error("conv2d", "weight must be 4-D (F, C, KH, KW)", w)
        if x.dtype.kind != "f" or w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
            got = ", ".join(str(a.dtype) for a in (x, w, b) if a is not None)
            raise TypeError(f"conv2d: x, weight and bias must share one floating dtype, got {got}")
        n, c, h, wd = x.shape
        f, cw, kh, kw = w.shape
        if cw != c:
            raise op_error("conv2d", f"x has {c} channels but weight expects {cw} (weight is (F, C, KH, KW))", x, w)
        if b is not None and b.shape != (f,):
            raise op_error("conv2d", f"bias must have shape ({f},), one per filter", x, w, b)
        if algorithm not in ALGORITHMS:
            raise op_error("conv2d", f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}", x, w)
        try:
            st = _pair(stride, "stride", "conv2d")
            dl = _pair(dilation, "dilation", "conv2d")
            k_eff = ((kh - 1) * dl[0] + 1, (kw - 1) * dl[1] + 1)
            pads = _resolve_padding(padding, (h, wd), k_eff, st, "conv2d")
        except (TypeError, ValueError) as e:
            raise _with_shapes(e, x, w) from None
        hp, wp = h + sum(pads[0]), wd + sum(pads[1])
        if hp < k_eff[0] or wp < k_eff[1] or min(kh, kw, f) < 1:
            raise op_error("conv2d", f"kernel {kh}x{kw} (dilated extent {k_eff[0]}x{k_eff[1]}) is larger than the "
                                     f"padded input {hp}x{wp}", x, w)
        ho, wo = (hp - k_eff[0]) // st[0] + 1, (wp - k_eff[1]) // st[1] + 1
        algo = _choose(x, w, (ho, wo), pads, st, dl) if algorithm == "auto" else algorithm
        ctx.attrs.update(stride=st, padding=pads, dilation=dl, algorithm=algo, requested=algorithm,
                         weight_grad={"im2col": "gemm", "sliding": "direct", "fft": "fft"}[algo])

        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        xp = _pad(x, pads)
        win = _windows(xp, (kh, kw), (ho, wo), st, dl)                 # (C, KH, KW, N, Ho, Wo) view
        w2 = w.reshape(f, c * kh * kw)                                 # (F, C*KH*KW)
        if algo == "im2col":
            cols = win.reshape(c * kh * kw, n * ho * wo)               # (C*KH*KW, N*Ho*Wo): the one copy
            out = w2 @ cols                                            # (F, N*Ho*Wo)
            ctx.cols = cols if need_w else None
        else:
            out = np.empty((f, n * ho * wo), dtype=x.dtype)            # (F, N*Ho*Wo)
            per_image = c * kh * kw * ho * wo
            nb = max(1, SLIDING_CHUNK_ELEMS // per_image)
            for n0 in range(0, n, nb):
                n1 = min(n, n0 + nb)
                blk = win[:, :, :, n0:n1].reshape(c * kh * kw, -1)    # (C*KH*KW, nb*Ho*Wo)
                np.matmul(w2, blk, out=out[:, n0 * ho * wo:n1 * ho * wo])
        if b is not None:
            out += b[:, None]
        ctx.save_for_backward(x if (need_w and algo != "im2col") else None, w if need_x else None)
        ctx.geom = (pads, st, dl, (ho, wo))
        return out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)         # (N, F, Ho, Wo) view

    @staticmethod
    def backward(ctx, grad):
        x_saved, w = ctx.saved
        pads, st, dl, (ho, wo) = ctx.geom
        algo = ctx.attrs["algorithm"]
        xin, win_t = ctx.inputs[0], ctx.inputs[1]
        n, c, h, wd = xin.shape
        f, _, kh, kw = win_t.shape
        need = ctx.needs_input_grad
        gF = grad.transpose(1, 0, 2, 3)                                # (F, N, Ho, Wo) view
        g2 = gF.reshape(f, n * ho * wo)                                # (F, N*Ho*Wo); free if grad is F-major
        padded_shape = (n, c, h + sum(pads[0]), wd + sum(pads[1]))
        dx = dw = db = None
        if need[0]:
            if algo == "im2col":
                dcols = w.reshape(f, -1).T @ g2                        # (C*KH*KW, N*Ho*Wo)
                dxp = _col2im(dcols.reshape(c, kh, kw, n, ho, wo), padded_shape, (kh, kw), (ho, wo), st, dl)
                del dcols
            else:
                buf = np.zeros((c, n) + padded_shape[2:], dtype=g2.dtype)   # (C, N, Hp, Wp)
                dxp = buf.transpose(1, 0, 2, 3)                              # (N, C, Hp, Wp) view
                tmp = np.empty((c, n * ho * wo), dtype=g2.dtype)
                for i in range(kh):
                    for j in range(kw):
                        np.matmul(w[:, :, i, j].T, g2, out=tmp)               # (C, N*Ho*Wo)
                        dxp[_window(i, j, (ho, wo), st, dl)] += tmp.reshape(c, n, ho, wo).transpose(1, 0, 2, 3)
            dx = _crop(dxp, pads)
        if need[1]:
            if algo == "im2col":
                dw = (g2 @ ctx.cols.T).reshape(f, c, kh, kw)           # (F, C*KH*KW) -> (F, C, KH, KW)
            elif algo == "fft":
                dw = _weight_grad_fft(x_saved, gF, (kh, kw), pads, st, dl)
            else:
                win = _windows(_pad(x_saved, pads), (kh, kw), (ho, wo), st, dl)
                dw2 = np.zeros((f, c * kh * kw), dtype=g2.dtype)
                nb = max(1, SLIDING_CHUNK_ELEMS // (c * kh * kw * ho * wo))
                for n0 in range(0, n, nb):
                    n1 = min(n, n0 + nb)
                    blk = win[:, :, :, n0:n1].reshape(c * kh * kw, -1)  # (C*KH*KW, nb*Ho*Wo)
                    dw2 += g2[:, n0 * ho * wo:n1 * ho * wo] @ blk.T
                dw = dw2.reshape(f, c, kh, kw)
        if len(need) > 2 and need[2]:
            db = g2.sum(axis=1)                                        # (F,)
        return (dx, dw) if len(need) == 2 else (dx, dw, db)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, algorithm="auto"):
    """2-D convolution of x (N, C, H, W) with weight (F, C, KH, KW) plus bias (F,): output (N, F, Ho, Wo).

    ``stride``/``dilation``: int or pair. ``padding``: int, pair, ((top, bottom), (left, right)), "valid" or "same"
    (Keras: output ceil(H / stride), the odd extra row/column at the bottom/right). ``algorithm``: "auto",
    "im2col", "sliding" or "fft" (sliding forward and input gradient, FFT weight gradient).
    """
    if bias is None:
        return Conv2d.apply(x, weight, stride=stride, padding=padding, dilation=dilation, algorithm=algorithm)
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, algorithm=algorithm)
