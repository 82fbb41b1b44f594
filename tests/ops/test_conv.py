"""conv2d: float64 gradient checks for every algorithm over strides, paddings, kernels, dilations; the algorithms
against each other and a naive loop reference; recorded attributes, the "auto" chooser, and bad input."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegraph as tg
from tapegraph.ops import conv as conv_mod
from tapegraph.threads import memory_order
from tests.ops.cases import Case, params, rand, run_case

ALGOS = ("sliding", "im2col", "fft")
# (algorithm, weight_grad): every path, and each weight-gradient method on every path
METHODS = [(a, None) for a in ALGOS] + [("sliding", "fft"), ("im2col", "fft"), ("fft", "gemm")]

# (N, C, H, W, F, KH, KW, stride, padding, dilation): small, so central differences stay cheap.
GRID = [
    (1, 1, 5, 5, 1, 3, 3, 1, "valid", 1),
    (2, 3, 6, 5, 2, 2, 3, (1, 2), 1, 1),
    (1, 2, 8, 7, 3, 3, 3, 2, "same", 1),                 # asymmetric "same" padding (extra row/col after)
    (3, 2, 6, 7, 2, 1, 1, 3, "same", 1),                 # 1x1 kernel, stride 3
    (1, 4, 8, 6, 2, 5, 4, 1, ((2, 1), (0, 3)), 1),       # explicit asymmetric padding, 5-wide kernel
    (2, 1, 9, 8, 3, 3, 2, (3, 2), "valid", 2),           # dilation 2 with stride 3
    (1, 3, 7, 6, 2, 3, 3, 1, "same", (2, 1)),            # "same" with dilation
    (2, 2, 5, 6, 3, 4, 4, 2, (1, 2), 1),                 # even kernel, stride 2
]


def _fn(stride, padding, dilation, algo, wg=None, bias=True):
    kw = dict(stride=stride, padding=padding, dilation=dilation, algorithm=algo, weight_grad=wg)
    if bias:
        return lambda x, w, b: tg.conv2d(x, w, b, **kw)
    return lambda x, w: tg.conv2d(x, w, **kw)


def _grad_cases():
    cases = []
    for gi, (n, c, h, w, f, kh, kw, s, p, d) in enumerate(GRID):
        for algo, wg in METHODS:
            ins = [rand(n, c, h, w, seed=gi), rand(f, c, kh, kw, seed=gi + 50), rand(f, seed=gi + 90)]
            cases.append(Case(_fn(s, p, d, algo, wg), ins,
                              f"{algo}-dW{wg or ''}-{n}x{c}x{h}x{w}-k{kh}x{kw}-s{s}-p{p}-d{d}"))
    cases.append(Case(_fn(1, "same", 1, "auto", bias=False), [rand(2, 2, 4, 5), rand(3, 2, 3, 3, seed=1)],
                      "auto-no-bias"))
    return cases


GRAD_CASES = {"conv2d": _grad_cases()}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_conv2d_gradcheck(op, case):
    run_case(op, case)


# -- naive reference: loops over output pixels and kernel taps, written independently of the op ------------------
def naive_conv(x, w, b, stride, pads, dilation):
    """Forward and a function returning (dx, dw, db) for an upstream gradient g, by explicit loops."""
    (sh, sw), (dh, dw_), ((pt, pb), (pl, pr)) = stride, dilation, pads
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), x.dtype)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    ho = (xp.shape[2] - (kh - 1) * dh - 1) // sh + 1
    wo = (xp.shape[3] - (kw - 1) * dw_ - 1) // sw + 1
    y = np.zeros((n, f, ho, wo), x.dtype)
    for a in range(ho):
        for bb in range(wo):
            for i in range(kh):
                for j in range(kw):
                    y[:, :, a, bb] += xp[:, :, a * sh + i * dh, bb * sw + j * dw_] @ w[:, :, i, j].T
    if b is not None:
        y += b[None, :, None, None]

    def grads(g):
        dxp = np.zeros_like(xp)
        dw = np.zeros_like(w)
        for a in range(ho):
            for bb in range(wo):
                for i in range(kh):
                    for j in range(kw):
                        dxp[:, :, a * sh + i * dh, bb * sw + j * dw_] += g[:, :, a, bb] @ w[:, :, i, j]
                        dw[:, :, i, j] += g[:, :, a, bb].T @ xp[:, :, a * sh + i * dh, bb * sw + j * dw_]
        return dxp[:, :, pt:pt + h, pl:pl + wd], dw, g.sum(axis=(0, 2, 3))
    return y, grads


def run_conv(x, w, b, algo, wg=None, **kw):
    ts = [tg.tensor(a, requires_grad=True, dtype=a.dtype) for a in (x, w, b)]
    with tg.Tape() as tape:
        y = tg.conv2d(*ts, algorithm=algo, weight_grad=wg, **kw)
    g = np.random.default_rng(3).standard_normal(y.shape).astype(x.dtype)
    tape.backward(y, g)
    return y.data, g, [t.grad for t in ts], tape[0].attrs


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("cfg", GRID, ids=[str(i) for i in range(len(GRID))])
def test_algorithms_match_naive_reference(cfg, dtype, tol):
    n, c, h, w, f, kh, kw, s, p, d = cfg
    rng = np.random.default_rng(11)
    x, wt, b = (rng.standard_normal(sh).astype(dtype) for sh in ((n, c, h, w), (f, c, kh, kw), (f,)))
    for algo, wg in METHODS + [("auto", None)]:
        y, g, (dx, dw, db), attrs = run_conv(x, wt, b, algo, wg, stride=s, padding=p, dilation=d)
        ry, grads = naive_conv(x.astype(np.float64), wt.astype(np.float64), b.astype(np.float64), attrs["stride"],
                               attrs["padding"], attrs["dilation"])
        rdx, rdw, rdb = grads(g.astype(np.float64))
        for name, got, ref in (("y", y, ry), ("dx", dx, rdx), ("dw", dw, rdw), ("db", db, rdb)):
            assert got.dtype == dtype, (algo, name, got.dtype)
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * 10, err_msg=f"{algo}/{wg} {name}")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), f=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       dh=st.integers(1, 2), dw=st.integers(1, 2),
       padding=st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2),
                         st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                                   st.tuples(st.integers(0, 2), st.integers(0, 2)))))
def test_random_sweep_all_algorithms_agree_with_reference(n, c, f, h, w, kh, kw, sh, sw, dh, dw, padding):
    rng = np.random.default_rng(n * 1000 + c * 100 + h * 10 + w)
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw)), rng.standard_normal(f)
    kwargs = dict(stride=(sh, sw), padding=padding, dilation=(dh, dw))
    try:
        tg.conv2d(x, wt, b, **kwargs)
    except ValueError as e:                    # kernel larger than the padded input: must say so, by name
        assert str(e).startswith("conv2d: kernel")
        return
    for algo, wg in METHODS:
        y, g, (dx, dw_, db), attrs = run_conv(x, wt, b, algo, wg, **kwargs)
        ry, grads = naive_conv(x, wt, b, attrs["stride"], attrs["padding"], attrs["dilation"])
        for got, ref in zip((y, dx, dw_, db), (ry, *grads(g))):
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9, err_msg=f"{algo}/{wg}")


def _batch_innermost(a):
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


@pytest.mark.parametrize("layout", ["c", "batch-innermost", "strided"])
@pytest.mark.parametrize("algo", ["im2col", "sliding"])
@pytest.mark.parametrize("padding,stride,groups", [("valid", 1, 1), (1, 1, 2), (1, 2, 1), ("valid", 2, 2)])
def test_any_memory_layout_of_input_and_gradient_gives_the_reference(layout, algo, padding, stride, groups):
    # the GEMM paths view a batch-innermost input without copying it (valid padding) and copy any other layout;
    # outputs and input gradients are batch-innermost views; the upstream gradient may come in any layout
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 8, 16))             # C order: a 4 KiB batch stride takes the re-strided copy
    w, b = rng.standard_normal((6, 4 // groups, 3, 3)), rng.standard_normal(6)
    if layout == "batch-innermost":
        x = _batch_innermost(x)
    elif layout == "strided":
        x = rng.standard_normal((3, 4, 8, 32))[:, :, :, ::2]
    xt, wt, bt = (tg.tensor(a, requires_grad=True, dtype=np.float64) for a in (x, w, b))
    assert (xt.data.transpose(1, 2, 3, 0).flags.c_contiguous) == (layout == "batch-innermost")
    with tg.Tape() as tape:
        y = tg.conv2d(xt, wt, bt, stride=stride, padding=padding, groups=groups, algorithm=algo)
    g = rng.standard_normal(y.shape)
    tape.backward(y, g if layout == "c" else _batch_innermost(g) if layout == "batch-innermost" else g[::-1][::-1])
    assert memory_order(y.data) == memory_order(xt.grad) == (1, 2, 3, 0)     # (dx: a crop of the padded one)
    pads = tape[0].attrs["padding"]
    for gi in range(groups):
        cs, fs = slice(gi * 4 // groups, (gi + 1) * 4 // groups), slice(gi * 6 // groups, (gi + 1) * 6 // groups)
        ry, grads = naive_conv(x[:, cs], w[fs], b[fs], (stride, stride), pads, (1, 1))
        rdx, rdw, rdb = grads(g[:, fs])
        np.testing.assert_allclose(y.data[:, fs], ry, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(xt.grad[:, cs], rdx, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(wt.grad[fs], rdw, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(bt.grad[fs], rdb, rtol=1e-10, atol=1e-10)


def test_same_padding_follows_keras():
    """Output ceil(H / stride); the odd extra row/column of padding goes at the bottom/right."""
    x, w = np.zeros((1, 1, 8, 7), np.float32), np.zeros((1, 1, 3, 4), np.float32)
    with tg.Tape() as tape:
        y = tg.conv2d(tg.tensor(x, requires_grad=True), w, stride=2, padding="same")
    assert y.shape == (1, 1, 4, 4)
    # rows: (4-1)*2 + 3 - 8 = 1 -> (0, 1); cols: (4-1)*2 + 4 - 7 = 3 -> (1, 2)
    assert tape[0].attrs["padding"] == ((0, 1), (1, 2))
    assert tg.conv2d(np.zeros((1, 1, 5, 6)), np.zeros((2, 1, 3, 3)), padding="same").shape == (1, 2, 5, 6)


def test_node_attrs_record_resolved_geometry_and_algorithm():
    x = tg.tensor(rand(1, 2, 6, 6), requires_grad=True, dtype=np.float64)
    for requested in ("auto", "sliding", "im2col", "fft"):
        with tg.Tape() as tape:
            tg.conv2d(x, rand(3, 2, 3, 3), stride=(2, 1), padding=1, dilation=2, algorithm=requested)
        attrs = tape[0].attrs
        assert attrs["stride"] == (2, 1) and attrs["dilation"] == (2, 2)
        assert attrs["padding"] == ((1, 1), (1, 1))
        assert attrs["requested"] == requested
        assert attrs["algorithm"] in ("sliding", "im2col", "fft") and attrs["weight_grad"] in ("gemm", "fft")
        if requested != "auto":
            assert attrs["algorithm"] == requested
            assert attrs["weight_grad"] == ("fft" if requested == "fft" else "gemm")
    with tg.Tape() as tape:
        tg.conv2d(x, rand(3, 2, 3, 3), algorithm="auto", weight_grad="fft")
    assert tape[0].attrs["weight_grad"] == "fft"


def test_auto_chooser_cost_model_and_cache(monkeypatch):
    monkeypatch.setattr(conv_mod, "AUTO_CHOICES", {})
    choose = conv_mod._choose
    small = choose(np.empty((64, 32, 13, 13), np.float32), np.empty((64, 32, 3, 3), np.float32), (11, 11),
                   ((0, 0), (0, 0)), (1, 1), (1, 1))
    big = choose(np.empty((16, 16, 64, 64), np.float32), np.empty((32, 16, 11, 11), np.float32), (54, 54),
                 ((0, 0), (0, 0)), (1, 1), (1, 1))
    assert small == ("im2col", "gemm") and big == ("fft", "fft")
    assert sorted(conv_mod.AUTO_CHOICES.values()) == [("fft", "fft"), ("im2col", "gemm")]
    # Columns beyond the memory budget move "auto" to the sliding path.
    monkeypatch.setattr(conv_mod, "IM2COL_MAX_BYTES", 1024)
    assert choose(np.empty((8, 4, 16, 16), np.float32), np.empty((4, 4, 3, 3), np.float32), (14, 14),
                  ((0, 0), (0, 0)), (1, 1), (1, 1)) == ("sliding", "gemm")
    # The cache answers for a shape already seen.
    conv_mod.AUTO_CHOICES[next(iter(conv_mod.AUTO_CHOICES))] = ("sliding", "fft")
    assert choose(np.empty((64, 32, 13, 13), np.float32), np.empty((64, 32, 3, 3), np.float32), (11, 11),
                  ((0, 0), (0, 0)), (1, 1), (1, 1)) == ("sliding", "fft")


def test_auto_chooser_does_not_import_scipy():
    """The cost model asks whether scipy is installed without importing it (~20 MB resident): a 3x3 conv that never
    runs an FFT leaves scipy unloaded."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, tapegraph as tg\n"
            "tg.conv2d(np.ones((2, 3, 8, 8), np.float32), np.ones((4, 3, 3, 3), np.float32))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy')[:1])")
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120,
                         env=dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("backend", ["numpy", "default"])
