"""Pooling options, adaptive pools, max_unpool2d, interpolate, pad, the new activations, layer_norm and group_norm
against PyTorch: values (and indices) and gradients for a random upstream gradient, float32 and float64.
Skipped where torch is not installed."""
import numpy as np
import pytest

import tapegraph as tg

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def both(tg_fn, torch_fn, arrays, dtype, seed=0, diff=None, tol=None):
    """Run both on the same data; compare outputs and the gradients of every float input."""
    diff = range(len(arrays)) if diff is None else diff
    ts = [tg.tensor(a, requires_grad=i in diff, dtype=a.dtype) for i, a in enumerate(arrays)]
    th = [torch.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    with tg.Tape() as tape:
        out = tg_fn(*ts)
    ref = torch_fn(*th)
    y, ry = (out[0], ref[0]) if isinstance(out, tuple) else (out, ref)
    np.testing.assert_allclose(y.data, ry.detach().numpy(), **TOL[dtype])
    assert y.dtype == dtype
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    tape.backward(y, g)
    ry.backward(torch.tensor(g))
    for i in diff:
        np.testing.assert_allclose(ts[i].grad, th[i].grad.numpy(), **(tol or TOL[dtype]))
    return out, ref


def data(*shape, dtype, seed=0):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(dtype)


# (shape, k, s, padding, dilation, ceil_mode)
MAX = [
    ((2, 3, 9, 8), 3, 2, 1, 1, False),
    ((2, 3, 9, 8), 3, 2, 1, 1, True),
    ((1, 2, 10, 11), (2, 3), (3, 2), (1, 1), (2, 1), True),
    ((2, 2, 7, 7), 2, 1, 0, 3, False),
    ((1, 4, 8, 6), (3, 2), None, (1, 0), 1, True),
    ((3, 1, 5, 5), 2, 3, 1, 1, True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", MAX, ids=[str(i) for i in range(len(MAX))])
def test_max_pool2d_with_indices(cfg, dtype):
    shape, k, s, p, d, ceil = cfg
    x = data(*shape, dtype=dtype)
    out, ref = both(lambda t: tg.max_pool2d(t, k, s, p, dilation=d, ceil_mode=ceil, return_indices=True),
                    lambda t: F.max_pool2d(t, k, s, p, dilation=d, ceil_mode=ceil, return_indices=True), [x], dtype)
    np.testing.assert_array_equal(out[1].data, ref[1].numpy())


def test_max_pool2d_nan_matches_torch():
    x = data(2, 2, 6, 6, dtype=np.float64)
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = x[1, 1, 5, 5] = x[1, 0, 2, 3] = np.nan
    for k, s in ((2, 2), (3, 1)):
        t, th = tg.tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
        with tg.Tape() as tape:
            y, idx = tg.max_pool2d(t, k, s, return_indices=True)
        ry, ridx = F.max_pool2d(th, k, s, return_indices=True)
        np.testing.assert_array_equal(np.isnan(y.data), np.isnan(ry.detach().numpy()))
        np.testing.assert_array_equal(idx.data, ridx.numpy())
        g = np.random.default_rng(1).standard_normal(y.shape)
        tape.backward(y, g)
        ry.backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad, th.grad.numpy(), rtol=1e-12, atol=1e-12)


# (shape, k, s, padding, ceil_mode, count_include_pad)
AVG = [
    ((2, 3, 9, 8), 3, 2, 1, False, True),
    ((2, 3, 9, 8), 3, 2, 1, True, True),
    ((2, 3, 9, 8), 3, 2, 1, True, False),
    ((1, 2, 10, 7), (2, 3), (3, 2), (1, 1), True, True),
    ((1, 2, 6, 6), 4, 1, 2, False, False),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", AVG, ids=[str(i) for i in range(len(AVG))])
def test_avg_pool2d(cfg, dtype):
    shape, k, s, p, ceil, inc = cfg
    both(lambda t: tg.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=inc),
         lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=inc), [data(*shape, dtype=dtype)],
         dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape,k,s,p,out", [((2, 3, 8, 8), 2, 2, 0, None), ((1, 2, 9, 7), 3, 2, 1, (9, 7)),
                                              ((1, 1, 7, 7), 2, 2, 0, (1, 1, 7, 7))])
def test_max_unpool2d(shape, k, s, p, out, dtype):
    x = data(*shape, dtype=dtype)
    y, idx = F.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    both(lambda t, i: tg.max_unpool2d(t, i, k, s, p, output_size=out),
         lambda t, i: F.max_unpool2d(t, i, k, s, p, output_size=out), [y.numpy(), idx.numpy()], dtype, diff=[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape,size", [((2, 3, 8, 6), (4, 3)), ((2, 3, 7, 5), (3, 4)), ((1, 2, 10, 9), (4, 5)),
                                        ((2, 2, 5, 5), 1), ((1, 2, 6, 7), (None, 3)), ((1, 1, 3, 4), (5, 6))])
