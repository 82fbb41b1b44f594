"""2-D convolution (cross-correlation, as in every DL framework): NCHW input, OIHW weight, optional fused bias.

Algorithms (``algorithm=``; the one used is recorded on the Node as ``attrs["algorithm"]``):

- ``"im2col"``: the padded input's sliding windows are copied once into a column matrix (C*KH*KW, N*Ho*Wo) that
  forward keeps; forward and weight gradient are one GEMM each. The input gradient is one GEMM per batch chunk
  (so its columns stay in cache) put back by a loop over the KH*KW kernel offsets (col2im; the fastest scatter
  measured, PERF-NOTES).
- ``"sliding"``: nothing but the input is kept. Forward and weight gradient contract a strided window view
  (``as_strided``, no copy) with a GEMM, a batch chunk at a time so the transient columns stay small; the input
  gradient is the full correlation of the stride-dilated output gradient with the flipped kernel, done as one
  (C, F) @ (F, N*Ho*Wo) GEMM per kernel offset added into the shifted (strided) input window.
- ``"fft"``: all three passes in the frequency domain (rfft2 over the spatial axes at a 5-smooth length >= the
  padded size, so circular equals linear; one batched (.., A, B) @ (.., B, C) product per frequency; the inverse
  cropped to the needed lags and strides). The forward's input and kernel spectra are kept for backward.
- ``"auto"``: a cost model per (shapes, stride, padding, dilation, dtype), cached process-wide in ``AUTO_CHOICES``.
  GEMM paths for small kernels (im2col unless its columns would exceed ``IM2COL_MAX_BYTES``), FFT for large ones.

The weight gradient is selectable on its own (``weight_grad="gemm"`` or ``"fft"``; recorded as
``attrs["weight_grad"]``): FFT correlation of input and output gradient, summing over the batch per frequency.
GEMM outputs and input gradients are (N, C, H, W) views of (C, N, H, W)-ordered buffers: the GEMMs produce that
order, and a gradient that arrives in it (through relu or pooling, which keep the layout) needs no copy.
"""
from __future__ import annotations

import math
import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..function import Function, op_error
from ..tape import dtype_shapes

# Optional: scipy.fft runs on several threads; numpy.fft is the fallback (and is tested). Imported on first use
# (``_fft_module``), so ``import tapegraph`` never loads scipy; None means numpy.
_UNSET = object()
_scipy_fft = _UNSET

ALGORITHMS = ("auto", "sliding", "im2col", "fft")
WEIGHT_GRADS = (None, "gemm", "fft")
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
    return type(err)(f"{err} (got {dtype_shapes(arrays)})")


