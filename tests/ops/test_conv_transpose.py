"""conv_transpose2d: float64 gradient checks over strides, paddings, output_padding, dilation and groups; a naive
scatter-loop reference; the adjoint identity with conv2d; recorded attributes; bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegraph as tg
from tests.ops.cases import Case, params, rand, run_case

# (N, C_in, H, W, C_out, groups, KH, KW, stride, padding, output_padding, dilation)
GRID = [
    (2, 3, 4, 5, 2, 1, 3, 3, 1, 0, 0, 1),
    (1, 2, 4, 3, 3, 1, 2, 2, 2, 0, 0, 1),                 # 2x upsampling, kernel 2
    (2, 2, 3, 4, 2, 1, 4, 4, 2, 1, 0, 1),                 # kernel 4, stride 2, padding 1
    (1, 3, 4, 4, 2, 1, 3, 3, 2, 1, 1, 1),                 # output_padding 1
    (1, 2, 3, 4, 3, 1, 3, 2, (2, 3), ((1, 0), (2, 1)), (1, 2), 1),   # asymmetric everything
    (2, 4, 3, 3, 4, 2, 3, 3, 2, 1, 1, 1),                 # groups 2
    (1, 4, 4, 3, 4, 4, 3, 3, 2, 1, 0, 1),                 # depthwise (C_out / groups == 1)
    (1, 4, 3, 4, 2, 2, 3, 3, 1, 2, 1, 2),                 # output_padding < dilation at stride 1, depthwise
    (1, 2, 3, 3, 4, 2, 2, 3, 1, 0, 0, (2, 1)),            # groups with dilation
]


def _fn(s, p, op, d, g, bias=True):
    if bias:
        return lambda x, w, b: tg.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, dilation=d,
                                                   groups=g)
    return lambda x, w: tg.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d, groups=g)


def _inputs(cfg, seed=0):
    n, cin, h, w, cout, g, kh, kw = cfg[:8]
    return [rand(n, cin, h, w, seed=seed), rand(cin, cout // g, kh, kw, seed=seed + 50), rand(cout, seed=seed + 90)]


GRAD_CASES = {"conv_transpose2d": [
    Case(_fn(*cfg[8:10], cfg[10], cfg[11], cfg[5]), _inputs(cfg, i), f"{i}-cin{cfg[1]}-cout{cfg[4]}-g{cfg[5]}-"
         f"k{cfg[6]}x{cfg[7]}-s{cfg[8]}-p{cfg[9]}-op{cfg[10]}-d{cfg[11]}")
    for i, cfg in enumerate(GRID)] + [Case(_fn(2, 0, 0, 1, 1, bias=False), [rand(1, 2, 3, 3), rand(2, 2, 3, 3)],
                                           "no-bias")]}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradcheck(op, case):
    run_case(op, case)


def _pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def naive_transpose(x, w, b, stride, padding, output_padding, dilation, groups):
    """Scatter every input pixel through the kernel (explicit loops), then crop: forward and grads(g)."""
    (sh, sw), (dh, dw), (oh, ow) = _pairs(stride), _pairs(dilation), _pairs(output_padding)
    pads = padding if isinstance(padding, tuple) and isinstance(padding[0], tuple) else \
        tuple((p, p) for p in _pairs(padding))
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    cig = cin // groups
    full_h, full_w = (h - 1) * sh + dh * (kh - 1) + 1 + oh, (wd - 1) * sw + dw * (kw - 1) + 1 + ow
    out_h, out_w = full_h - sum(pads[0]), full_w - sum(pads[1])

    def taps():
        for ci in range(cin):
            gi = ci // cig
            for co in range(cog):
                for a in range(h):
                    for c in range(wd):
                        for i in range(kh):
                            for j in range(kw):
                                r, q = a * sh + i * dh - pads[0][0], c * sw + j * dw - pads[1][0]
                                if 0 <= r < out_h and 0 <= q < out_w:
                                    yield ci, gi * cog + co, co, a, c, i, j, r, q

    y = np.zeros((n, cog * groups, out_h, out_w))
    for ci, oc, co, a, c, i, j, r, q in taps():
        y[:, oc, r, q] += x[:, ci, a, c] * w[ci, co, i, j]
    y += b[None, :, None, None]

    def grads(g):
        dx, dwt = np.zeros_like(x), np.zeros_like(w)
        for ci, oc, co, a, c, i, j, r, q in taps():
            dx[:, ci, a, c] += g[:, oc, r, q] * w[ci, co, i, j]
            dwt[ci, co, i, j] += g[:, oc, r, q] @ x[:, ci, a, c]
        return dx, dwt, g.sum(axis=(0, 2, 3))
    return y, grads


def _run(arrays, **kw):
    ts = [tg.tensor(a, requires_grad=True, dtype=a.dtype) for a in arrays]
    with tg.Tape() as tape:
        y = tg.conv_transpose2d(*ts, **kw)
    g = np.random.default_rng(3).standard_normal(y.shape).astype(arrays[0].dtype)
    tape.backward(y, g)
    return y.data, g, [t.grad for t in ts], tape


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("cfg", GRID, ids=[str(i) for i in range(len(GRID))])
def test_matches_naive_scatter_reference(cfg, dtype, tol):
    s, p, op, d, g = cfg[8], cfg[9], cfg[10], cfg[11], cfg[5]
    arrays = [a.astype(dtype) for a in _inputs(cfg, 7)]
    y, up, got, tape = _run(arrays, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
    assert len(tape) == 1 and tape[0].op.name == "conv_transpose2d"
    ry, grads = naive_transpose(*(a.astype(np.float64) for a in arrays), s, p, op, d, g)
    for name, a, r in zip(("y", "dx", "dw", "db"), (y, *got), (ry, *grads(up.astype(np.float64)))):
        assert a.dtype == dtype and a.shape == r.shape, name
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol * 10, err_msg=name)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), cig=st.integers(1, 3), cog=st.integers(1, 3), groups=st.integers(1, 3),
       h=st.integers(1, 5), w=st.integers(1, 5), k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 2),
       p=st.integers(0, 2), op=st.integers(0, 2))
def test_random_sweep_matches_reference(n, cig, cog, groups, h, w, k, s, d, p, op):
    rng = np.random.default_rng(n + 10 * cig + 100 * cog + 1000 * groups + 7 * h * w)
    x = rng.standard_normal((n, cig * groups, h, w))
    wt, b = rng.standard_normal((cig * groups, cog, k, k)), rng.standard_normal(cog * groups)
    kw = dict(stride=s, padding=p, output_padding=op, dilation=d, groups=groups)
    try:
        tg.conv_transpose2d(x, wt, b, **kw)
    except ValueError as e:                       # output_padding too large, or everything cropped away
        assert "output_padding" in str(e) or "output would be" in str(e)
        return
    y, up, got, _ = _run((x, wt, b), **kw)
    ry, grads = naive_transpose(x, wt, b, s, p, op, d, groups)
    for a, r in zip((y, *got), (ry, *grads(up))):
        np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cfg", GRID, ids=[str(i) for i in range(len(GRID))])
def test_is_the_adjoint_of_conv2d(cfg):
    """<conv2d(z, w), x> == <z, conv_transpose2d(x, w)> for z of the transposed output's shape."""
    s, p, op, d, g = cfg[8], cfg[9], cfg[10], cfg[11], cfg[5]
    x, w, _ = _inputs(cfg, 3)
    y = tg.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d, groups=g).data
    z = np.random.default_rng(1).standard_normal(y.shape)
    pads = p if isinstance(p, tuple) and isinstance(p[0], tuple) else tuple((q, q) for q in _pairs(p))
    cz = tg.conv2d(z, w, stride=s, padding=pads, dilation=d, groups=g).data[:, :, :x.shape[2], :x.shape[3]]
    assert np.isclose((cz * x).sum(), (z * y).sum(), rtol=1e-10)


