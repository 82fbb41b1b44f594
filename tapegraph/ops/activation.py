"""Activations. All are numerically stable for inputs of magnitude 1e4 (no overflow warnings, no NaN)."""
from __future__ import annotations

import math

import numpy as np

from .. import buffers
from ..function import Function
from ..threads import map_blocks, memory_order

# Arrays of at least buffers.MIN_BYTES take their outputs and scratch from tapegraph.buffers (reused across steps,
# in the input's memory order); smaller ones keep the plain expressions (less Python overhead).


class ReLU(Function):
    name = "relu"

    @staticmethod
    def forward(ctx, a):
        if a.nbytes < buffers.MIN_BYTES:
            out = np.maximum(a, 0)
        else:
            out = buffers.empty_in_order_of(a, a.shape, a.dtype)
            map_blocks(lambda ab, ob: np.maximum(ab, 0, out=ob), a, out, order=memory_order(out))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        if grad.nbytes < buffers.MIN_BYTES or grad.shape != y.shape:
            return (grad * (y > 0),)
        mask = buffers.empty_in_order_of(y, y.shape, np.bool_)
        out = buffers.empty_in_order_of(y, y.shape, grad.dtype)

        def block(yb, gb, mb, ob):
            np.greater(yb, 0, out=mb)
            np.multiply(gb, mb, out=ob)
        map_blocks(block, y, grad, mask, out)
        return (out,)


class LeakyReLU(Function):
    name = "leaky_relu"

    @staticmethod
    def forward(ctx, a, *, negative_slope):
        pos = a > 0
        ctx.save_for_backward(pos)
        return np.where(pos, a, a * a.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx, grad):
        (pos,) = ctx.saved
        return (np.where(pos, grad, grad * grad.dtype.type(ctx.attrs["negative_slope"])),)


class Sigmoid(Function):
    name = "sigmoid"

    @staticmethod
    def forward(ctx, a):
        if a.nbytes < buffers.MIN_BYTES:
            out = _sigmoid(a)
        else:
            # 1 / (1 + exp(-a)) in place: exp is ~2x faster than tanh on float32; exp(-a) overflows to inf for
            # a < -88 (float32), which gives exactly 0.
            out = buffers.empty_in_order_of(a, a.shape, a.dtype)

            def block(ab, ob):
                np.negative(ab, out=ob)
                with np.errstate(over="ignore"):
                    np.exp(ob, out=ob)
                ob += 1
                np.reciprocal(ob, out=ob)
            map_blocks(block, a, out, order=memory_order(out))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved
        if grad.nbytes < buffers.MIN_BYTES or grad.shape != s.shape:
            return (grad * s * (1 - s),)
        out = buffers.empty_in_order_of(s, s.shape, grad.dtype)

        def block(sb, gb, ob):
            np.subtract(1, sb, out=ob)
            ob *= sb
            ob *= gb
        map_blocks(block, s, grad, out)
        return (out,)


class Tanh(Function):
    name = "tanh"

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved
        return (grad * (1 - t * t),)


def _sigmoid(a):
    """1 / (1 + exp(-a)) as 0.5 * (tanh(a / 2) + 1): no overflow for any |a|, and a's dtype kept."""
    half = a.dtype.type(0.5)
    return half * (np.tanh(a * half) + 1)


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _log_softmax(a, axis):
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    name = "softmax"

    @staticmethod
    def forward(ctx, a, *, axis):
        out = _softmax(a, axis)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved
        axis = ctx.attrs["axis"]
        return (s * (grad - (grad * s).sum(axis=axis, keepdims=True)),)


class LogSoftmax(Function):
    name = "log_softmax"

    @staticmethod
    def forward(ctx, a, *, axis):
        out = _log_softmax(a, axis)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (ls,) = ctx.saved
        axis = ctx.attrs["axis"]
        return (grad - np.exp(ls) * grad.sum(axis=axis, keepdims=True),)