def _pad(x: np.ndarray, pads: tuple, value=0) -> np.ndarray:
    """Spatially padded copy of an (N, C, H, W) array (``x`` itself when there is no padding)."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + t + b, w + l + r)
    out = np.full(shape, value, dtype=x.dtype) if value else np.zeros(shape, dtype=x.dtype)
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


def _crop(xp: np.ndarray, pads: tuple) -> np.ndarray:
    (t, b), (l, r) = pads
    return xp[:, :, t:xp.shape[2] - b, l:xp.shape[3] - r]


# -- FFT ------------------------------------------------------------------------------------------------------------
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


def _fft_module():
    """scipy.fft when importable, else None (numpy.fft)."""
    global _scipy_fft
    if _scipy_fft is _UNSET:
        try:
            import scipy.fft as sfft
        except ImportError:  # pragma: no cover - depends on the environment
            sfft = None
        _scipy_fft = sfft
    return _scipy_fft


def _rfft2(a, s):
    """rfft2 over the last two axes, zero-padded to ``s``; scipy.fft on several threads when importable."""
    sfft = _fft_module()
    if sfft is not None:
        return sfft.rfft2(a, s=s, axes=(2, 3), workers=FFT_WORKERS)
    return np.fft.rfft2(a, s=s, axes=(2, 3))


def _irfft2(a, s):
    sfft = _fft_module()
    if sfft is not None:
        return sfft.irfft2(a, s=s, axes=(2, 3), workers=FFT_WORKERS)
    return np.fft.irfft2(a, s=s, axes=(2, 3))


def _spectrum_t(a, s, step=(1, 1), conj=False):
    """(L1, L2h, A, B) spectrum of an (A, B, h, w) array placed every ``step`` cells (stride/dilation zeros)."""
    if step != (1, 1):
        buf = np.zeros(a.shape[:2] + tuple(s), dtype=a.dtype)
        buf[:, :, :(a.shape[2] - 1) * step[0] + 1:step[0], :(a.shape[3] - 1) * step[1] + 1:step[1]] = a
        a = buf
    spec = _rfft2(a, s)                                                          # (A, B, L1, L2h)
    out = np.empty(spec.shape[2:] + spec.shape[:2], dtype=spec.dtype)           # (L1, L2h, A, B)
    if conj:
        np.conjugate(spec.transpose(2, 3, 0, 1), out=out)
    else:
        np.copyto(out, spec.transpose(2, 3, 0, 1))
    return out


def _spatial(spec_t, s):
    """Inverse of ``_spectrum_t``: (L1, L2h, A, B) -> real (A, B, L1, L2)."""
    return _irfft2(np.ascontiguousarray(spec_t.transpose(2, 3, 0, 1)), s)


def _fft_lengths(x_hw, pads, out_hw, stride):
    """Circular length per axis that equals linear correlation at every lag the weight gradient needs."""
    lens = []
    for size, (before, after), o, s in zip(x_hw, pads, out_hw, stride):
        span = (o - 1) * s + 1                       # support of the stride-dilated output gradient
        lens.append(_fast_len(max(size + max(before, after), span)))
    return tuple(lens)


def _inverse_dft_rows(lags, length, dtype):
    """(len(lags), length) matrix: the inverse DFT evaluated at ``lags`` only."""
    phase = np.outer(lags, np.arange(length)) % length            # exact integer phase
    return (np.exp(2j * np.pi * phase / length) / length).astype(dtype)


def _weight_lags(R, k, pads, dilation, s):
    """Real inverse of R (L1, L2h, F, C) at lags (i*dh - top, j*dw - left) only: two small DFT-matrix products
    instead of a full irfft2. Returns dW (F, C, KH, KW)."""
    l1, l2h, f, c = R.shape
    rows = np.arange(k[0]) * dilation[0] - pads[0][0]
    cols = np.arange(k[1]) * dilation[1] - pads[1][0]
    T = _inverse_dft_rows(rows, l1, R.dtype) @ R.reshape(l1, -1)               # (KH, L2h*F*C)
    # Real inverse along the half spectrum: bins other than 0 and Nyquist stand for two conjugate terms.
    E2 = _inverse_dft_rows(cols, s[1], R.dtype)[:, :l2h]
    E2[:, 1:l2h - (1 - s[1] % 2)] *= 2
    r = np.matmul(E2, T.reshape(k[0], l2h, f * c)).real                         # (KH, KW, F*C)
    return np.ascontiguousarray(r.reshape(k[0], k[1], f, c).transpose(2, 3, 0, 1))   # (F, C, KH, KW)


def _weight_grad_fft(x, grad, k, pads, stride, dilation):
    """dW[f, c, i, j] = sum_{n, a, b} g[n, f, a, b] * xpad[n, c, a*sh + i*dh, b*sw + j*dw], by FFT.

    Lag i*dh of the padded input is lag i*dh - top of the unpadded one; with the circular lengths of
    ``_fft_lengths`` no wrapped term meets real data, so no padded copy is made.
    """
    s = _fft_lengths(x.shape[2:], pads, grad.shape[2:], stride)
    Xt = _spectrum_t(x, s)                                                      # (L1, L2h, N, C)
    Gc = _spectrum_t(grad, s, stride, conj=True)                                # (L1, L2h, N, F), conjugated
    R = np.matmul(Gc.swapaxes(2, 3), Xt)                                        # (L1, L2h, F, C): sum over N
    del Gc, Xt
    return _weight_lags(R, k, pads, dilation, s)


# -- the chooser -----------------------------------------------------------------------------------------------------
def _costs(x_shape, w_shape, out_hw, pads):
    """Seconds estimated for one GEMM pass, full-FFT forward + both gradients, and the FFT weight gradient alone.

    Fitted to timings on the 2-core reference machine (PERF-NOTES): GEMM ~100 GFLOP/s (~200 with 128+ filters);
    real 2-D transforms ~10 GFLOP/s with scipy's 2 workers, ~4 with numpy; the complex per-frequency products
    ~60 GFLOP/s; ~1.5 ns per spectrum element moved by transposes.
    """
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    gemm = 2.0 * f * c * kh * kw * n * out_hw[0] * out_hw[1] / (100e9 * min(max(f / 64, 1.0), 2.0))
    l1, l2 = _fast_len(h + sum(pads[0])), _fast_len(w + sum(pads[1]))
    size, spectrum = l1 * l2, l1 * (l2 // 2 + 1)
    per_transform = 2.5 * size * math.log2(max(size, 2)) / (10e9 if _fft_module() is not None else 4e9)
    product = 8.0 * f * c * n * spectrum / 60e9
    full = (2 * n * (c + f) + f * c) * (per_transform + 1.5e-9 * spectrum) + 3 * product
    weight_only = n * (c + f) * (per_transform + 1.5e-9 * spectrum) + product
    return gemm, full, weight_only


def _choose(x, w, out_hw, pads, stride, dilation) -> tuple:
    """(algorithm, weight_grad) for "auto", from the cost model; cached per shape in AUTO_CHOICES."""
    key = (x.shape, w.shape, stride, pads, dilation, x.dtype.str)
    choice = AUTO_CHOICES.get(key)
    if choice is None:
        n, c = x.shape[:2]
        f, _, kh, kw = w.shape
        gemm, full, weight_only = _costs(x.shape, w.shape, out_hw, pads)
        direct = "im2col" if c * kh * kw * n * out_hw[0] * out_hw[1] * x.dtype.itemsize <= IM2COL_MAX_BYTES \
            else "sliding"
        options = {("fft", "fft"): full, (direct, "gemm"): 3 * gemm, (direct, "fft"): 2 * gemm + weight_only}
        choice = AUTO_CHOICES[key] = min(options, key=options.get)
    return choice


# -- the op ----------------------------------------------------------------------------------------------------------
class Conv2d(Function):
    """y[n, f] = sum_c x[n, c] (cross-correlated with) w[f, c] + b[f]; see the module docstring for algorithms."""
    name = "conv2d"

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, dilation, algorithm, weight_grad):
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
        if min(f, kh, kw) < 1:
            raise op_error("conv2d", "weight needs at least one filter and a non-empty kernel", x, w)
        if b is not None and b.shape != (f,):
            raise op_error("conv2d", f"bias must have shape ({f},), one per filter", x, w, b)
        if algorithm not in ALGORITHMS:
            raise op_error("conv2d", f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}", x, w)
        if weight_grad not in WEIGHT_GRADS:
            raise op_error("conv2d", f"unknown weight_grad {weight_grad!r}; expected one of {WEIGHT_GRADS}", x, w)
        try:
            st = _pair(stride, "stride", "conv2d")
            dl = _pair(dilation, "dilation", "conv2d")
            k_eff = ((kh - 1) * dl[0] + 1, (kw - 1) * dl[1] + 1)
            pads = _resolve_padding(padding, (h, wd), k_eff, st, "conv2d")
        except (TypeError, ValueError) as e:
            raise _with_shapes(e, x, w) from None
        hp, wp = h + sum(pads[0]), wd + sum(pads[1])
        if hp < k_eff[0] or wp < k_eff[1]:
            raise op_error("conv2d", f"kernel {kh}x{kw} (dilated extent {k_eff[0]}x{k_eff[1]}) is larger than the "
                                     f"padded input {hp}x{wp}", x, w)
        ho, wo = (hp - k_eff[0]) // st[0] + 1, (wp - k_eff[1]) // st[1] + 1
        if algorithm == "auto":
            algo, wg = _choose(x, w, (ho, wo), pads, st, dl)
            wg = weight_grad or wg
        else:
            algo, wg = algorithm, weight_grad or ("fft" if algorithm == "fft" else "gemm")
        ctx.attrs.update(stride=st, padding=pads, dilation=dl, algorithm=algo, weight_grad=wg, requested=algorithm)
        ctx.geom = (pads, st, dl, (ho, wo))
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]

        if algo == "fft":
            s = (_fast_len(hp), _fast_len(wp))            # >= the padded size: no wrapped term meets real data
            Xt = _spectrum_t(x, s)                                                  # (L1, L2h, N, C)
            Wc = _spectrum_t(w, s, dl, conj=True)                                   # (L1, L2h, F, C), conjugated
            # correlation: Y[n, f] = sum_c X[n, c] conj(W[f, c]) per frequency
            y = _spatial(np.matmul(Xt, Wc.swapaxes(2, 3)), s)                      # (N, F, L1, L2)
            rows = (np.arange(ho) * st[0] - pads[0][0]) % s[0]
            cols = (np.arange(wo) * st[1] - pads[1][0]) % s[1]
            out = y[:, :, rows[:, None], cols[None, :]]                            # (N, F, Ho, Wo)
            del y
            if b is not None:
                out += b[:, None, None]
            ctx.spectra = (Xt if need_w and wg == "fft" else None, Wc if need_x else None, s)
            ctx.save_for_backward(x if need_w and wg != "fft" else None, w if need_x else None)
            return out

        xp = _pad(x, pads)
        win = _windows(xp, (kh, kw), (ho, wo), st, dl)                 # (C, KH, KW, N, Ho, Wo) view
        w2 = w.reshape(f, c * kh * kw)                                 # (F, C*KH*KW)
        ctx.cols = None
        if algo == "im2col":
            cols = win.reshape(c * kh * kw, n * ho * wo)               # (C*KH*KW, N*Ho*Wo): the one copy
            out = w2 @ cols                                            # (F, N*Ho*Wo)
            if need_w and wg == "gemm":
                ctx.cols = cols
        else:
            out = np.empty((f, n * ho * wo), dtype=x.dtype)            # (F, N*Ho*Wo)
            nb = _chunk(c * kh * kw * ho * wo, n)
            for n0 in range(0, n, nb):
                n1 = min(n, n0 + nb)
                blk = win[:, :, :, n0:n1].reshape(c * kh * kw, -1)    # (C*KH*KW, nb*Ho*Wo)
                np.matmul(w2, blk, out=out[:, n0 * ho * wo:n1 * ho * wo])
        if b is not None:
            out += b[:, None]
        ctx.save_for_backward(x if (need_w and ctx.cols is None) else None, w if need_x else None)
        return out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)         # (N, F, Ho, Wo) view

    @staticmethod
    def backward(ctx, grad):
        x_saved, w = ctx.saved
        pads, st, dl, (ho, wo) = ctx.geom
        algo, wg = ctx.attrs["algorithm"], ctx.attrs["weight_grad"]
        n, c, h, wd = ctx.inputs[0].shape
        f, _, kh, kw = ctx.inputs[1].shape
        need = ctx.needs_input_grad
        dx = dw = db = None
        if algo == "fft":
            Xt, Wc, s = ctx.spectra
            Gt = _spectrum_t(grad, s, st)                                           # (L1, L2h, N, F)
            if need[0]:
                # convolution: DX[n, c] = sum_f G[n, f] W[f, c] per frequency, W = conj(Wc)
                dxs = _spatial(np.matmul(Gt, np.conjugate(Wc)), s)                  # (N, C, L1, L2)
                dx = dxs[:, :, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd]
            if need[1]:
                if wg == "fft":
                    np.conjugate(Gt, out=Gt)
                    dw = _weight_lags(np.matmul(Gt.swapaxes(2, 3), Xt), (kh, kw), pads, dl, s)   # sum over N
                else:
                    dw = _weight_grad_windows(x_saved, grad, (kh, kw), pads, st, dl)
            if len(need) > 2 and need[2]:
                db = grad.sum(axis=(0, 2, 3))
            return (dx, dw) if len(need) == 2 else (dx, dw, db)

        gF = grad.transpose(1, 0, 2, 3)                                # (F, N, Ho, Wo) view
        g2 = gF.reshape(f, n * ho * wo)                                # (F, N*Ho*Wo); free if grad is F-major
        hp, wp = h + sum(pads[0]), wd + sum(pads[1])
        if need[0]:
            buf = np.zeros((c, n, hp, wp), dtype=g2.dtype)             # (C, N, Hp, Wp)
            dxp = buf.transpose(1, 0, 2, 3)                            # (N, C, Hp, Wp) view
            if algo == "im2col":
                # one GEMM per batch chunk (the chunk's columns stay in cache), then col2im over the offsets
                w2t = w.reshape(f, -1).T                               # (C*KH*KW, F)
                nb = _chunk(c * kh * kw * ho * wo, n)
                flat = np.empty(c * kh * kw * min(nb, n) * ho * wo, dtype=g2.dtype)
                for n0 in range(0, n, nb):
                    n1 = min(n, n0 + nb)
                    m = (n1 - n0) * ho * wo
                    dcols = np.matmul(w2t, g2[:, n0 * ho * wo:n0 * ho * wo + m], out=flat[:c * kh * kw * m]
                                      .reshape(c * kh * kw, m)).reshape(c, kh, kw, n1 - n0, ho, wo)
                    part = dxp[n0:n1]
                    for i in range(kh):
                        for j in range(kw):
                            part[_window(i, j, (ho, wo), st, dl)] += dcols[:, i, j].transpose(1, 0, 2, 3)
            else:
                # full correlation with the flipped kernel, one (C, F) @ (F, N*Ho*Wo) GEMM per kernel offset
                tmp = np.empty((c, n * ho * wo), dtype=g2.dtype)
                for i in range(kh):
                    for j in range(kw):
                        np.matmul(w[:, :, i, j].T, g2, out=tmp)                       # (C, N*Ho*Wo)
                        dxp[_window(i, j, (ho, wo), st, dl)] += tmp.reshape(c, n, ho, wo).transpose(1, 0, 2, 3)
            dx = _crop(dxp, pads)
        if need[1]:
            if wg == "fft":
                dw = _weight_grad_fft(x_saved, grad, (kh, kw), pads, st, dl)
            elif ctx.cols is not None:
                dw = (g2 @ ctx.cols.T).reshape(f, c, kh, kw)           # (F, C*KH*KW) -> (F, C, KH, KW)
            else:
                dw = _weight_grad_windows(x_saved, grad, (kh, kw), pads, st, dl)
        if len(need) > 2 and need[2]:
            db = g2.sum(axis=1)                                        # (F,)
        return (dx, dw) if len(need) == 2 else (dx, dw, db)


def _chunk(per_image: int, n: int) -> int:
    """Images per chunk so that a chunk's columns hold about SLIDING_CHUNK_ELEMS elements."""
    return max(1, min(n, SLIDING_CHUNK_ELEMS // max(per_image, 1)))


def _weight_grad_windows(x, grad, k, pads, st, dl):
    """dW by GEMMs of the output gradient against the input's window view, a batch chunk at a time."""
    n, c = x.shape[:2]
    f, ho, wo = grad.shape[1:]
    win = _windows(_pad(x, pads), k, (ho, wo), st, dl)                 # (C, KH, KW, N, Ho, Wo) view
    g2 = grad.transpose(1, 0, 2, 3).reshape(f, n * ho * wo)            # (F, N*Ho*Wo)
    dw2 = np.zeros((f, c * k[0] * k[1]), dtype=grad.dtype)
    nb = _chunk(c * k[0] * k[1] * ho * wo, n)
    for n0 in range(0, n, nb):
        n1 = min(n, n0 + nb)
        blk = win[:, :, :, n0:n1].reshape(c * k[0] * k[1], -1)        # (C*KH*KW, nb*Ho*Wo)
        dw2 += g2[:, n0 * ho * wo:n1 * ho * wo] @ blk.T
    return dw2.reshape(f, c, k[0], k[1])


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, algorithm="auto", weight_grad=None):
    """2-D convolution of x (N, C, H, W) with weight (F, C, KH, KW) plus bias (F,): output (N, F, Ho, Wo).

    ``stride``/``dilation``: int or pair. ``padding``: int, pair, ((top, bottom), (left, right)), "valid" or "same"
    (Keras: output ceil(H / stride), the odd extra row/column at the bottom/right). ``algorithm``: "auto",
    "im2col", "sliding" or "fft" (module docstring). ``weight_grad``: None (the algorithm's own, or the cost
    model's under "auto"), "gemm" or "fft". Both choices are recorded on the tape's Node attrs.
    """
    attrs = dict(stride=stride, padding=padding, dilation=dilation, algorithm=algorithm, weight_grad=weight_grad)
    if bias is None:
        return Conv2d.apply(x, weight, **attrs)
    return Conv2d.apply(x, weight, bias, **attrs)
