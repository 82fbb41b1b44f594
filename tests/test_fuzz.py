"""Fuzzing the public ops: random shapes (zero-size included), dtypes, NaNs and wrong ranks.

Each call either returns the right value (checked against numpy) with a gradient of the input's shape, or raises one
of the documented exceptions (ValueError, TypeError) whose message starts with the op's name. Never an IndexError,
AttributeError or a numpy error from deep inside.
"""
import warnings

import numpy as np
from hypothesis import HealthCheck, event, given, settings, strategies as st
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
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)    # numpy's own note on the mean/var of nothing
            expected = ref(a)
        np.testing.assert_allclose(out.data, expected, rtol=1e-5, equal_nan=True)


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


@st.composite
def conv_args(draw):
    n, c, h, w = (draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(0, 6)), draw(st.integers(0, 6)))
    shape = draw(st.sampled_from([(n, c, h, w)] * 6 + [(c, h, w), (n, c, h, w, 1)]))    # wrong ranks too
    wc = draw(st.sampled_from([c] * 6 + [c + 1]))                                        # channel mismatch too
    kernel = (draw(st.integers(1, 2)), wc, draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dtype = draw(st.sampled_from([np.float32, np.float64] * 3 + [np.int64, np.bool_]))
    x = np.asarray(draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(np.dtype(dtype), allow_nan=False,
                                                                          allow_infinity=False, min_value=-4,
                                                                          max_value=4) if dtype not in (np.bool_,)
                                  else st.booleans())))
    kw = dict(stride=draw(st.sampled_from([1, 2, (1, 2)] * 3 + [0, -1])),
              padding=draw(st.sampled_from([0, 1, "same", "valid", (1, 0)] * 3 + ["full", -1])),
              dilation=draw(st.sampled_from([1, 2])))
    return x, np.ones(kernel, dtype=np.float64 if dtype == np.float64 else np.float32), kw


@SETTINGS
@given(args=conv_args(), algorithm=st.sampled_from(["auto", "sliding", "im2col", "fft"]))
def test_conv2d(args, algorithm):
    x, w, kw = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xt = tg.tensor(x, requires_grad=x.dtype.kind == "f", dtype=x.dtype)
        wt = tg.tensor(w, requires_grad=True, dtype=w.dtype)
        try:
            with tg.Tape() as tape:
                out = tg.conv2d(xt, wt, **kw, algorithm=algorithm)
        except DOCUMENTED as e:
            assert str(e).startswith("conv2d"), e
            event("refused")
            return
        event("computed")
        assert out.ndim == 4 and out.shape[:2] == (x.shape[0], w.shape[0])
        if out.size:
            tape.backward(out, grad=np.ones_like(out.data))
            assert wt.grad.shape == w.shape


@SETTINGS
@given(x=arrays(), pool=st.sampled_from([1, 2, 3, (2, 1), 0]), strides=st.sampled_from([None, 1, 2, 0]),
       padding=st.sampled_from(["valid", "same", "full"]), which=st.sampled_from(["max_pool2d", "avg_pool2d"]))
def test_pooling(x, pool, strides, padding, which):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xt = tg.tensor(x, requires_grad=x.dtype.kind == "f", dtype=x.dtype)
        try:
            with tg.Tape() as tape:
                out = getattr(tg, which)(xt, pool, strides=strides, padding=padding)
        except DOCUMENTED as e:
            assert str(e).startswith(which), e
            event("refused")
            return
        event("computed")
        if out.requires_grad and out.size:
            tape.backward(out, grad=np.ones_like(out.data))
            assert xt.grad.shape == x.shape


LAYERS = {
    "Conv2D": lambda: tg.nn.Conv2D(2, 3, padding="same"), "Dense": lambda: tg.nn.Dense(3),
    "MaxPool2D": lambda: tg.nn.MaxPool2D(2), "AvgPool2D": lambda: tg.nn.AvgPool2D(2),
    "BatchNorm": lambda: tg.nn.BatchNorm(), "Dropout": lambda: tg.nn.Dropout(0.5), "Flatten": lambda: tg.nn.Flatten(),
    "ReLU": lambda: tg.nn.ReLU(), "Softmax": lambda: tg.nn.Softmax(),
}


@SETTINGS
@given(name=st.sampled_from(sorted(LAYERS)), first=arrays(min_dims=1), second=arrays(min_dims=1))
def test_layers_on_random_input(name, first, second):
    """A layer built on one input and then given another: a result, or an error naming the layer."""
    layer = LAYERS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x in (first, second):
            try:
                out = layer(x)
            except DOCUMENTED as e:
                text = str(e)
                assert name in text or text.split(":")[0] in tg.REGISTRY or text.startswith(
                    ("conv2d", "max_pool2d", "avg_pool2d", "matmul", "batch_norm", "dropout", "reshape")), text
                continue
            assert isinstance(out, tg.Tensor)
