"""Convolution ops (cross-correlation, as in every DL framework), NCHW input, OIHW weight, optional fused bias:
``conv2d`` (with ``groups``), ``conv1d`` (conv2d's kernels on an (N, C, 1, L) view, one conv1d record) and
``conv_transpose2d`` (conv2d's input gradient as its forward, conv2d's forward as its input gradient).

Algorithms (``algorithm=``; the one used is recorded on the Node as ``attrs["algorithm"]``):

- ``"im2col"``: the padded input's sliding windows are copied once into a column matrix (C*KH*KW, Ho*Wo*N) that
  forward keeps; forward and weight gradient are one GEMM each. The input gradient is one GEMM per chunk of output
  rows (so its columns stay in cache) put back by a loop over the KH*KW kernel offsets (col2im; the fastest
  scatter measured, PERF-NOTES), or, at stride 1 with no more filters than channels, conv2d's forward of the padded
  gradient with the flipped kernel.
- ``"sliding"``: nothing but the input is kept. Forward and weight gradient contract a strided window view
  (``as_strided``, no copy) with a GEMM, a chunk of output rows at a time so the transient columns stay small; the
  input gradient is the full correlation of the stride-dilated output gradient with the flipped kernel, done as one
  (C, F) @ (F, Ho*Wo*N) GEMM per kernel offset added into the shifted (strided) input window.
- ``"fft"``: all three passes in the frequency domain (rfft2 over the spatial axes at a 5-smooth length >= the
  padded size, so circular equals linear; one batched (.., A, B) @ (.., B, C) product per frequency; the inverse
  cropped to the needed lags and strides). The forward's input and kernel spectra are kept for backward.
- ``"depthwise"`` (one input channel per group): a loop over the KH*KW kernel offsets of elementwise multiply-adds
  on strided window views, for all three passes (see ``_depthwise_forward``).
- ``"auto"``: a cost model per (shapes, stride, padding, dilation, dtype), cached process-wide in ``AUTO_CHOICES``.
  GEMM paths for small kernels (im2col unless its columns would exceed ``IM2COL_MAX_BYTES``), FFT for large ones.
  With groups > 1: im2col while its columns fit, else "depthwise" for one input channel per group and sliding for
  the rest (FFT is groups=1 only); conv_transpose2d with one output channel per group likewise.

Groups: the GEMM paths split channels as (G, C/G) and filters as (G, F/G) and run one ``np.matmul`` over the
(G, ...) stacks (groups=1 is G = 1 of the same code).

The weight gradient is selectable on its own (``weight_grad="gemm"`` or ``"fft"``; recorded as
``attrs["weight_grad"]``): FFT correlation of input and output gradient, summing over the batch per frequency.
The GEMM paths work batch-innermost: the padded input is a (C, Hp, Wp, N) array, its columns (C*KH*KW,
Ho*Wo*N), and outputs and input gradients are (N, C, H, W) views of (C, H, W, N)-ordered buffers. Every window copy
and col2im add then moves rows of Wo*N contiguous elements instead of Wo (a 7x7 map had rows of 7), 1.3-5x faster
per pass (README "Performance"); the GEMMs are the same products with their columns permuted. A conv's input that
is already batch-innermost (the output of a previous conv, through relu, batch_norm or pooling, which keep the
layout) is padded by one contiguous copy, and a gradient that arrives in that order needs no copy at all.
"""
from __future__ import annotations

import math
import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import buffers, threads
from ..function import Function, op_error
from ..tape import dtype_shapes
from ..threads import for_blocks, map_blocks

# Optional: scipy.fft runs on several threads; numpy.fft is the fallback (and is tested). Imported on first use
# (``_fft_module``), so ``import tapegraph`` never loads scipy; None means numpy.
_UNSET = object()
_scipy_fft = _UNSET
_scipy_found = None                      # whether scipy is installed (find_spec), for the cost model

ALGORITHMS = ("auto", "sliding", "im2col", "fft", "depthwise")
WEIGHT_GRADS = (None, "gemm", "fft")
# im2col keeps its columns between forward and backward; above this size "auto" uses the sliding path instead.
IM2COL_MAX_BYTES = 128 << 20
# The sliding path materialises at most about this many column elements at a time (also the input gradient's
# col2im chunk: 4M beat 1M there, 62 vs 73 ms for 32 -> 64 channels at batch 256).
SLIDING_CHUNK_ELEMS = 1 << 22
# The forward copies and multiplies about this many elements of columns and outputs at a time: a chunk stays in
# cache between its copy, its GEMM and its bias. Batch-innermost, 4M beat 1M, 2M and 8M in whole steps (small
# ResNet, 2 threads, alternated in one process: 222.5 vs 236.3, 224.1 and 228.0 ms; LeNet-5 and the MNIST CNN
# 1-2% faster).
FORWARD_CHUNK_ELEMS = 1 << 22
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
    if max(p) >= MAX_GEOMETRY:
        raise ValueError(f"{op}: {what} must be < 2**31, got {value!r}")
    return p


#: Upper bound (exclusive) on strides, paddings, dilations and kernel sizes: larger ones overflow numpy's C longs
#: in strided views or allocate terabytes; refused with the op's name instead.
MAX_GEOMETRY = 2 ** 31


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


