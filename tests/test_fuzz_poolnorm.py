"""Fuzzing the issue-11 ops (pooling options, adaptive pools, interpolate, pad, activations, norms) with random
shapes (zero-size included), dtypes, NaNs and wrong ranks: each call returns a result whose gradient has the input's
shape and dtype, or raises ValueError/TypeError whose message starts with the op's name."""
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import tapegraph as tg
from tests.test_fuzz import arrays

CALLS = {
    "gelu": lambda x: tg.gelu(x), "gelu-tanh": lambda x: tg.gelu(x, "tanh"), "silu": tg.silu, "elu": tg.elu,
    "softplus": tg.softplus, "hard_sigmoid": tg.hard_sigmoid, "hard_swish": tg.hard_swish,
    "max_pool2d": lambda x: tg.max_pool2d(x, 2, 1, 1, dilation=2, ceil_mode=True),
    "max_pool2d-indices": lambda x: tg.max_pool2d(x, 2, return_indices=True)[0],
    "avg_pool2d": lambda x: tg.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
    "adaptive_avg_pool2d": lambda x: tg.adaptive_avg_pool2d(x, (2, 3)),
    "adaptive_max_pool2d": lambda x: tg.adaptive_max_pool2d(x, (3, 2)),
    "interpolate": lambda x: tg.interpolate(x, size=(3, 5), mode="bilinear"),
    "interpolate-nearest": lambda x: tg.interpolate(x, scale_factor=1.5),
    "pad": lambda x: tg.pad(x, 1, "reflect"), "pad-crop": lambda x: tg.pad(x, (-1, 2), "edge"),
    "layer_norm": lambda x: tg.layer_norm(x, 2), "group_norm": lambda x: tg.group_norm(x, 2),
    "flatten": lambda x: tg.flatten(x, 0, -2),
}
UNDERLYING = {"flatten": ("flatten", "reshape")}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(CALLS)), a=arrays())
def test_new_ops_return_or_raise_a_named_error(name, a):
    op = name.split("-")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = tg.tensor(a, requires_grad=a.dtype.kind == "f", dtype=a.dtype)
        try:
            with tg.Tape() as tape:
                out = CALLS[name](x)
        except (ValueError, TypeError) as e:
            assert str(e).startswith(UNDERLYING.get(op, (op,))), f"{name}: message does not name the op: {e}"
            return
        if out.requires_grad:
            tape.backward(out, grad=np.ones_like(out.data))
            assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