def relu(a): return ReLU.apply(a)
def leaky_relu(a, negative_slope=0.01): return LeakyReLU.apply(a, negative_slope=negative_slope)
def sigmoid(a): return Sigmoid.apply(a)
def tanh(a): return Tanh.apply(a)
def _axis(op, axis):
    """An int axis (numpy's axis=None would mix samples: refused); the range is checked against x by numpy."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -2 ** 31 < axis < 2 ** 31:
        raise ValueError(f"{op}: axis {axis} is out of range")
    return int(axis)


def softmax(a, axis=-1): return Softmax.apply(a, axis=_axis("softmax", axis))
def log_softmax(a, axis=-1): return LogSoftmax.apply(a, axis=_axis("log_softmax", axis))


# -- smooth and hard activations (PyTorch's definitions) -------------------------------------------------------------
_SQRT_2_OVER_PI = np.sqrt(2 / np.pi)
_INV_SQRT_2 = 1 / np.sqrt(2)
_INV_SQRT_2PI = 1 / np.sqrt(2 * np.pi)


_math_erf = np.frompyfunc(math.erf, 1, 1)


def _erf(a):
    """erf(a) in a's dtype: scipy.special.erf when scipy is installed; else, for float32 and below, a rational fit
    (Numerical Recipes' erfc Chebyshev form, relative error < 1.2e-7: float32 precision) and, for float64, the
    correctly rounded ``math.erf`` element by element (slow, but float64 is what gradient checks use)."""
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - exercised by test_activation_more with scipy hidden
        if a.dtype == np.float64:
            return _math_erf(a).astype(np.float64)
        return _erf_fallback(a)
    return erf(a).astype(a.dtype, copy=False)


def _erf_fallback(a):
    z = np.abs(a).astype(np.float64)
    t = 1 / (1 + 0.5 * z)
    poly = (-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(-z * z + poly)
    return np.where(a >= 0, 1 - erfc, erfc - 1).astype(a.dtype, copy=False)


class GELU(Function):
    """x * Phi(x) (``approximate="none"``) or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ("tanh")."""
    name = "gelu"

    @staticmethod
    def forward(ctx, a, *, approximate):
        ctx.save_for_backward(a)
        half = a.dtype.type(0.5)
        if approximate == "tanh":
            t = np.tanh(a.dtype.type(_SQRT_2_OVER_PI) * (a + a.dtype.type(0.044715) * a * a * a))
            ctx.t = t
            return half * a * (1 + t)
        cdf = half * (1 + _erf(a * a.dtype.type(_INV_SQRT_2)))
        ctx.cdf = cdf
        return a * cdf

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        half = a.dtype.type(0.5)
        if ctx.attrs["approximate"] == "tanh":
            t = ctx.t
            inner_d = a.dtype.type(_SQRT_2_OVER_PI) * (1 + a.dtype.type(3 * 0.044715) * a * a)
            return (grad * (half * (1 + t) + half * a * (1 - t * t) * inner_d),)
        pdf = a.dtype.type(_INV_SQRT_2PI) * np.exp(-half * a * a)
        return (grad * (ctx.cdf + a * pdf),)


class SiLU(Function):
    """x * sigmoid(x) (swish)."""
    name = "silu"

    @staticmethod
    def forward(ctx, a):
        s = _sigmoid(a)
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx, grad):
        a, s = ctx.saved
        return (grad * s * (1 + a * (1 - s)),)


class ELU(Function):
    """x for x > 0, alpha * (exp(x) - 1) otherwise; the gradient at 0 is alpha (PyTorch)."""
    name = "elu"

    @staticmethod
    def forward(ctx, a, *, alpha):
        pos = a > 0
        al = a.dtype.type(alpha)
        neg = al * np.expm1(np.minimum(a, 0))
        ctx.save_for_backward(pos, neg)
        return np.where(pos, a, neg)

    @staticmethod
    def backward(ctx, grad):
        pos, neg = ctx.saved
        return (np.where(pos, grad, grad * (neg + grad.dtype.type(ctx.attrs["alpha"]))),)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch)."""
    name = "softplus"

    @staticmethod
    def forward(ctx, a, *, beta, threshold):
        bx = a * a.dtype.type(beta)
        lin = bx > threshold
        ctx.save_for_backward(bx, lin)
        return np.where(lin, a, np.logaddexp(a.dtype.type(0), bx) / a.dtype.type(beta))

    @staticmethod
    def backward(ctx, grad):
        bx, lin = ctx.saved
        return (np.where(lin, grad, grad * _sigmoid(bx)),)


class HardSigmoid(Function):
    """relu6(x + 3) / 6; gradient 1/6 strictly inside (-3, 3), else 0 (PyTorch)."""
    name = "hard_sigmoid"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.clip(a + a.dtype.type(3), 0, 6) / a.dtype.type(6)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return (grad * (((a > -3) & (a < 3)) / grad.dtype.type(6)).astype(grad.dtype, copy=False),)


class HardSwish(Function):
    """x * relu6(x + 3) / 6; gradient 0 up to -3, x / 3 + 1/2 strictly inside (-3, 3), 1 from 3 (PyTorch 2.x)."""
    name = "hard_swish"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * np.clip(a + a.dtype.type(3), 0, 6) / a.dtype.type(6)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        mid = a / a.dtype.type(3) + a.dtype.type(0.5)
        return (grad * np.where(a <= -3, 0, np.where(a < 3, mid, 1)).astype(grad.dtype, copy=False),)


def _number(op, what, v, positive=False):
    if (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating))
            or not np.isfinite(float(v))):
        raise TypeError(f"{op}: {what} must be a finite real number, got {v!r}")
    if positive and v <= 0:
        raise ValueError(f"{op}: {what} must be > 0, got {v!r}")
    return float(v)


def gelu(a, approximate="none"):
    """Gaussian error linear unit: x * Phi(x); ``approximate="tanh"`` uses the tanh form (PyTorch's two modes)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(a, approximate=approximate)


def silu(a):
    """x * sigmoid(x), a.k.a. swish."""
    return SiLU.apply(a)


def elu(a, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return ELU.apply(a, alpha=_number("elu", "alpha", alpha))


def softplus(a, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta; linear (x) where beta * x > threshold, as PyTorch."""
    return Softplus.apply(a, beta=_number("softplus", "beta", beta, positive=True),
                          threshold=_number("softplus", "threshold", threshold))


def hard_sigmoid(a):
    """relu6(x + 3) / 6 (PyTorch's hardsigmoid)."""
    return HardSigmoid.apply(a)


def hard_swish(a):
    """x * relu6(x + 3) / 6 (PyTorch's hardswish)."""
    return HardSwish.apply(a)
