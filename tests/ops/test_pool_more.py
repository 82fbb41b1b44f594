"""Pooling options beyond "valid"/"same": numeric and explicit padding, dilation, ceil_mode, return_indices and
max_unpool2d, count_include_pad, the stride alias, adaptive pools; NaN propagation; bad input. Gradient checks here,
PyTorch parity in tests/test_torch_parity_poolnorm.py."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegraph as tg
from tests.ops.cases import Case, params, rand, run_case

D = dict(distinct=True)


def _unpool_case(shape, k, s, p, out=None):
    x = rand(*shape, distinct=True)
    y, idx = tg.max_pool2d(x, k, s, p, return_indices=True)
    return Case(lambda v, i: tg.max_unpool2d(v, i, k, s, p, output_size=out), [rand(*y.shape, seed=3),
                                                                                  idx.data], f"k{k}-s{s}-p{p}-{out}")


GRAD_CASES = {
    "max_pool2d": [
        Case(lambda x: tg.max_pool2d(x, 3, 2, 1), [rand(2, 2, 7, 6, **D)], "pad1"),
        Case(lambda x: tg.max_pool2d(x, (3, 2), 1, ((1, 0), (0, 1))), [rand(1, 2, 5, 5, **D)], "explicit"),
        Case(lambda x: tg.max_pool2d(x, 2, 1, dilation=2), [rand(1, 2, 6, 7, **D)], "dilation"),
        Case(lambda x: tg.max_pool2d(x, 3, 2, (1, 0), dilation=(1, 2), ceil_mode=True), [rand(2, 1, 8, 9, **D)],
             "dil-ceil"),
        Case(lambda x: tg.max_pool2d(x, 2, ceil_mode=True), [rand(1, 2, 5, 7, **D)], "ceil"),
        Case(lambda x: tg.max_pool2d(x, 3, stride=2, padding="same", ceil_mode=True), [rand(1, 1, 6, 5, **D)],
             "same-ceil"),
    ],
    "avg_pool2d": [
        Case(lambda x: tg.avg_pool2d(x, 3, 2, 1), [rand(2, 2, 7, 6)], "pad1-include"),
        Case(lambda x: tg.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [rand(2, 2, 7, 6)], "pad1-exclude"),
        Case(lambda x: tg.avg_pool2d(x, 3, 2, ((1, 0), (1, 1)), ceil_mode=True), [rand(1, 2, 8, 6)], "ceil"),
        Case(lambda x: tg.avg_pool2d(x, 2, stride=1, padding="same", count_include_pad=True), [rand(1, 1, 5, 4)],
             "same-include"),
    ],
    "max_unpool2d": [_unpool_case((2, 2, 6, 6), 2, None, 0), _unpool_case((1, 2, 7, 7), 2, 2, 1, (7, 7)),
                     _unpool_case((1, 1, 7, 5), 2, 2, 0, (7, 5))],
    "adaptive_avg_pool2d": [
        Case(lambda x: tg.adaptive_avg_pool2d(x, (2, 3)), [rand(2, 2, 6, 9)], "divisible"),
        Case(lambda x: tg.adaptive_avg_pool2d(x, (3, 4)), [rand(2, 2, 7, 5)], "overlapping-bins"),
        Case(lambda x: tg.adaptive_avg_pool2d(x, 1), [rand(2, 3, 4, 5)], "global"),
    ],
    "adaptive_max_pool2d": [
        Case(lambda x: tg.adaptive_max_pool2d(x, (2, 3)), [rand(2, 2, 6, 9, **D)], "divisible"),
        Case(lambda x: tg.adaptive_max_pool2d(x, (3, 4)), [rand(2, 2, 7, 5, **D)], "overlapping-bins"),
        Case(lambda x: tg.adaptive_max_pool2d(x, (None, 2)), [rand(1, 2, 3, 5, **D)], "none-keeps"),
    ],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradcheck(op, case):
    run_case(op, case)


# -- values against explicit loops ----------------------------------------------------------------------------------
def naive_max(x, k, s, pads, d=(1, 1), ceil=False):
    """(y, flat indices) by looping over output cells of the -inf-padded input (PyTorch's ceil rule)."""
    n, c, h, w = x.shape
    (t, b), (l, r) = pads
    outs = []
    for size, before, after, kk, ss, dd in ((h, t, b, k[0], s[0], d[0]), (w, l, r, k[1], s[1], d[1])):
        ke = dd * (kk - 1) + 1
        num = size + before + after - ke
        o = (-(-num // ss) if ceil else num // ss) + 1
        if ceil and (o - 1) * ss >= size + before:
            o -= 1
        outs.append(o)
    y = np.full((n, c) + tuple(outs), -np.inf)
    idx = np.zeros((n, c) + tuple(outs), np.int64)
    for a in range(outs[0]):
        for bb in range(outs[1]):
            for i in range(k[0]):
                for j in range(k[1]):
                    r_, c_ = a * s[0] - t + i * d[0], bb * s[1] - l + j * d[1]
                    if 0 <= r_ < h and 0 <= c_ < w:
                        v = x[:, :, r_, c_]
                        better = v > y[:, :, a, bb]
                        y[:, :, a, bb] = np.where(better, v, y[:, :, a, bb])
                        idx[:, :, a, bb] = np.where(better, r_ * w + c_, idx[:, :, a, bb])
    return y, idx


@pytest.mark.parametrize("k,s,pads,d,ceil", [
    ((3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), False),
    ((3, 3), (2, 2), ((1, 1), (0, 0)), (1, 1), True),
    ((2, 3), (3, 2), ((0, 1), (1, 0)), (2, 1), True),
    ((2, 2), (1, 1), ((0, 0), (0, 0)), (3, 2), False),
    ((3, 2), (2, 2), ((1, 0), (0, 1)), (1, 1), True),
])
def test_max_pool_values_and_indices_match_a_loop(k, s, pads, d, ceil):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    y, idx = tg.max_pool2d(x, k, s, pads, dilation=d, ceil_mode=ceil, return_indices=True)
    ry, ridx = naive_max(x, k, s, pads, d, ceil)
    np.testing.assert_array_equal(y.data, ry)
    np.testing.assert_array_equal(idx.data, ridx)
    assert idx.dtype == np.int64 and not idx.requires_grad


def test_ceil_mode_drops_a_window_that_would_start_in_the_right_padding():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    # 5 + 1 + 1 = 7, k 2, s 3: ceil gives 3 windows, but the third starts at 6 >= 5 + 1 -> dropped (PyTorch)
    assert tg.max_pool2d(x, 2, 3, 1, ceil_mode=True).shape == (1, 1, 2, 2)
    assert tg.max_pool2d(x, 2, 2, 0, ceil_mode=True).shape == (1, 1, 3, 3)
    assert tg.max_pool2d(x, 2, 2, 0).shape == (1, 1, 2, 2)


def test_nan_in_a_window_gives_nan_and_its_cell_gets_the_gradient():
    x = np.array([[[[1., np.nan, 3., 9.],
                    [2., 0., 4., 5.],
                    [np.nan, 7., np.nan, 1.],
                    [8., np.nan, 2., 0.]]]])
    t = tg.tensor(x, requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        y, idx = tg.max_pool2d(t, 2, return_indices=True)
    assert np.isnan(y.data[0, 0, 0, 0]) and y.data[0, 0, 0, 1] == 9.0
    assert np.isnan(y.data[0, 0, 1, 0]) and np.isnan(y.data[0, 0, 1, 1])
    tape.backward(y, np.array([[[[1., 2.], [3., 4.]]]]))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 1                        # the NaN cell, not the finite maximum 2
    expected[0, 0, 0, 3] = 2
    expected[0, 0, 3, 1] = 3                        # two NaN cells: the last one (PyTorch)
    expected[0, 0, 2, 2] = 4
    np.testing.assert_array_equal(t.grad, expected)
    np.testing.assert_array_equal(idx.data, [[[[1, 3], [13, 10]]]])
    # no tape: the same values
    np.testing.assert_array_equal(np.isnan(tg.max_pool2d(x, 2).data), np.isnan(y.data))


def test_nan_in_adaptive_max_pool():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = np.nan
    t = tg.tensor(x, requires_grad=True, dtype=np.float64)
    for size in (1, 2):
        with tg.Tape() as tape:
            y, idx = tg.adaptive_max_pool2d(t, size, return_indices=True)
        assert np.isnan(y.data).all()
        assert idx.data.ravel()[0] == 4                # the last NaN of the first bin
        tape.backward(y, np.ones(y.shape))
        assert t.grad[0, 0, 1, 1] >= 1


def test_minus_infinity_input_sends_the_gradient_to_the_first_real_cell():
    x = np.full((1, 1, 2, 2), -np.inf)
    t = tg.tensor(x, requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        y, idx = tg.max_pool2d(t, 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(idx.data, [[[[0, 0, 1], [0, 0, 1], [2, 2, 3]]]])     # PyTorch's answer
    tape.backward(y, np.ones(y.shape))
    np.testing.assert_array_equal(t.grad, [[[[4.0, 2.0], [2.0, 1.0]]]])


def test_avg_pool_count_include_pad_defaults():
    x = np.ones((1, 1, 4, 4))
    # numeric padding: PyTorch's default counts the zero padding
    assert tg.avg_pool2d(x, 3, 1, 1).data[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert tg.avg_pool2d(x, 3, 1, 1, count_include_pad=False).data[0, 0, 0, 0] == 1.0
    # "same": Keras leaves the padding out
    assert tg.avg_pool2d(x, 3, 1, "same").data[0, 0, 0, 0] == 1.0
    assert tg.avg_pool2d(x, 3, 1, "same", count_include_pad=True).data[0, 0, 0, 0] == pytest.approx(4 / 9)


def test_stride_alias():
    x = rand(1, 2, 6, 6)
    for fn in (tg.max_pool2d, tg.avg_pool2d):
        np.testing.assert_array_equal(fn(x, 3, stride=1).data, fn(x, 3, 1).data)
        with pytest.raises(TypeError, match=r"^\w+_pool2d: give strides= or its alias stride=, not both"):
            fn(x, 3, 1, stride=1)


def test_adaptive_pools_match_plain_reductions():
    x = rand(2, 3, 5, 7)
    np.testing.assert_allclose(tg.adaptive_avg_pool2d(x, 1).data, x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(tg.adaptive_max_pool2d(x, 1).data, x.max(axis=(2, 3), keepdims=True))
    np.testing.assert_array_equal(tg.adaptive_max_pool2d(x, (5, 7)).data, x)
    # bins of 7 -> 3: [0, 3), [2, 5), [4, 7)
    y = tg.adaptive_avg_pool2d(x, (1, 3)).data
    np.testing.assert_allclose(y[..., 0, 1], x[:, :, :, 2:5].mean(axis=(2, 3)), rtol=1e-12)


def test_unpool_inverts_pool_and_records_one_op():
    x = np.abs(rand(2, 3, 6, 8, distinct=True)) + 1           # positive: the zeros unpool adds never win
    y, idx = tg.max_pool2d(x, 2, return_indices=True)
    t = tg.tensor(y.data, requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        u = tg.max_unpool2d(t, idx, 2)
    assert [n.op.name for n in tape] == ["max_unpool2d"]
    assert u.shape == x.shape
    np.testing.assert_array_equal(tg.max_pool2d(u.data, 2).data, y.data)
    assert np.count_nonzero(u.data) == y.data.size


X = np.zeros((2, 3, 6, 6))


@pytest.mark.parametrize("call,kind,words", [
    (lambda: tg.max_pool2d(X, 2, padding=(1, 2)), ValueError, ["max_pool2d", "at most half", "[2, 3, 6, 6]"]),
    (lambda: tg.max_pool2d(X, 2, padding=1.5), TypeError, ["max_pool2d", "padding must be", "1.5"]),
    (lambda: tg.max_pool2d(X, 2, padding=True), TypeError, ["max_pool2d", "padding"]),
    (lambda: tg.max_pool2d(X, 2, dilation=0), ValueError, ["max_pool2d", "dilation must be >= 1"]),
    (lambda: tg.max_pool2d(X, 3, dilation=3), ValueError, ["max_pool2d", "dilated pool_size (7, 7) is larger"]),
    (lambda: tg.max_pool2d(X, 2, ceil_mode="yes"), TypeError, ["max_pool2d", "ceil_mode"]),
    (lambda: tg.avg_pool2d(X, 2, count_include_pad=1), TypeError, ["avg_pool2d", "count_include_pad"]),
    (lambda: tg.max_unpool2d(X[:, :, :3, :3], np.zeros((2, 3, 3, 2), np.int64), 2), ValueError,
     ["max_unpool2d", "indices must have x's shape [2, 3, 3, 3]", "int64[2, 3, 3, 2]"]),
    (lambda: tg.max_unpool2d(X[:, :, :3, :3], np.full((2, 3, 3, 3), 36), 2), ValueError,
     ["max_unpool2d", "indices must lie in [0, 36)"]),
    (lambda: tg.max_unpool2d(X[:, :, :3, :3], np.zeros((2, 3, 3, 3)), 2), TypeError,
     ["max_unpool2d", "indices must be integers"]),
    (lambda: tg.max_unpool2d(X[:, :, :3, :3], np.zeros((2, 3, 3, 3), np.int64), 2, output_size=(9, 6)),
     ValueError, ["max_unpool2d", "output_size (9, 6) must lie strictly between (4, 4) and (8, 8)"]),
    (lambda: tg.adaptive_avg_pool2d(X, 0), ValueError, ["adaptive_avg_pool2d", "output_size 0 must be >= 1"]),
    (lambda: tg.adaptive_max_pool2d(X, (2, 2.5)), TypeError, ["adaptive_max_pool2d", "output_size"]),
    (lambda: tg.adaptive_max_pool2d(X[0], 2), ValueError, ["adaptive_max_pool2d", "4-D", "[3, 6, 6]"]),
    (lambda: tg.adaptive_avg_pool2d(X[:, :, :0], 1), ValueError, ["adaptive_avg_pool2d", "spatial size must be "
                                                                  "positive", "[2, 3, 0, 6]"]),
    (lambda: tg.avg_pool2d(X, 2, 10 ** 20), ValueError, ["avg_pool2d", "must be < 2**31"]),
])
def test_bad_input_names_op_argument_and_shapes(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    for w in words:
        assert w in str(info.value), str(info.value)


@pytest.mark.parametrize("fn", [tg.adaptive_avg_pool2d, tg.adaptive_max_pool2d])
def test_adaptive_pools_on_empty_batch_or_channels(fn):
    for shape in ((0, 3, 4, 4), (2, 0, 3, 3)):
        t = tg.tensor(np.zeros(shape), requires_grad=True, dtype=np.float64)
        with tg.Tape() as tape:
            y = fn(t, (2, 3))
        tape.backward(y, np.ones(y.shape))
        assert y.shape == shape[:2] + (2, 3) and t.grad.shape == shape


def naive_avg(x, k, s, pads, ceil, include):
    """PyTorch's avg_pool2d by a loop over output cells: the divisor counts the window clipped to the padded
    input (include) or to the real cells."""
    n, c, h, w = x.shape
    (t, b), (l, r) = pads
    outs = []
    for size, before, after, kk, ss in ((h, t, b, k[0], s[0]), (w, l, r, k[1], s[1])):
        num = size + before + after - kk
        o = (-(-num // ss) if ceil else num // ss) + 1
        if ceil and (o - 1) * ss >= size + before:
            o -= 1
        outs.append(o)
    y = np.zeros((n, c) + tuple(outs))
    for a in range(outs[0]):
        for bb in range(outs[1]):
            r0, c0 = a * s[0] - t, bb * s[1] - l
            r1, c1 = min(r0 + k[0], h + b), min(c0 + k[1], w + r)
            total = x[:, :, max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)].sum(axis=(2, 3))
            count = (r1 - r0) * (c1 - c0) if include else (min(r1, h) - max(r0, 0)) * (min(c1, w) - max(c0, 0))
            y[:, :, a, bb] = total / count
    return y


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), dh=st.integers(1, 3), dw=st.integers(1, 2), pt=st.integers(0, 2), pb=st.integers(0, 2),
       pl=st.integers(0, 2), pr=st.integers(0, 2), ceil=st.booleans(), include=st.booleans())
def test_random_sweep_of_padding_dilation_ceil(h, w, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, ceil, include):
    pads = ((min(pt, kh // 2), min(pb, kh // 2)), (min(pl, kw // 2), min(pr, kw // 2)))
    x = np.random.default_rng(h * 10 + w).standard_normal((2, 2, h, w))
    try:
        y, idx = tg.max_pool2d(x, (kh, kw), (sh, sw), pads, dilation=(dh, dw), ceil_mode=ceil, return_indices=True)
    except ValueError as e:
        assert "is larger than the (padded) input" in str(e)
        return
    ry, ridx = naive_max(x, (kh, kw), (sh, sw), pads, (dh, dw), ceil)
    np.testing.assert_array_equal(y.data, ry)
    real = np.isfinite(ry)                    # a dilated window can miss every real cell: -inf, no index to check
    np.testing.assert_array_equal(idx.data[real], ridx[real])
    a = tg.avg_pool2d(x, (kh, kw), (sh, sw), pads, ceil_mode=ceil, count_include_pad=include)
    np.testing.assert_allclose(a.data, naive_avg(x, (kh, kw), (sh, sw), pads, ceil, include), rtol=1e-12, atol=1e-12)