def _pad(x: np.ndarray, pads: tuple, value=0, c_order: bool = False) -> np.ndarray:
    """Spatially padded copy of an (N, C, H, W) array in x's memory order, or C order if ``c_order`` (``x``
    itself when there is no padding and the order is right)."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0 and (not c_order or x.flags.c_contiguous):
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + t + b, w + l + r)
    out = buffers.empty(shape, x.dtype) if c_order else buffers.empty_in_order_of(x, shape, x.dtype)   # reused
    _copy_split(_border(out, pads, value), x)
    return out


def _border(out: np.ndarray, pads: tuple, value) -> np.ndarray:
    """Fill the border of a padded (N, C, Hp, Wp) array (or view) with ``value``; returns the interior view."""
    (t, b), (l, r) = pads
    h, w = out.shape[2] - t - b, out.shape[3] - l - r
    out[:, :, :t] = value
    out[:, :, t + h:] = value
    out[:, :, t:t + h, :l] = value
    out[:, :, t:t + h, l + w:] = value
    return out[:, :, t:t + h, l:l + w]


def _window(i: int, j: int, out_hw: tuple, stride: tuple, dilation: tuple, row0: int = 0) -> tuple:
    """Index of the (N, C, Ho, Wo) input cells that kernel offset (i, j) meets for output rows row0:row0+Ho: a
    strided basic slice (a view)."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    top = i * dh + row0 * sh
    return (slice(None), slice(None), slice(top, top + (ho - 1) * sh + 1, sh),
            slice(j * dw, j * dw + (wo - 1) * sw + 1, sw))


def _pad_bi(x: np.ndarray, pads: tuple) -> np.ndarray:
    """x (N, C, H, W) spatially zero-padded as a batch-innermost (C, Hp, Wp, N) array: x's own memory when there is
    no padding and x is already batch-innermost, else one copy (threaded) into a buffer reused across steps."""
    (t, b), (l, r) = pads
    n, c, h, w = x.shape
    xt = x.transpose(1, 2, 3, 0)
    if t == b == l == r == 0 and xt.flags.c_contiguous:
        return xt
    out = buffers.empty((c, h + t + b, w + l + r, n), x.dtype)
    _copy_to_bi(_border(out.transpose(3, 0, 1, 2), pads, 0).transpose(1, 2, 3, 0), x)
    return out


def _copy_to_bi(dst, x):
    """dst (C, H, W, N) <- x (N, C, H, W), on the threads. From C order with a batch stride that is a multiple of
    1 KiB, the N reads of each output row fall in the same cache sets (64 channels of 32x32: 13 ms instead of ~3
    on one thread); those rows are first copied into a buffer whose rows are 16 elements longer."""
    n = x.shape[0]
    if n > 1 and x.flags.c_contiguous and x.strides[0] % 1024 == 0:
        m = x.size // n
        rows = buffers.empty((n, m + 16), x.dtype)[:, :m]
        _copy_split(rows, x.reshape(n, m))
        x = rows.reshape(x.shape)
    _copy_split(dst, x.transpose(1, 2, 3, 0))


def _copy_split(dst, src):
    """np.copyto(dst, src) on the threads, split along the larger of dst's two outermost axes."""
    order = tuple(range(dst.ndim))
    if dst.ndim > 1 and dst.shape[1] > dst.shape[0]:
        order = (1, 0) + order[2:]
    map_blocks(np.copyto, dst, src, order=order)


def _windows_bi(xp: np.ndarray, k: tuple, out_hw: tuple, stride: tuple, dilation: tuple) -> np.ndarray:
    """Read-only strided view (C, KH, KW, Ho, Wo, N) of a padded batch-innermost (C, Hp, Wp, N) array; no copy."""
    sc, sh, sw, sn = xp.strides
    shape = (xp.shape[0], k[0], k[1], out_hw[0], out_hw[1], xp.shape[3])
    strides = (sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1], sn)
    return as_strided(xp, shape, strides, writeable=False)


def _rows_bi(i: int, j: int, h0: int, h1: int, wo: int, stride: tuple, dilation: tuple) -> tuple:
    """``_window`` for a padded batch-innermost (C, Hp, Wp, N) array: its (C, h1-h0, Wo, N) cells that kernel
    offset (i, j) meets for output rows h0:h1."""
    return _window(i, j, (h1 - h0, wo), stride, dilation, h0)[1:]


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


def _scipy_fft_available() -> bool:
    """Whether scipy.fft can be imported, without importing it (the cost model asks this for every new conv shape;
    importing scipy costs ~20 MB of resident memory and ~0.2 s, paid only by a conv that runs an FFT)."""
    global _scipy_found
    if _scipy_found is None:
        if _scipy_fft is not _UNSET:
            _scipy_found = _scipy_fft is not None
        else:
            import importlib.util
            try:
                _scipy_found = importlib.util.find_spec("scipy") is not None
            except (ImportError, ValueError):  # pragma: no cover - a broken installation
                _scipy_found = False
    return _scipy_found


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
    per_transform = 2.5 * size * math.log2(max(size, 2)) / (10e9 if _scipy_fft_available() else 4e9)
    product = 8.0 * f * c * n * spectrum / 60e9
    full = (2 * n * (c + f) + f * c) * (per_transform + 1.5e-9 * spectrum) + 3 * product
    weight_only = n * (c + f) * (per_transform + 1.5e-9 * spectrum) + product
    return gemm, full, weight_only


