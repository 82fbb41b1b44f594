"""Hypothesis: gradients of binary ops and reductions over random shapes, broadcasting, axes and keepdims."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tapegraph as tg

SETTINGS = settings(max_examples=25, deadline=None)
BINARY = {"add": tg.add, "sub": tg.sub, "mul": tg.mul, "div": lambda a, b: a / (b * b + 0.5),
          "maximum": tg.maximum, "minimum": tg.minimum}


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_gradients(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a = rng.permutation(np.arange(int(np.prod(shapes.input_shapes[0])))).reshape(shapes.input_shapes[0]) * 0.3 + 0.1
    b = rng.standard_normal(shapes.input_shapes[1])
    fn = BINARY[op]
    out = fn(tg.tensor(a, dtype=np.float64), tg.tensor(b, dtype=np.float64))
    assert out.shape == shapes.result_shape
    assert tg.gradcheck(fn, [a, b])


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(),
       op=st.sampled_from(["sum", "mean", "max", "min", "var"]), keepdims=st.booleans())
def test_reductions_over_random_axes(shape, data, op, keepdims):
    axes = data.draw(st.none() | st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple))
    if op == "var" and axes is not None and int(np.prod([shape[i] for i in axes])) < 2:
        axes = None
    n = int(np.prod(shape))
    x = np.random.default_rng(n).permutation(n).reshape(shape) * 0.5 - n / 4      # distinct: no max/min ties
    fn = lambda t: getattr(t, op)(axis=axes, keepdims=keepdims)                    # noqa: E731
    out = fn(tg.tensor(x, dtype=np.float64))
    np.testing.assert_allclose(out.data, getattr(np, op)(x, axis=axes, keepdims=keepdims))
    assert tg.gradcheck(fn, [x])
