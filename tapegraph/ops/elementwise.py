"""Elementwise ops. Broadcasting is undone by the tape walk, so backward rules return full-shape gradients.

NumPy's rules: bool and integer inputs become the float dtype of the other inputs (float32 if none), so
``t * (t > 0)`` works; a Python or NumPy scalar takes the tensor's dtype (``x ** np.float64(.5)`` and
``x + np.float64(.5)`` stay float32).
"""
from __future__ import annotations

import numpy as np

from .. import buffers
from ..function import Function
from ..threads import map_blocks, memory_order


class _Elementwise(Function):
    promote_bool = True


def _binary(ufunc, a, b):
    """``ufunc(a, b)``; a large result (>= buffers.MIN_BYTES) goes into a pooled array in the larger input's memory
    order (reused across steps: no fresh pages per step, and a conv output's (C, H, W, N) layout is kept), by
    blocks on tapegraph.threads when both inputs have its shape."""
    if a.nbytes < buffers.MIN_BYTES and b.nbytes < buffers.MIN_BYTES:
        return ufunc(a, b)                                     # small: no pooling overhead
    big = a if a.size >= b.size else b
    if a.shape != b.shape and np.broadcast_shapes(a.shape, b.shape) != big.shape:
        return ufunc(a, b)
    out = buffers.empty_in_order_of(big, big.shape, np.result_type(a, b))
    if a.shape != b.shape:
        return ufunc(a, b, out=out)
    map_blocks(lambda ab, bb, ob: ufunc(ab, bb, out=ob), a, b, out, order=memory_order(out))
    return out


class Add(_Elementwise):
    name = "add"

    @staticmethod
    def forward(ctx, a, b):
        return _binary(np.add, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(_Elementwise):
    name = "sub"

    @staticmethod
    def forward(ctx, a, b):
        return _binary(np.subtract, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(_Elementwise):
    name = "mul"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary(np.multiply, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (grad * b if na else None), (grad * a if nb else None)


class Div(_Elementwise):
    name = "div"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        ga = grad / b
        gb = -ga * a / b if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(_Elementwise):
    name = "neg"

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


class Pow(_Elementwise):
    """a ** b for a tensor exponent b. Gradients follow PyTorch at the edges: d/da is 0 where b == 0; d/db is
    a**b * log(a), 0 where a == 0 and b >= 0, -inf where a == 0 and b < 0, NaN where a < 0."""
    name = "pow"

    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        if na:
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = np.where(b == 0, 0, grad * b * np.power(a, b - 1))   # d(a**0)/da = 0, also at a = 0
        else:
            ga = None
        if nb:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                gb = np.where((a == 0) & (b >= 0), 0, grad * out * np.log(a))
        else:
            gb = None
        return ga, gb


class PowScalar(_Elementwise):
    """a ** p for a constant exponent p (an attribute, not an input)."""
    name = "pow_scalar"

    @staticmethod
    def forward(ctx, a, *, exponent):
        ctx.save_for_backward(a)
        if exponent == 2:
            return a * a
        return np.power(a, exponent)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        p = ctx.attrs["exponent"]
        if p == 2:
            return (grad * (a + a),)
        if p == 1:
            return (grad,)
        if p == 0:
            return (np.zeros_like(grad),)
        return (grad * (p * np.power(a, p - 1)),)


class Exp(_Elementwise):
    name = "exp"

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return (grad * ctx.saved[0],)


class Log(_Elementwise):
    name = "log"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        return (grad / ctx.saved[0],)


class Sqrt(_Elementwise):
    name = "sqrt"

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return (grad / (2 * ctx.saved[0]),)


class Abs(_Elementwise):
    """|a|; the gradient at 0 is 0 (the subgradient numpy's sign gives)."""
    name = "abs"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        return (grad * np.sign(ctx.saved[0]),)


class Maximum(_Elementwise):
    """Elementwise max; on ties the gradient is split evenly between a and b."""
    name = "maximum"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return _split_tie(grad, a > b, a == b)


class Minimum(_Elementwise):
    """Elementwise min; on ties the gradient is split evenly between a and b."""
    name = "minimum"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return _split_tie(grad, a < b, a == b)


def _split_tie(grad, a_wins, tie):
    wa = a_wins + 0.5 * tie
    wb = 1.0 - wa
    return grad * wa.astype(grad.dtype, copy=False), grad * wb.astype(grad.dtype, copy=False)


class Clip(_Elementwise):
    """Clip to [lo, hi]; the gradient passes where lo <= a <= hi."""
    name = "clip"

    @staticmethod
    def forward(ctx, a, *, lo, hi):
        mask = np.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        ctx.save_for_backward(mask)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        return (grad * ctx.saved[0],)


class Where(_Elementwise):
    """where(cond, a, b): cond is a boolean mask (no gradient)."""
    name = "where"
    nondiff_inputs = (0,)

    @staticmethod
    def forward(ctx, cond, a, b):
        if cond.dtype != bool:
            raise TypeError(f"where: condition must be a boolean array, got dtype {cond.dtype}")
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved
        _, na, nb = ctx.needs_input_grad
        zero = np.zeros((), grad.dtype)
        return None, (np.where(cond, grad, zero) if na else None), (np.where(cond, zero, grad) if nb else None)


def add(a, b): return Add.apply(a, b)
def sub(a, b): return Sub.apply(a, b)
def mul(a, b): return Mul.apply(a, b)
def div(a, b): return Div.apply(a, b)
def neg(a): return Neg.apply(a)
def exp(a): return Exp.apply(a)
def log(a): return Log.apply(a)
def sqrt(a): return Sqrt.apply(a)
def abs(a): return Abs.apply(a)  # noqa: A001 - mirrors numpy's name
def maximum(a, b): return Maximum.apply(a, b)
def minimum(a, b): return Minimum.apply(a, b)
def where(cond, a, b): return Where.apply(cond, a, b)


def pow(a, b):  # noqa: A001 - mirrors numpy's name
    """a ** b. A Python number exponent is an attribute (pow_scalar); a tensor exponent is differentiated."""
    from ..tensor import Tensor
    if isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, (bool, np.bool_)) \
            and isinstance(a, Tensor):
        # One scalar rule: a Python or NumPy scalar never upcasts the tensor (as in `x + np.float64(.5)`).
        return PowScalar.apply(a, exponent=b.item() if isinstance(b, np.generic) else b)
    return Pow.apply(a, b)


def clip(a, lo=None, hi=None):
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both")
    return Clip.apply(a, lo=lo, hi=hi)
