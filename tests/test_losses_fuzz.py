"""Fuzzing every loss and option: each call returns a value with gradients of the input's shape and dtype, or raises
ValueError/TypeError whose message starts with the loss's name (never a bare numpy error)."""
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tapegraph as tg
from tapegraph import losses

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = [np.float16, np.float32, np.float64, np.int64, np.uint8, np.bool_]
NAMES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber": "huber", "kld": "kl_divergence",
         "binary_crossentropy": "binary_crossentropy", "categorical_crossentropy": "categorical_crossentropy"}
OPTIONS = {
    "mse": {}, "mae": {},
    "huber": {"delta": st.sampled_from([1.0, 0.5, 0, -1, float("nan"), "1"])},
    "kld": {"log_input": st.sampled_from([True, False]), "log_target": st.sampled_from([True, False])},
    "binary_crossentropy": {"from_logits": st.sampled_from([True, False]),
                            "pos_weight": st.sampled_from([None, 2.0, np.ones(2), np.ones(3), -np.ones(1)])},
    "categorical_crossentropy": {"from_logits": st.sampled_from([True, False, 1]),
                                 "label_smoothing": st.sampled_from([0.0, 0.1, 1.0, 2.0]),
                                 "ignore_index": st.sampled_from([None, 0, 2, -100, 7, 1.5]),
                                 "class_weights": st.sampled_from([None, np.ones(2), np.ones(3), [1, -1, 1]])},
}


@st.composite
def array(draw, shape):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.sampled_from([shape, shape[:1], shape + (1,), (0,) + shape[1:], ()]))
    if dtype is np.bool_:
        return draw(hnp.arrays(dtype, shape))
    if np.dtype(dtype).kind in "iu":
        return draw(hnp.arrays(dtype, shape, elements=st.integers(0, 4)))
    return draw(hnp.arrays(dtype, shape, elements=st.floats(-3, 3, width=16) | st.sampled_from(
        [0.0, 1.0, 0.5, float("nan"), float("inf")])))


@st.composite
def loss_call(draw):
    name = draw(st.sampled_from(sorted(OPTIONS)))
    shape = draw(st.sampled_from([(2, 3), (3, 3, 2), (1, 2), (4,)]))
    kw = {k: draw(v) for k, v in OPTIONS[name].items()}
    kw["reduction"] = draw(st.sampled_from(["mean", "sum", "none", "batchmean", None]))
    return name, draw(array(shape)), draw(array(shape)), kw


@SETTINGS
@given(loss_call())
def test_losses_return_or_refuse_by_name(args):
    name, pred, target, kw = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = tg.tensor(pred, requires_grad=pred.dtype.kind == "f", dtype=pred.dtype)
        try:
            with tg.Tape() as tape:
                out = getattr(losses, name)(x, target, **kw)
        except (ValueError, TypeError) as e:
            assert str(e).startswith(NAMES[name] + ":"), f"{name}: {e}"
            return
        if x.dtype.kind == "f":       # float16 computes and returns float32; integer pred is promoted
            assert out.dtype == (np.float32 if x.dtype.itemsize < 4 else x.dtype)
        assert out.dtype in (np.float32, np.float64)
        if out.requires_grad:
            tape.backward(out, grad=np.ones_like(out.data))
            assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