def test_fft_paths_numpy_fallback_and_default_backend(monkeypatch, backend):
    """"numpy" forces numpy.fft; "default" is scipy.fft where installed (numpy.fft again where not)."""
    if backend == "numpy":
        monkeypatch.setattr(conv_mod, "_scipy_fft", None)
    assert (conv_mod._fft_module() is None) == (backend == "numpy" or importlib.util.find_spec("scipy") is None)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        rng = np.random.default_rng(5)
        x, w, b = rng.standard_normal((2, 3, 11, 9)), rng.standard_normal((4, 3, 5, 3)), rng.standard_normal(4)
        x, w, b = x.astype(dtype), w.astype(dtype), b.astype(dtype)
        kw = dict(stride=(2, 1), padding=((2, 0), (1, 3)), dilation=(1, 2))
        _, _, ref, _ = run_conv(x, w, b, "im2col", **kw)
        for algo, wg in (("fft", None), ("sliding", "fft")):
            _, _, got, _ = run_conv(x, w, b, algo, wg, **kw)
            for a, r in zip(got, ref):
                assert a.dtype == dtype
                np.testing.assert_allclose(a, r, rtol=tol, atol=tol, err_msg=f"{algo}/{wg}")


def _smooth(m):
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


def test_fast_fft_lengths_are_the_next_5_smooth_number():
    for n in range(1, 200):
        m = conv_mod._fast_len(n)
        assert m >= n and _smooth(m)
        assert not any(_smooth(j) for j in range(n, m))