def test_records_resolved_attrs_and_algorithm():
    x = tg.tensor(rand(2, 4, 5, 5), requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        y1 = tg.conv_transpose2d(x, rand(4, 3, 3, 3), stride=2, padding=1, output_padding=1)
        y2 = tg.conv_transpose2d(x, rand(4, 1, 3, 3), groups=4)
    assert y1.shape == (2, 3, 10, 10) and y2.shape == (2, 4, 7, 7)
    a = tape[0].attrs
    assert (a["stride"], a["padding"], a["output_padding"], a["dilation"], a["groups"]) == \
        ((2, 2), ((1, 1), (1, 1)), (1, 1), (1, 1), 1)
    assert a["algorithm"] in ("im2col", "sliding") and tape[1].attrs["algorithm"] == "im2col"


def test_one_output_channel_per_group_runs_the_depthwise_loops_only_when_columns_would_not_fit(monkeypatch):
    from tapegraph.ops import conv as conv_mod
    x, w = rand(2, 4, 5, 5), rand(4, 1, 3, 3)
    ref = tg.conv_transpose2d(tg.tensor(x, dtype=np.float64), tg.tensor(w, dtype=np.float64), groups=4).data
    monkeypatch.setattr(conv_mod, "IM2COL_MAX_BYTES", 0)
    with tg.Tape() as tape:
        y = tg.conv_transpose2d(tg.tensor(x, requires_grad=True, dtype=np.float64), tg.tensor(w, dtype=np.float64),
                                groups=4)
    assert tape[0].attrs["algorithm"] == "depthwise"
    np.testing.assert_allclose(y.data, ref, rtol=1e-12)


# -- bad input -----------------------------------------------------------------------------------------------------
X = np.zeros((2, 4, 5, 5), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)


@pytest.mark.parametrize("args,kwargs,words", [
    ((X, W), {"stride": 2, "output_padding": 2}, ["output_padding (2, 2) must be smaller than either stride (2, 2)",
                                                  "dilation (1, 1)", "[2, 4, 5, 5]"]),
    ((X, W), {"output_padding": 1}, ["output_padding (1, 1) must be smaller"]),
    ((X, W), {"stride": 2, "dilation": 3, "output_padding": 3}, ["must be smaller than either stride"]),
    ((X, W), {"groups": 3}, ["groups=3 does not divide the 4 input channels"]),
    ((X, np.zeros((3, 3, 3, 3), np.float32)), {}, ["x has 4 channels but weight has 3 input channels",
                                                   "(C_in, C_out/groups, KH, KW)", "[3, 3, 3, 3]"]),
    ((X[0], W), {}, ["x must be 4-D (N, C_in, H, W)", "[4, 5, 5]"]),
    ((X, W[0]), {}, ["weight must be 4-D"]),
    ((X, W, np.zeros(4, np.float32)), {"groups": 2}, ["bias must have shape (6,)"]),
    ((X, W), {"padding": "same"}, ["padding must be an int, a pair", "'same'"]),
    ((X, W), {"padding": 5}, ["output would be"]),
    ((X, W), {"stride": 0}, ["stride must be >= 1"]),
    ((X, W), {"output_padding": -1}, ["output_padding must be >= 0"]),
])
def test_bad_input_raises_value_error_naming_op(args, kwargs, words):
    with pytest.raises(ValueError) as info:
        tg.conv_transpose2d(*args, **kwargs)
    msg = str(info.value)
    assert msg.startswith("conv_transpose2d: "), msg
    for word in words:
        assert word in msg, msg


@pytest.mark.parametrize("kwargs", [{"stride": 1.5}, {"output_padding": True}, {"groups": 2.0}, {"dilation": "1"}])
def test_bad_argument_types_raise_type_error(kwargs):
    with pytest.raises(TypeError, match=r"^conv_transpose2d: "):
        tg.conv_transpose2d(X, W, **kwargs)


def test_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match=r"^conv_transpose2d: .*float32, float64"):
        tg.conv_transpose2d(tg.tensor(X), tg.tensor(W.astype(np.float64), dtype=np.float64))


@pytest.mark.parametrize("cfg", [GRID[2], GRID[4], GRID[5]], ids=["k4s2", "asym", "groups"])
def test_sliding_path_when_columns_exceed_the_budget(monkeypatch, cfg):
    """Past IM2COL_MAX_BYTES the forward adds one GEMM per kernel offset and the backward keeps no columns."""
    from tapegraph.ops import conv as conv_mod
    monkeypatch.setattr(conv_mod, "IM2COL_MAX_BYTES", 0)
    s, p, op, d, g = cfg[8], cfg[9], cfg[10], cfg[11], cfg[5]
    arrays = _inputs(cfg, 5)
    y, up, got, tape = _run(arrays, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
    assert tape[0].attrs["algorithm"] == "sliding"
    ry, grads = naive_transpose(*arrays, s, p, op, d, g)
    for a, r in zip((y, *got), (ry, *grads(up))):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-10)
