"""max_pool2d / avg_pool2d: float64 gradient checks, a naive loop reference, ties, overlapping windows, "same"
padding, dtypes and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegraph as tg
from tests.ops.cases import Case, params, rand, run_case

# (shape, pool_size, strides, padding)
GRID = [
    ((2, 3, 4, 6), 2, None, "valid"),
    ((1, 2, 7, 7), 3, 2, "valid"),             # overlapping 3x3 / stride 2
    ((2, 1, 7, 5), (3, 2), (2, 1), "valid"),   # non-square, overlapping along W
    ((1, 2, 7, 6), 3, 2, "same"),              # "same": -inf (max) / excluded cells (avg) at the border
    ((1, 1, 5, 8), (2, 3), (3, 2), "same"),    # asymmetric "same" padding
    ((3, 1, 5, 5), 1, 2, "valid"),             # 1x1 with stride: gaps between windows
    ((1, 2, 9, 7), 2, 3, "valid"),             # stride > pool
]


def _grad_cases():
    cases = {"max_pool2d": [], "avg_pool2d": []}
    for i, (shape, k, s, p) in enumerate(GRID):
        cid = f"{'x'.join(map(str, shape))}-k{k}-s{s}-{p}"
        # distinct values: no ties within eps, so the max is differentiable at the test point
        cases["max_pool2d"].append(Case(lambda x, k=k, s=s, p=p: tg.max_pool2d(x, k, s, p),
                                        [rand(*shape, seed=i, distinct=True)], cid))
        cases["avg_pool2d"].append(Case(lambda x, k=k, s=s, p=p: tg.avg_pool2d(x, k, s, p), [rand(*shape, seed=i)],
                                        cid))
    return cases


GRAD_CASES = _grad_cases()


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_pool_gradcheck(op, case):
    run_case(op, case)


# -- naive reference: explicit windows, np.argmax (first max) per window -------------------------------------------
def _same(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, out


def naive_pool(x, k, s, padding, kind, g):
    """(y, dx) by looping over output cells; "same" windows are clipped to the real cells."""
    k = (k, k) if isinstance(k, int) else k
    s = k if s is None else ((s, s) if isinstance(s, int) else s)
    n, c, h, w = x.shape
    if padding == "same":
        (top, ho), (left, wo) = _same(h, k[0], s[0]), _same(w, k[1], s[1])
    else:
        top = left = 0
        ho, wo = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    y = np.zeros((n, c, ho, wo), x.dtype)
    dx = np.zeros_like(x)
    for a in range(ho):
        for b in range(wo):
            r0, c0 = a * s[0] - top, b * s[1] - left
            rs, cs = slice(max(r0, 0), min(r0 + k[0], h)), slice(max(c0, 0), min(c0 + k[1], w))
            win = x[:, :, rs, cs]                                       # (N, C, kh', kw')
            flat = win.reshape(n, c, -1)
            if kind == "max":
                am = flat.argmax(axis=2)                                # first maximum
                y[:, :, a, b] = np.take_along_axis(flat, am[..., None], 2)[..., 0]
                ii, jj = np.unravel_index(am, win.shape[2:])
                for nn in range(n):
                    for cc in range(c):
                        dx[nn, cc, rs.start + ii[nn, cc], cs.start + jj[nn, cc]] += g[nn, cc, a, b]
            else:
                y[:, :, a, b] = flat.mean(axis=2)
                dx[:, :, rs, cs] += g[:, :, a, b][:, :, None, None] / flat.shape[2]
    return y, dx


def run_pool(fn, x, *args):
    t = tg.tensor(x, requires_grad=True, dtype=x.dtype)
    with tg.Tape() as tape:
        y = fn(t, *args)
    # integer-valued upstream gradient: sums of overlapping contributions are exact in any order
    g = np.random.default_rng(2).integers(-5, 6, size=y.shape).astype(x.dtype)
    tape.backward(y, g)
    return y.data, g, t.grad, tape[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", GRID, ids=[str(i) for i in range(len(GRID))])
def test_matches_naive_reference_exactly(cfg, dtype):
    shape, k, s, p = cfg
    x = np.random.default_rng(4).standard_normal(shape).astype(dtype)
    y, g, dx, node = run_pool(tg.max_pool2d, x, k, s, p)
    ry, rdx = naive_pool(x, k, s, p, "max", g)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(dx, rdx)        # the gradient lands exactly at each window's argmax
    y, g, dx, node = run_pool(tg.avg_pool2d, x, k, s, p)
    ry, rdx = naive_pool(x, k, s, p, "avg", g)
    assert y.dtype == dx.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(y, ry, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, rdx, rtol=tol, atol=tol)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), kh=st.integers(1, 4),
       kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]),
       ties=st.booleans())
def test_random_sweep_matches_reference(n, c, h, w, kh, kw, sh, sw, padding, ties):
    rng = np.random.default_rng(h * 100 + w * 10 + kh)
    # ties=True: few distinct values, so many windows hold several equal maxima
    x = rng.integers(-2, 3, size=(n, c, h, w)).astype(np.float64) if ties else rng.standard_normal((n, c, h, w))
    try:
        tg.max_pool2d(x, (kh, kw), (sh, sw), padding)
    except ValueError as e:
        assert str(e).startswith("max_pool2d: pool_size") and padding == "valid"
        return
    for fn, kind in ((tg.max_pool2d, "max"), (tg.avg_pool2d, "avg")):
        y, g, dx, _ = run_pool(fn, x, (kh, kw), (sh, sw), padding)
        ry, rdx = naive_pool(x, (kh, kw), (sh, sw), padding, kind, g)
        np.testing.assert_allclose(y, ry, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, rdx, rtol=1e-12, atol=1e-12)


def test_ties_send_the_gradient_to_the_first_maximum():
    x = np.array([[[[0., 5., 1., 1.],
                    [1., 5., 1., 1.],
                    [7., 2., 3., 9.],
                    [7., 7., 9., 9.]]]])
    _, _, dx, _ = run_pool(tg.max_pool2d, x, 2, None, "valid")
    g = np.random.default_rng(2).integers(-5, 6, size=(1, 1, 2, 2)).astype(np.float64)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = g[0, 0, 0, 0]          # 5 at offsets 1 and 3 -> offset 1
    expected[0, 0, 0, 2] = g[0, 0, 0, 1]          # all four equal -> offset 0
    expected[0, 0, 2, 0] = g[0, 0, 1, 0]          # 7 at offsets 0, 2, 3 -> offset 0
    expected[0, 0, 2, 3] = g[0, 0, 1, 1]          # 9 at offsets 1, 2, 3 -> offset 1
    np.testing.assert_array_equal(dx, expected)


def test_overlapping_windows_accumulate_on_a_shared_maximum():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 10.0                           # the centre is the max of all four 3x3/2 windows
    t = tg.tensor(x, requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        y = tg.max_pool2d(t, 3, 2)
    tape.backward(y, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros_like(x)
    expected[0, 0, 2, 2] = 10.0
    np.testing.assert_array_equal(t.grad, expected)
    np.testing.assert_array_equal(y.data, np.full((1, 1, 2, 2), 10.0))


def test_max_same_pads_with_minus_infinity_and_avg_excludes_padding():
    x = -np.arange(1, 26, dtype=np.float64).reshape(1, 1, 5, 5) - 100.0   # all negative: a 0 pad would win
    y = tg.max_pool2d(x, 2, padding="same").data
    assert y.shape == (1, 1, 3, 3) and np.isfinite(y).all()
    assert y[0, 0, 2, 2] == x[0, 0, 4, 4]          # the last window holds one real cell
    np.testing.assert_array_equal(y, naive_pool(x, 2, None, "same", "max", np.zeros((1, 1, 3, 3)))[0])
    a = tg.avg_pool2d(x, 2, padding="same").data
    assert a[0, 0, 2, 2] == x[0, 0, 4, 4]          # mean of the single real cell, not of 4 cells
    assert a[0, 0, 0, 2] == x[0, 0, :2, 4].mean()


def test_layout_is_kept_for_transposed_inputs():
    """A (C, N, H, W)-ordered view (as conv2d returns) pools to the same values and gradients."""
    base = rand(3, 2, 6, 6, distinct=True)                               # (C, N, H, W) memory
    x = base.transpose(1, 0, 2, 3)
    for fn in (tg.max_pool2d, tg.avg_pool2d):
        y1, _, dx1, _ = run_pool(fn, x, 2)
        y2, _, dx2, _ = run_pool(fn, np.ascontiguousarray(x), 2)
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(dx1, dx2)


def test_attrs_and_int_input():
    x = tg.tensor(rand(1, 1, 6, 6), requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        tg.max_pool2d(x, (3, 2), padding="same")
    assert tape[0].attrs["pool_size"] == (3, 2) and tape[0].attrs["strides"] == (3, 2)
    assert tape[0].attrs["padding"] == ((0, 0), (0, 0))
    xi = np.arange(16, dtype=np.int32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(tg.max_pool2d(xi, 2).data, [[[[5, 7], [13, 15]]]])


X = np.zeros((2, 3, 4, 4), np.float32)


@pytest.mark.parametrize("fn", [tg.max_pool2d, tg.avg_pool2d], ids=["max", "avg"])
@pytest.mark.parametrize("x,args,kwargs,words", [
    (X, (5,), {}, ["pool_size (5, 5) is larger", "[2, 3, 4, 4]"]),
    (X, ((2, 6),), {}, ["pool_size (2, 6) is larger", "(4, 4)", "[2, 3, 4, 4]"]),
    (X[0], (2,), {}, ["4-D", "[3, 4, 4]"]),
    (X, (2,), {"strides": 0}, ["strides must be >= 1", "[2, 3, 4, 4]"]),
    (X, (0,), {}, ["pool_size must be >= 1"]),
    (X, (2,), {"padding": "full"}, ["unknown padding 'full'", "[2, 3, 4, 4]"]),
    (X, (2,), {"padding": 2}, ["padding 2 must be >= 0 and at most half of pool_size (2, 2)", "[2, 3, 4, 4]"]),
])
def test_bad_input_raises_value_error_naming_op_and_shapes(fn, x, args, kwargs, words):
    with pytest.raises(ValueError) as info:
        fn(x, *args, **kwargs)
    msg = str(info.value)
    name = "max_pool2d" if fn is tg.max_pool2d else "avg_pool2d"
    assert msg.startswith(f"{name}: ")
    for word in words:
        assert word in msg


def test_integer_input_is_promoted_and_bool_refused():
    out = tg.avg_pool2d(np.arange(16, dtype=np.int64).reshape(1, 1, 4, 4), 2)
    assert out.dtype == np.float32 and out.data[0, 0, 0, 0] == 2.5
    with pytest.raises(TypeError, match=r"^max_pool2d: got a bool array"):
        tg.max_pool2d(np.zeros((1, 1, 4, 4), bool), 2)