def test_persistent_tape_differentiates_twice():
    x = tg.tensor(rand(2, 2, 5, 5), requires_grad=True, dtype=np.float64)
    w = tg.tensor(rand(3, 2, 3, 3, seed=1), requires_grad=True, dtype=np.float64)
    for algo, wg in METHODS:
        with tg.Tape(persistent=True) as tape:
            y = (tg.conv2d(x, w, algorithm=algo, weight_grad=wg) ** 2).sum()
        first = tape.gradient(y, [x, w])
        second = tape.gradient(y, [x, w])
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)


def test_only_needed_gradients_are_computed_and_no_grad_records_nothing():
    x = tg.tensor(rand(1, 2, 5, 5), dtype=np.float64)             # constant input: no dx, no saved columns' use
    w = tg.tensor(rand(3, 2, 3, 3, seed=1), requires_grad=True, dtype=np.float64)
    for algo, wg in METHODS:
        with tg.Tape() as tape:
            y = tg.conv2d(x, w, algorithm=algo, weight_grad=wg)
        assert tape[0].needs_input_grad == (False, True)
        dw = tape.gradient(y, w, output_gradients=np.ones(y.shape))
        np.testing.assert_allclose(dw, naive_conv(x.data, w.data, None, (1, 1), ((0, 0), (0, 0)), (1, 1))[1](
            np.ones(y.shape))[1], rtol=1e-12, atol=1e-12)
    with tg.no_grad(), tg.Tape() as tape:
        tg.conv2d(x, w)
    assert len(tape) == 0