def test_adaptive_pools(shape, size, dtype):
    x = data(*shape, dtype=dtype)
    both(lambda t: tg.adaptive_avg_pool2d(t, size), lambda t: F.adaptive_avg_pool2d(t, size), [x], dtype)
    out, ref = both(lambda t: tg.adaptive_max_pool2d(t, size, return_indices=True),
                    lambda t: F.adaptive_max_pool2d(t, size, return_indices=True), [x], dtype)
    np.testing.assert_array_equal(out[1].data, ref[1].numpy())


INTERP = [
    dict(size=(11, 13)), dict(size=(4, 5)), dict(size=7), dict(scale_factor=2), dict(scale_factor=1.7),
    dict(scale_factor=(0.5, 3)), dict(scale_factor=0.6),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode,align", [("nearest", False), ("nearest-exact", False), ("bilinear", False),
                                        ("bilinear", True)])
@pytest.mark.parametrize("kw", INTERP, ids=[str(k) for k in INTERP])
def test_interpolate(kw, mode, align, dtype):
    x = data(2, 3, 7, 9, dtype=dtype)
    extra = {"align_corners": True} if align else {}
    both(lambda t: tg.interpolate(t, mode=mode, **kw, **extra), lambda t: F.interpolate(t, mode=mode, **kw, **extra),
         [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(mode, dtype):
    x = data(2, 3, 6, 7, dtype=dtype)
    torch_mode = {"edge": "replicate"}.get(mode, mode)
    both(lambda t: tg.pad(t, ((0, 0), (0, 0), (2, -1), (-2, 3)), mode),
         lambda t: F.pad(F.pad(t, (-2, 0, 0, -1)), (0, 3, 2, 0), mode=torch_mode), [x], dtype)


ACT = [
    (lambda t: tg.gelu(t), lambda t: F.gelu(t)),
    (lambda t: tg.gelu(t, approximate="tanh"), lambda t: F.gelu(t, approximate="tanh")),
    (tg.silu, F.silu),
    (lambda t: tg.elu(t, 0.5), lambda t: F.elu(t, 0.5)),
    (lambda t: tg.softplus(t), lambda t: F.softplus(t)),
    (lambda t: tg.softplus(t, beta=2, threshold=5), lambda t: F.softplus(t, beta=2, threshold=5)),
    (tg.hard_sigmoid, F.hardsigmoid),
    (tg.hard_swish, F.hardswish),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("i", range(len(ACT)))
def test_activations(i, dtype):
    x = (data(4, 50, dtype=dtype) * 4).astype(dtype)
    x[0, :6] = [-3, 3, 0, 2.5, 10, -20]                        # kinks and thresholds: PyTorch's one-sided choices
    # PyTorch's float64 hardsigmoid gradient multiplies by the float32 constant 1/6; ours is exact
    loose = ACT[i][0] is tg.hard_sigmoid and dtype == np.float64
    both(ACT[i][0], ACT[i][1], [x], dtype, tol=dict(rtol=1e-7, atol=1e-9) if loose else None)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_layer_norm(dtype):
    x, w, b = data(3, 4, 5, 6, dtype=dtype), data(5, 6, dtype=dtype, seed=1), data(5, 6, dtype=dtype, seed=2)
    both(lambda *t: tg.layer_norm(t[0], (5, 6), t[1], t[2]), lambda *t: F.layer_norm(t[0], (5, 6), t[1], t[2]),
         [x, w, b], dtype)
    both(lambda t: tg.layer_norm(t, 6, eps=1e-3), lambda t: F.layer_norm(t, (6,), eps=1e-3), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_norm(groups, dtype):
    x, w, b = data(3, 4, 5, 6, dtype=dtype), data(4, dtype=dtype, seed=1), data(4, dtype=dtype, seed=2)
    both(lambda *t: tg.group_norm(t[0], groups, t[1], t[2]), lambda *t: F.group_norm(t[0], groups, t[1], t[2]),
         [x, w, b], dtype)
    both(lambda t: tg.group_norm(t, groups), lambda t: F.group_norm(t, groups), [x[:, :, 0]], dtype)


@pytest.mark.parametrize("size", [(3, 4), (7, 3), 1])
def test_adaptive_max_pool_nan_matches_torch(size):
    x = data(2, 2, 7, 6, dtype=np.float64)
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = x[1, 1, 5, 5] = x[1, 0, 2, 3] = x[0, 1, 0, 0] = np.nan
    y, idx = tg.adaptive_max_pool2d(x, size, return_indices=True)
    ry, ridx = F.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(idx.data, ridx.numpy())
    np.testing.assert_array_equal(y.data, ry.numpy())           # NaN == NaN for assert_array_equal


def test_max_pool_minus_infinity_indices_match_torch():
    x = np.full((1, 1, 2, 2), -np.inf)
    _, idx = tg.max_pool2d(x, 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(idx.data, F.max_pool2d(torch.tensor(x), 2, 1, 1, return_indices=True)[1].numpy())
