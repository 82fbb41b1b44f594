"""Fuzzing the public ops: random shapes (zero-size included), dtypes, NaNs and wrong ranks.

Each call either returns the right value (checked against numpy) with a gradient of the input's shape, or raises one
of the documented exceptions (ValueError, TypeError) whose message starts with the op's name. Never an IndexError,
AttributeError or a numpy error from deep inside.
"""
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tapegraph as tg

DOCUMENTED = (ValueError, TypeError)
UNDERLYING = {"flatten": "reshape", "pow": "pow_scalar"}   # wrappers whose errors name the op they record
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UNARY = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "neg": np.negative, "relu": None,
         "sigmoid": None, "tanh": np.tanh, "softmax": None, "log_softmax": None, "sum": np.sum, "mean": np.mean,
         "max": np.max, "min": np.min, "var": np.var, "flatten": None, "squeeze": np.squeeze}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "maximum": np.maximum,
          "minimum": np.minimum, "matmul": np.matmul, "pow": np.power}
DTYPES = [np.float32, np.float64, np.int64, np.bool_, np.complex128, np.str_, np.object_]


@st.composite
def arrays(draw, min_dims=0):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=0, max_side=4))
    if dtype in (np.str_, np.object_):
        return np.full(shape, "x", dtype=dtype) if dtype is np.str_ else np.empty(shape, dtype=object)
    arr = draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(np.dtype(dtype), allow_infinity=False)
                          if dtype not in (np.float32, np.float64) else
                          st.floats(-10, 10, width=32) | st.just(float("nan"))))
    return arr


def call(name, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # NaN/inf from numpy's math are values, not errors
        x = [tg.tensor(a, requires_grad=a.dtype.kind == "f", dtype=a.dtype) for a in args]
        try:
            with tg.Tape() as tape:
                out = getattr(tg, name)(*x)
        except DOCUMENTED as e:
            assert str(e).startswith((name, UNDERLYING.get(name, name))), f"{name}: message does not name the op: {e}"
            return None
        if out.requires_grad:
            tape.backward(out, grad=np.ones_like(out.data))
            for t in x:
                if t.requires_grad and t.grad is not None:
                    assert t.grad.shape == t.shape and t.grad.dtype == t.dtype
        return out


@SETTINGS
@given(name=st.sampled_from(sorted(UNARY)), a=arrays())
def test_unary_ops(name, a):
    out = call(name, a)
    ref = UNARY[name]
    if out is not None and ref is not None and a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(out.data, ref(a), rtol=1e-5, equal_nan=True)


@SETTINGS
@given(name=st.sampled_from(sorted(BINARY)), a=arrays(), b=arrays())
def test_binary_ops(name, a, b):
    out = call(name, a, b)
    if out is not None and a.dtype.kind == "f" and b.dtype.kind == "f":
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(out.data, BINARY[name](a, b), rtol=1e-4, atol=1e-6, equal_nan=True)


@SETTINGS
@given(pred=arrays(), target=arrays(), which=st.sampled_from(["categorical_crossentropy", "binary_crossentropy",
                                                              "mean_squared_error"]))
def test_losses(pred, target, which):
    call(which, pred, target)