# -- bad input -----------------------------------------------------------------------------------------------------
X = np.zeros((2, 3, 5, 5), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)


@pytest.mark.parametrize("args,kwargs,words", [
    ((X, np.zeros((4, 2, 3, 3), np.float32)), {}, ["3 channels", "expects 2", "[2, 3, 5, 5]", "[4, 2, 3, 3]"]),
    ((X, np.zeros((4, 3, 6, 3), np.float32)), {}, ["larger than the padded input", "[4, 3, 6, 3]"]),
    ((X, np.zeros((4, 3, 3, 3), np.float32)), {"dilation": 3}, ["dilated extent 7x7", "[2, 3, 5, 5]"]),
    ((X[0], W), {}, ["4-D", "[3, 5, 5]"]),
    ((X, W[0]), {}, ["4-D", "[3, 3, 3]"]),
    ((X, W), {"stride": 0}, ["stride must be >= 1", "[2, 3, 5, 5]"]),
    ((X, W), {"stride": (1, -2)}, ["stride must be >= 1"]),
    ((X, W), {"dilation": 0}, ["dilation must be >= 1"]),
    ((X, W), {"padding": "full"}, ["unknown padding 'full'", "[2, 3, 5, 5]"]),
    ((X, W), {"padding": -1}, ["padding must be >= 0"]),
    ((X, W), {"algorithm": "winograd"}, ["unknown algorithm 'winograd'"]),
    ((X, W), {"weight_grad": "direct"}, ["unknown weight_grad 'direct'"]),
    ((X, W, np.zeros(3, np.float32)), {}, ["bias must have shape (4,)", "[3]"]),
    ((X, np.zeros((0, 3, 3, 3), np.float32)), {}, ["at least one filter", "[0, 3, 3, 3]"]),
])
def test_bad_input_raises_value_error_naming_op_and_shapes(args, kwargs, words):
    with pytest.raises(ValueError) as info:
        tg.conv2d(*args, **kwargs)
    msg = str(info.value)
    assert msg.startswith("conv2d: ")
    for word in words:
        assert word in msg


@pytest.mark.parametrize("kwargs", [{"stride": 1.5}, {"padding": (1, 2, 3)}, {"dilation": "2"}])
def test_bad_argument_types_raise_type_error(kwargs):
    with pytest.raises(TypeError, match=r"^conv2d: "):
        tg.conv2d(X, W, **kwargs)


def test_dtype_mismatch_is_a_type_error_naming_dtypes():
    with pytest.raises(TypeError, match=r"^conv2d: .*float32, float64"):
        tg.conv2d(tg.tensor(X), tg.tensor(W.astype(np.float64), dtype=np.float64))
    out = tg.conv2d(tg.tensor(np.ones((1, 1, 3, 3), np.int64)), W[:1, :1])   # integer input is promoted
    assert out.dtype == W.dtype and np.isclose(out.data.sum(), W[:1, :1].sum())