def _choose(x, w, out_hw, pads, stride, dilation, groups=1) -> tuple:
    """(algorithm, weight_grad) for "auto", from the cost model; cached per shape in AUTO_CHOICES. Grouped
    convolutions: "depthwise" with one input channel per group, else the GEMM paths (FFT is groups=1 only)."""
    key = (x.shape, w.shape, stride, pads, dilation, x.dtype.str, groups)
    choice = AUTO_CHOICES.get(key)
    if choice is None:
        direct = _direct(x.shape, w.shape, out_hw, x.dtype.itemsize)
        if groups > 1:
            # one input channel per group: the grouped GEMM beats the depthwise loops while its columns fit (32
            # channels 3x3 at 28x28, batch 128, forward + backward: 37 vs 55 ms on 2 threads, 42 vs 79 on one)
            choice = ("depthwise", "direct") if w.shape[1] == 1 and direct == "sliding" else (direct, "gemm")
        else:
            gemm, full, weight_only = _costs(x.shape, w.shape, out_hw, pads)
            options = {("fft", "fft"): full, (direct, "gemm"): 3 * gemm, (direct, "fft"): 2 * gemm + weight_only}
            choice = min(options, key=options.get)
        AUTO_CHOICES[key] = choice
    return choice


# -- grouped GEMM and depthwise kernels, shared by conv2d, conv_transpose2d and conv1d ------------------------------
# Groups are a leading batch axis of every GEMM: channels (C) split as (G, C/G), filters (F) as (G, F/G), so one
# np.matmul over (G, ...) stacks does every group; groups=1 is the same code with G = 1.
def _chunk(per_image: int, n: int, elems: int = SLIDING_CHUNK_ELEMS) -> int:
    """Images per chunk so that a chunk's columns hold about ``elems`` elements."""
    return max(1, min(n, elems // max(per_image, 1)))


def _f_major(grad, groups):
    """(N, F, Ho, Wo) gradient -> (G, F/G, Ho*Wo*N); free when the gradient is batch-innermost (as GEMM outputs
    are), a copy otherwise."""
    n, f, ho, wo = grad.shape
    return _as_f_major(grad).transpose(1, 2, 3, 0).reshape(groups, f // groups, ho * wo * n)


def _gemm_forward(x, w, b, pads, st, dl, out_hw, groups, keep_cols):
    """y (N, F, Ho, Wo), a view of a batch-innermost (F, Ho, Wo, N) buffer, and the im2col columns (G, Cg*KH*KW,
    Ho*Wo*N) when ``keep_cols``, else None. The windows are copied and multiplied a chunk of output rows at a time,
    so each chunk's columns are still in cache for its GEMM; kept columns fill one buffer chunk by chunk, transient
    ones reuse a chunk-sized buffer."""
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    ho, wo = out_hw
    q, row = cg * kh * kw, wo * n                                      # column rows; elements per output row
    win = _windows_bi(_pad_bi(x, pads), (kh, kw), out_hw, st, dl)      # (C, KH, KW, Ho, Wo, N) view
    w3 = w.reshape(groups, f // groups, q)                             # (G, Fg, Cg*KH*KW)
    out = buffers.empty((groups, f // groups, ho * row), x.dtype)     # (G, Fg, Ho*Wo*N), reused across steps
    rows = _chunk((c * kh * kw + f) * row, ho, FORWARD_CHUNK_ELEMS)   # a chunk's columns and outputs
    b3 = None if b is None else b.reshape(groups, f // groups, 1)
    cols = None
    if keep_cols:
        cols6 = buffers.empty(win.shape, x.dtype)                      # the one copy
        cols = cols6.reshape(groups, q, ho * row)                      # (G, Cg*KH*KW, Ho*Wo*N)
    else:
        flat = buffers.empty(c * kh * kw * rows * row, x.dtype)        # one chunk's columns
    for h0 in range(0, ho, rows):
        h1 = min(ho, h0 + rows)
        span = slice(h0 * row, h1 * row)
        if keep_cols:
            dst, blk = cols6[:, :, :, h0:h1], cols[:, :, span]
        else:
            dst = flat[:c * kh * kw * (h1 - h0) * row].reshape(c, kh, kw, h1 - h0, wo, n)
            blk = dst.reshape(groups, q, -1)
        _copy_split(dst, win[:, :, :, h0:h1])          # the windows' columns
        np.matmul(w3, blk, out=out[:, :, span])
        if b is not None:
            out[:, :, span] += b3                                       # while the chunk is in cache
    return out.reshape(f, ho, wo, n).transpose(3, 0, 1, 2), cols       # (N, F, Ho, Wo) view


def _gemm_input_grad(grad, w, in_hw, pads, st, dl, groups, per_offset):
    """dx (N, C, H, W), a view of a batch-innermost buffer, of y = conv(x, w): the transposed convolution of
    ``grad`` (N, F, Ho, Wo).

    ``per_offset``: one (G, Cg, Fg) @ (G, Fg, Ho*Wo*N) GEMM per kernel offset, added into shifted windows; else
    one GEMM per chunk of output rows into columns (kept in cache) put back by col2im over the kernel offsets.
    """
    n, f, ho, wo = grad.shape
    _, cg, kh, kw = w.shape
    c, fg, row = cg * groups, f // groups, wo * n
    if not per_offset and _correlate_input_grad(st, dl, (kh, kw), pads, cg, fg):
        # stride 1: dx is grad, padded by d*(k-1) - p, cross-correlated with the flipped kernel, filters and
        # channels swapped per group: conv2d's own forward, no col2im scatter
        wt = np.ascontiguousarray(w.reshape(groups, fg, cg, kh, kw)[..., ::-1, ::-1].transpose(0, 2, 1, 3, 4))
        # (rows past the last window, as conv_transpose2d's output_padding adds, get zeros: a larger bottom pad)
        pads_t = tuple((d * (k - 1) - p0, size - o + p0)
                       for d, k, (p0, _), size, o in zip(dl, (kh, kw), pads, in_hw, (ho, wo)))
        return _gemm_forward(grad, wt.reshape(c, fg, kh, kw), None, pads_t, (1, 1), dl, in_hw, groups, False)[0]
    g3 = _f_major(grad, groups)                                        # (G, Fg, Ho*Wo*N)
    hp, wp = in_hw[0] + sum(pads[0]), in_hw[1] + sum(pads[1])
    buf = buffers.zeros((c, hp, wp, n), grad.dtype)                    # (C, Hp, Wp, N), reused across steps
    if per_offset:
        w5 = w.reshape(groups, fg, cg, kh, kw)
        tmp = buffers.empty((groups, cg, ho * row), grad.dtype)        # (G, Cg, Ho*Wo*N)
        t4 = tmp.reshape(c, ho, wo, n)
        for i in range(kh):
            for j in range(kw):
                np.matmul(w5[:, :, :, i, j].transpose(0, 2, 1), g3, out=tmp)
                buf[_rows_bi(i, j, 0, ho, wo, st, dl)] += t4
    else:
        w3t = w.reshape(groups, fg, cg * kh * kw).transpose(0, 2, 1)   # (G, Cg*KH*KW, Fg)
        rows = _chunk(c * kh * kw * row, ho)
        flat = buffers.empty(c * kh * kw * rows * row, grad.dtype)
        # channel blocks on the threads; with fewer channels than threads, batch blocks (N is innermost, so a
        # block's rows are shorter but still Wo*N/threads long)
        by_channel = c >= min(threads.THREADS, n)
        for h0 in range(0, ho, rows):
            h1 = min(ho, h0 + rows)
            dcols = np.matmul(w3t, g3[:, :, h0 * row:h1 * row],
                              out=flat[:c * kh * kw * (h1 - h0) * row].reshape(groups, cg * kh * kw, -1))
            dcols = dcols.reshape(c, kh, kw, h1 - h0, wo, n)

            def col2im(lo, hi, dcols=dcols, h0=h0, h1=h1):
                for i in range(kh):
                    for j in range(kw):
                        dst, src = buf[_rows_bi(i, j, h0, h1, wo, st, dl)], dcols[:, i, j]   # (C, rows, Wo, N)
                        if by_channel:
                            dst[lo:hi] += src[lo:hi]
                        else:
                            dst[..., lo:hi] += src[..., lo:hi]
            if by_channel:
                for_blocks(col2im, c, kh * kw * (h1 - h0) * row)
            else:
                for_blocks(col2im, n, c * kh * kw * (h1 - h0) * wo)
    (t, b), (l, r) = pads
    return buf[:, t:hp - b, l:wp - r].transpose(3, 0, 1, 2)


def _correlate_input_grad(st, dl, k, pads, cg, fg) -> bool:
    """Whether ``_gemm_input_grad`` runs as a correlation of the padded gradient (stride 1, padding within the
    dilated kernel's reach) rather than GEMM + col2im: it copies Fg*KH*KW columns per input cell where col2im adds
    Cg*KH*KW; measured (1 thread, 3x3): 16 -> 16 channels 13 vs 20 ms at batch 128, 32 -> 64 10 vs 8 ms."""
    return (st == (1, 1) and fg <= cg
            and all(0 <= p <= d * (kk - 1) for d, kk, pp in zip(dl, k, pads) for p in pp))


def _gemm_weight_grad(x, grad, k, pads, st, dl, groups, cols=None):
    """dW (F, C/G, KH, KW): GEMMs of the output gradient against the kept columns, or against the input's window
    view a chunk of output rows at a time."""
    g3 = _f_major(grad, groups)                                        # (G, Fg, Ho*Wo*N)
    if cols is not None:
        dw3 = np.matmul(g3, cols.transpose(0, 2, 1))                   # (G, Fg, Cg*KH*KW)
    else:
        n, c = x.shape[:2]
        ho, wo = grad.shape[2:]
        q, row = c // groups * k[0] * k[1], wo * n
        win = _windows_bi(_pad_bi(x, pads), k, (ho, wo), st, dl)       # (C, KH, KW, Ho, Wo, N) view
        dw3 = np.zeros((groups, g3.shape[1], q), dtype=grad.dtype)
        part = np.empty_like(dw3)
        rows = _chunk(c * k[0] * k[1] * row, ho, FORWARD_CHUNK_ELEMS)  # a chunk's columns stay in cache
        flat = buffers.empty(c * k[0] * k[1] * rows * row, x.dtype)
        for h0 in range(0, ho, rows):
            h1 = min(ho, h0 + rows)
            dst = flat[:c * k[0] * k[1] * (h1 - h0) * row].reshape(c, k[0], k[1], h1 - h0, wo, n)
            _copy_split(dst, win[:, :, :, h0:h1])          # the windows' columns
            blk = dst.reshape(groups, q, -1)                           # (G, Cg*KH*KW, rows*Wo*N)
            dw3 += np.matmul(g3[:, :, h0 * row:h1 * row], blk.transpose(0, 2, 1), out=part)
    return dw3.reshape(grad.shape[1], -1, k[0], k[1])


# Depthwise (one input channel per group, C = G, F = C*M): a loop over the KH*KW kernel offsets of elementwise
# multiply-accumulates on strided (N, C, Ho, Wo) window views; no GEMM (its inner dimension would be 1). All three
# passes run a batch block at a time (DEPTHWISE_BLOCK_ELEMS output elements), so that the block's accumulator,
# temporary and inputs stay in cache across the offsets (~1.5x faster than whole-batch passes), and blocks run on
# tapegraph.threads (numpy releases the GIL in its elementwise loops; blocks write disjoint slices).
DEPTHWISE_BLOCK_ELEMS = 1 << 19


def _blocks(fn, n: int, nb: int) -> list:
    """[fn(n0, n1) for each batch block of ``nb`` images], the blocks shared out over tapegraph.threads."""
    spans = [(n0, min(n, n0 + nb)) for n0 in range(0, n, nb)]
    parts = [None] * len(spans)

    def run(lo, hi):
        for k in range(lo, hi):
            parts[k] = fn(*spans[k])
    for_blocks(run, len(spans), DEPTHWISE_BLOCK_ELEMS)
    return parts


def _depthwise_forward(x, w, b, pads, st, dl, out_hw):
    n, c = x.shape[:2]
    f, _, kh, kw = w.shape
    mult = f // c
    xp = _pad(x, pads, c_order=True)                                     # batch blocks contiguous
    wk = w.reshape(c, mult, kh, kw)[..., None, None]                   # (C, M, KH, KW, 1, 1)
    out = buffers.empty((n, c, mult) + tuple(out_hw), x.dtype)         # (N, C, M, Ho, Wo) = (N, F, Ho, Wo), reused

    def block(n0, n1):
        o, xb = out[n0:n1], xp[n0:n1]
        t = np.empty_like(o)
        for i in range(kh):
            for j in range(kw):
                win = xb[_window(i, j, out_hw, st, dl)][:, :, None]     # (nb, C, 1, Ho, Wo) view
                np.multiply(win, wk[:, :, i, j], out=o if i == j == 0 else t)
                if i or j:
                    o += t
    _blocks(block, n, max(1, DEPTHWISE_BLOCK_ELEMS // max(1, f * out_hw[0] * out_hw[1])))
    out = out.reshape(n, f, *out_hw)
    if b is not None:
        out += b[:, None, None]
    return out


def _depthwise_input_grad(grad, w, in_hw, pads, st, dl, groups):
    n, f, ho, wo = grad.shape
    kh, kw = w.shape[2:]
    c, mult = groups, f // groups
    g5 = grad.reshape(n, c, mult, ho, wo)                              # a view, also of an F-major gradient
    w4 = w.reshape(c, mult, kh, kw)
    dxp = buffers.empty((n, c, in_hw[0] + sum(pads[0]), in_hw[1] + sum(pads[1])), grad.dtype)   # reused

    def block(n0, n1):
        gb, db = g5[n0:n1], dxp[n0:n1]
        db.fill(0)                                                     # on this block's thread, while in cache
        t = np.empty((n1 - n0, c, ho, wo), dtype=grad.dtype)
        for i in range(kh):
            for j in range(kw):
                if mult == 1:
                    np.multiply(gb[:, :, 0], w4[:, 0, i, j, None, None], out=t)
                else:
                    np.einsum("ncmab,cm->ncab", gb, w4[:, :, i, j], out=t)
                db[_window(i, j, (ho, wo), st, dl)] += t
    _blocks(block, n, max(1, DEPTHWISE_BLOCK_ELEMS // max(1, c * ho * wo)))
    return _crop(dxp, pads)


def _depthwise_weight_grad(x, grad, k, pads, st, dl, groups):
    n, f, ho, wo = grad.shape
    c, mult = groups, f // groups
    xp = _pad(x, pads, c_order=True)
    g5 = grad.reshape(n, c, mult, ho, wo)

    def block(n0, n1):
        dw = np.empty((c, mult) + tuple(k), dtype=grad.dtype)
        xb, gb = xp[n0:n1], g5[n0:n1]
        for i in range(k[0]):
            for j in range(k[1]):
                dw[:, :, i, j] = np.einsum("ncab,ncmab->cm", xb[_window(i, j, (ho, wo), st, dl)], gb)
        return dw
    parts = _blocks(block, n, max(1, DEPTHWISE_BLOCK_ELEMS // max(1, f * ho * wo)))
    dw = sum(parts[1:], parts[0]) if parts else np.zeros((c, mult) + tuple(k), dtype=grad.dtype)
    return dw.reshape(f, 1, k[0], k[1])


def _as_f_major(grad):
    """The (N, F, Ho, Wo) gradient as a view of a batch-innermost (F, Ho, Wo, N) buffer (copied once if it is
    not), so that every GEMM below reshapes it for free."""
    gf = grad.transpose(1, 2, 3, 0)
    if gf.flags.c_contiguous:
        return grad
    out = buffers.empty(gf.shape, grad.dtype)
    _copy_to_bi(out, grad)
    return out.transpose(3, 0, 1, 2)


def _bias_grad(grad):
    gf = grad.transpose(1, 2, 3, 0)
    if gf.flags.c_contiguous:
        return gf.reshape(gf.shape[0], -1).sum(axis=1)
    return grad.sum(axis=(0, 2, 3))


# -- argument checks shared by the three ops -------------------------------------------------------------------------
def _groups_arg(groups, op: str) -> int:
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be a positive int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups!r}")
    return int(groups)


def _check_arrays(op, x, w, b, rank, x_layout, w_layout):
    if x.ndim != rank:
        raise op_error(op, f"x must be {rank}-D {x_layout}", x)
    if w.ndim != rank:
        raise op_error(op, f"weight must be {rank}-D {w_layout}", w)
    if x.dtype.kind != "f" or w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        got = ", ".join(str(a.dtype) for a in (x, w, b) if a is not None)
        raise TypeError(f"{op}: x, weight and bias must share one floating dtype, got {got}")


def _check_groups(op, groups, c, f, cg, w_layout, *shown):
    """conv weight (F, C/groups, ...) against x's C channels."""
    if c % groups:
        raise op_error(op, f"groups={groups} does not divide the {c} input channels", *shown)
    if f % groups:
        raise op_error(op, f"groups={groups} does not divide the {f} output channels (filters)", *shown)
    if cg * groups != c:
        raise op_error(op, f"x has {c} channels but weight expects {cg * groups} ({cg} per group x groups={groups};"
                           f" weight is {w_layout})", *shown)


def _direct(x_shape, w_shape, out_hw, itemsize) -> str:
    """"im2col" unless its kept columns would exceed IM2COL_MAX_BYTES ("sliding" then)."""
    n, c = x_shape[:2]
    kh, kw = w_shape[2:]
    return "im2col" if c * kh * kw * n * out_hw[0] * out_hw[1] * itemsize <= IM2COL_MAX_BYTES else "sliding"


def _conv_setup(op, x, w, b, stride, padding, dilation, groups, algorithm, weight_grad, shown):
    """Validate and resolve one convolution y = conv(x (N, C, H, W), w (F, C/groups, KH, KW)).

    Returns the geometry (pads, stride, dilation, out_hw, groups, algorithm, weight_grad, x_shape, w_shape).
    ``shown``: the arrays error messages print (the caller's, e.g. 3-D for conv1d).
    """
    w_layout = "(F, C/groups, K)" if op == "conv1d" else "(F, C/groups, KH, KW)"
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    if min(f, kh, kw, cg) < 1:
        raise op_error(op, "weight needs at least one filter, one channel and a non-empty kernel", *shown)
    _check_groups(op, groups, c, f, cg, w_layout, *shown)
    if b is not None and b.shape != (f,):
        raise op_error(op, f"bias must have shape ({f},), one per filter", *shown, b)
    if algorithm not in ALGORITHMS:
        raise op_error(op, f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}", *shown)
    if weight_grad not in WEIGHT_GRADS:
        raise op_error(op, f"unknown weight_grad {weight_grad!r}; expected one of {WEIGHT_GRADS}", *shown)
    try:
        st = _pair(stride, "stride", op)
        dl = _pair(dilation, "dilation", op)
        k_eff = ((kh - 1) * dl[0] + 1, (kw - 1) * dl[1] + 1)
        pads = _resolve_padding(padding, (h, wd), k_eff, st, op)
    except (TypeError, ValueError) as e:
        raise _with_shapes(e, *shown) from None
    hp, wp = h + sum(pads[0]), wd + sum(pads[1])
    if hp < k_eff[0] or wp < k_eff[1]:
        raise op_error(op, f"kernel {kh}x{kw} (dilated extent {k_eff[0]}x{k_eff[1]}) is larger than the "
                           f"padded input {hp}x{wp}", *shown)
    out_hw = ((hp - k_eff[0]) // st[0] + 1, (wp - k_eff[1]) // st[1] + 1)
    if groups > 1 and (algorithm == "fft" or weight_grad == "fft"):
        raise op_error(op, f"the FFT paths support groups=1 only, got groups={groups}; use algorithm='auto', "
                           f"'im2col', 'sliding' or 'depthwise'", *shown)
    if algorithm == "depthwise" and cg != 1:
        raise op_error(op, f"algorithm 'depthwise' needs one input channel per group (groups == channels), got "
                           f"{cg} per group", *shown)
    if algorithm == "auto":
        algo, wg = _choose(x, w, out_hw, pads, st, dl, groups)
        wg = weight_grad or wg
    else:
        algo, wg = algorithm, weight_grad or ("fft" if algorithm == "fft" else "gemm")
    if algo == "depthwise":
        wg = "direct"
    return pads, st, dl, out_hw, groups, algo, wg, x.shape, w.shape


def _conv_run(ctx, x, w, b, geo):
    """Forward of a resolved convolution; keeps on ``ctx`` what the needed gradients use."""
    pads, st, dl, (ho, wo), groups, algo, wg = geo[:7]
    ctx.geom = geo
    ctx.cols = ctx.spectra = None
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    if algo == "fft":
        hp, wp = x.shape[2] + sum(pads[0]), x.shape[3] + sum(pads[1])
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
    if algo == "depthwise":
        out = _depthwise_forward(x, w, b, pads, st, dl, (ho, wo))
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        return out
    keep = algo == "im2col" and need_w and wg == "gemm"               # columns only for a GEMM weight gradient
    out, ctx.cols = _gemm_forward(x, w, b, pads, st, dl, (ho, wo), groups, keep_cols=keep)
    ctx.save_for_backward(x if (need_w and ctx.cols is None) else None, w if need_x else None)
    return out


def _conv_grads(ctx, grad):
    """(dx, dw[, db]) of a convolution run by ``_conv_run``; only those ``ctx.needs_input_grad`` asks for."""
    x_saved, w = ctx.saved
    pads, st, dl, _, groups, algo, wg, x_shape, w_shape = ctx.geom
    h, wd = x_shape[2:]
    k = w_shape[2:]
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
                dw = _weight_lags(np.matmul(Gt.swapaxes(2, 3), Xt), k, pads, dl, s)   # sum over N
            else:
                dw = _gemm_weight_grad(x_saved, _as_f_major(grad), k, pads, st, dl, 1)
    elif algo == "depthwise":
        if need[0]:
            dx = _depthwise_input_grad(grad, w, (h, wd), pads, st, dl, groups)
        if need[1]:
            dw = _depthwise_weight_grad(x_saved, grad, k, pads, st, dl, groups)
    else:
        grad = _as_f_major(grad)
        if need[0]:
            dx = _gemm_input_grad(grad, w, (h, wd), pads, st, dl, groups, per_offset=algo == "sliding")
        if need[1]:
            if wg == "fft":
                dw = _weight_grad_fft(x_saved, grad, k, pads, st, dl)
            else:
                dw = _gemm_weight_grad(x_saved, grad, k, pads, st, dl, groups, ctx.cols)
    if len(need) > 2 and need[2]:
        db = _bias_grad(grad)
    return (dx, dw) if len(need) == 2 else (dx, dw, db)


# -- the ops ---------------------------------------------------------------------------------------------------------
class Conv2d(Function):
    """y[n, f] = sum_{c in f's group} x[n, c] (cross-correlated with) w[f, c] + b[f]; module docstring for the
    algorithms."""
    name = "conv2d"

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, dilation, algorithm, weight_grad, groups=1):
        _check_arrays("conv2d", x, w, b, 4, "(N, C, H, W)", "(F, C/groups, KH, KW)")
        groups = _groups_arg(groups, "conv2d")
        geo = _conv_setup("conv2d", x, w, b, stride, padding, dilation, groups, algorithm, weight_grad, (x, w))
        pads, st, dl, _, groups, algo, wg = geo[:7]
        ctx.attrs.update(stride=st, padding=pads, dilation=dl, groups=groups, algorithm=algo, weight_grad=wg,
                         requested=algorithm)
        return _conv_run(ctx, x, w, b, geo)

    @staticmethod
    def backward(ctx, grad):
        return _conv_grads(ctx, grad)


class Conv1d(Function):
    """conv2d over (N, C, 1, L) views of (N, C, L): the same kernels, recorded as one conv1d node."""
    name = "conv1d"

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, dilation, groups):
        op = "conv1d"
        _check_arrays(op, x, w, b, 3, "(N, C, L)", "(F, C/groups, K)")
        groups = _groups_arg(groups, op)
        try:
            s, d = (_single(v, what, op) for v, what in ((stride, "stride"), (dilation, "dilation")))
            k_eff = (w.shape[2] - 1) * d + 1
            expected = "an int, (left, right), 'valid' or 'same'"
            if isinstance(padding, str):
                if padding.lower() not in ("valid", "same"):
                    raise ValueError(f"{op}: unknown padding {padding!r}; expected {expected}")
                pad = _resolve_padding(padding, (1, x.shape[2]), (1, k_eff), (1, s), op)[1]
            elif isinstance(padding, (tuple, list)) and len(padding) == 2:
                pad = _pair(tuple(padding), "padding", op, minimum=0)
            elif isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
                pad = (_single(padding, "padding", op, minimum=0),) * 2
            else:
                raise TypeError(f"{op}: padding must be {expected}, got {padding!r}")
        except (TypeError, ValueError) as e:
            raise _with_shapes(e, x, w) from None
        x4, w4 = x[:, :, None, :], w[:, :, None, :]                     # (N, C, 1, L), (F, C/G, 1, K) views
        geo = _conv_setup(op, x4, w4, b, (1, s), ((0, 0), pad), (1, d), groups, "auto", None, (x, w))
        ctx.attrs.update(stride=s, padding=pad, dilation=d, groups=groups, algorithm=geo[5], weight_grad=geo[6])
        return _conv_run(ctx, x4, w4, b, geo)[:, :, 0]

    @staticmethod
    def backward(ctx, grad):
        grads = list(_conv_grads(ctx, grad[:, :, None]))
        for i in (0, 1):
            if grads[i] is not None:
                grads[i] = grads[i][:, :, 0]
        return tuple(grads)


def _single(v, what, op, minimum=1) -> int:
    """int (or a 1-tuple of one) >= minimum."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
        raise TypeError(f"{op}: {what} must be an int, got {v!r}")
    if v < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {v!r}")
    if v >= MAX_GEOMETRY:
        raise ValueError(f"{op}: {what} must be < 2**31, got {v!r}")
    return int(v)


class ConvTranspose2d(Function):
    """Transposed convolution: y = conv2d_input_grad(x) for the conv2d with weight w viewed as (F=C_in, C_out/G, KH,
    KW); its input gradient is that conv2d's forward and its weight gradient that conv2d's weight gradient with the
    roles of input and output gradient swapped. Output size (H - 1)*stride - top - bottom + dilation*(KH - 1) + 1 +
    output_padding."""
    name = "conv_transpose2d"

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, output_padding, dilation, groups):
        op = "conv_transpose2d"
        _check_arrays(op, x, w, b, 4, "(N, C_in, H, W)", "(C_in, C_out/groups, KH, KW)")
        groups = _groups_arg(groups, op)
        n, cin, h, wd = x.shape
        _, cg, kh, kw = w.shape
        if w.shape[0] != cin:
            raise op_error(op, f"x has {cin} channels but weight has {w.shape[0]} input channels (weight is "
                               f"(C_in, C_out/groups, KH, KW))", x, w)
        if min(cg, kh, kw, cin) < 1:
            raise op_error(op, "weight needs at least one input and one output channel and a non-empty kernel",
                           x, w)
        if cin % groups:
            raise op_error(op, f"groups={groups} does not divide the {cin} input channels", x, w)
        cout = cg * groups
        if b is not None and b.shape != (cout,):
            raise op_error(op, f"bias must have shape ({cout},), one per output channel", x, w, b)
        if isinstance(padding, str):
            raise op_error(op, f"padding must be an int, a pair or ((top, bottom), (left, right)), got {padding!r} "
                               f"(Conv2DTranspose resolves 'same'/'valid')", x, w)
        try:
            st = _pair(stride, "stride", op)
            dl = _pair(dilation, "dilation", op)
            pads = _resolve_padding(padding, (h, wd), (1, 1), st, op)
            opad = _pair(output_padding, "output_padding", op, minimum=0)
        except (TypeError, ValueError) as e:
            raise _with_shapes(e, x, w) from None
        if any(o >= max(s, d) for o, s, d in zip(opad, st, dl)):
            raise op_error(op, f"output_padding {opad} must be smaller than either stride {st} or dilation {dl} "
                               f"(per axis)", x, w)
        out_hw = tuple((size - 1) * s - sum(p) + d * (k - 1) + 1 + o
                       for size, s, p, d, k, o in zip((h, wd), st, pads, dl, (kh, kw), opad))
        if min(out_hw) < 1:
            raise op_error(op, f"output would be {out_hw[0]}x{out_hw[1]}: padding {pads} crops more than the "
                               f"{out_hw[0] + sum(pads[0])}x{out_hw[1] + sum(pads[1])} full output", x, w)
        algo = _direct((n, cout) + out_hw, w.shape, (h, wd), x.dtype.itemsize)
        if cg == 1 and algo == "sliding":
            algo = "depthwise"          # (while the columns fit, GEMM wins here too: 16 -> 1 channels 1.6 vs 6.9 ms)
        ctx.attrs.update(stride=st, padding=pads, output_padding=opad, dilation=dl, groups=groups, algorithm=algo)
        ctx.geom = (pads, st, dl, (h, wd), groups, algo, out_hw)
        if algo == "depthwise":
            out = _depthwise_input_grad(x, w, out_hw, pads, st, dl, groups)
        else:
            out = _gemm_input_grad(x, w, out_hw, pads, st, dl, groups, per_offset=algo == "sliding")
        if b is not None:
            out += b[:, None, None]
        need = ctx.needs_input_grad
        ctx.save_for_backward(x if need[1] else None, w if need[0] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        pads, st, dl, in_hw, groups, algo, _ = ctx.geom
        k = ctx.inputs[1].shape[2:]
        need = ctx.needs_input_grad
        dx = dw = db = None
        if algo == "depthwise":
            if need[0]:
                dx = _depthwise_forward(grad, w, None, pads, st, dl, in_hw)
            if need[1]:
                dw = _depthwise_weight_grad(grad, x, k, pads, st, dl, groups)
        else:
            cols = None
            if need[0]:
                dx, cols = _gemm_forward(grad, w, None, pads, st, dl, in_hw, groups,
                                         keep_cols=algo == "im2col" and need[1])
            if need[1]:
                dw = _gemm_weight_grad(grad, x, k, pads, st, dl, groups, cols)
        if len(need) > 2 and need[2]:
            db = _bias_grad(grad)
        return (dx, dw) if len(need) == 2 else (dx, dw, db)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto", weight_grad=None):
    """2-D convolution of x (N, C, H, W) with weight (F, C/groups, KH, KW) plus bias (F,): output (N, F, Ho, Wo).

    ``stride``/``dilation``: int or pair. ``padding``: int, pair, ((top, bottom), (left, right)), "valid" or "same"
    (Keras: output ceil(H / stride), the odd extra row/column at the bottom/right). ``groups``: input and output
    channels split into ``groups`` independent convolutions (PyTorch's); ``groups == C`` is depthwise.
    ``algorithm``: "auto", "im2col", "sliding", "fft" (groups=1 only) or "depthwise" (one input channel per
    group); see the module docstring. ``weight_grad``: None (the algorithm's own, or the cost model's under
    "auto"), "gemm" or "fft". The choices are recorded on the tape's Node attrs.
    """
    attrs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, algorithm=algorithm,
                 weight_grad=weight_grad)
    if bias is None:
        return Conv2d.apply(x, weight, **attrs)
    return Conv2d.apply(x, weight, bias, **attrs)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of x (N, C, L) with weight (F, C/groups, K) plus bias (F,): output (N, F, Lo).

    ``padding``: int, (left, right), "valid" or "same" (Keras: output ceil(L / stride), the odd extra cell on the
    right; PyTorch accepts "same" only at stride 1, where the two agree). One conv1d record; the algorithm
    conv2d's "auto" picks for the (N, C, 1, L) view is recorded in its attrs.
    """
    attrs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if bias is None:
        return Conv1d.apply(x, weight, **attrs)
    return Conv1d.apply(x, weight, bias, **attrs)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Transposed 2-D convolution (PyTorch's ``conv_transpose2d``): x (N, C_in, H, W), weight (C_in, C_out/groups,
    KH, KW), bias (C_out,); output (N, C_out, (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1, ...).

    ``padding``: int, pair or ((top, bottom), (left, right)) cropped from the full output. ``output_padding``:
    extra rows/columns at the bottom/right, each smaller than the stride or the dilation of its axis.
    """
    attrs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    if bias is None:
        return ConvTranspose2d.apply(x, weight, **attrs)
    return ConvTranspose2d.apply(x, weight, bias, **attrs)
