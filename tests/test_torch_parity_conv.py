"""conv2d, max_pool2d and avg_pool2d against PyTorch: values and gradients for a random upstream gradient, float32
and float64, every conv algorithm. Skipped where torch is not installed."""
import numpy as np
import pytest

import tapegraph as tg

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]
METHODS = [("sliding", None), ("im2col", None), ("fft", None), ("sliding", "fft"), ("auto", None)]

# (N, C, H, W, F, KH, KW, stride, padding, dilation)
CONV = [
    (2, 3, 9, 8, 4, 3, 3, 1, 1, 1),
    (3, 2, 11, 10, 5, 3, 2, (2, 1), "same", 1),
    (2, 4, 12, 12, 3, 5, 5, 2, ((2, 0), (1, 3)), 1),
    (1, 3, 13, 9, 2, 3, 3, 1, "valid", (2, 3)),
    (2, 1, 16, 16, 6, 7, 7, 3, "same", 1),
    (4, 8, 6, 6, 8, 1, 1, 1, 0, 1),
]


def _torch_conv(x, w, b, attrs):
    (pt, pb), (pl, pr) = attrs["padding"]
    return F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b, stride=attrs["stride"], dilation=attrs["dilation"])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS, ids=[f"{a}-{w}" for a, w in METHODS])
@pytest.mark.parametrize("cfg", CONV, ids=[str(i) for i in range(len(CONV))])
def test_conv2d_matches_torch(cfg, method, dtype):
    n, c, h, w, f, kh, kw, s, p, d = cfg
    rng = np.random.default_rng(hash((n, c, h, w, f)) % 2**32)
    arrays = [rng.standard_normal(sh).astype(dtype) for sh in ((n, c, h, w), (f, c, kh, kw), (f,))]
    ts = [tg.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    with tg.Tape() as tape:
        y = tg.conv2d(*ts, stride=s, padding=p, dilation=d, algorithm=method[0], weight_grad=method[1])
    g = rng.standard_normal(y.shape).astype(dtype)
    tape.backward(y, g)

    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ty = _torch_conv(*tt, tape[0].attrs)
    ty.backward(torch.from_numpy(g))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL[dtype])
    for name, ours, theirs in zip(("x", "weight", "bias"), ts, tt):
        assert ours.grad.dtype == dtype
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **TOL[dtype], err_msg=name)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_same_padding_equals_torch_same_at_stride_1():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8))
    w = np.random.default_rng(1).standard_normal((4, 3, 4, 3))     # even kernel: torch also pads more after
    ours = tg.conv2d(x, w, padding="same").data
    theirs = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same").numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


# (shape, pool, strides): torch pads symmetrically, so "same" cases here have symmetric Keras padding
POOL = [
    ((2, 3, 8, 8), 2, None, "valid"),
    ((2, 2, 9, 9), 3, 2, "valid"),
    ((1, 3, 10, 7), (3, 2), (2, 1), "valid"),
    ((2, 2, 7, 7), 3, 2, "same"),                  # total padding 2 per axis: (1, 1)
]


def _torch_pool(kind, x, k, s, padding):
    k = (k, k) if isinstance(k, int) else k
    s = k if s is None else ((s, s) if isinstance(s, int) else s)
    if padding == "same":
        pad = tuple(kk // 2 for kk in k)
        if kind == "max":
            return F.max_pool2d(x, k, s, padding=pad)                          # torch pads with -inf
        return F.avg_pool2d(x, k, s, padding=pad, count_include_pad=False)   # padded cells excluded, as Keras
    return (F.max_pool2d if kind == "max" else F.avg_pool2d)(x, k, s)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("cfg", POOL, ids=[str(i) for i in range(len(POOL))])
def test_pool_matches_torch(cfg, kind, dtype):
    shape, k, s, padding = cfg
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    t = tg.tensor(x, requires_grad=True, dtype=dtype)
    fn = tg.max_pool2d if kind == "max" else tg.avg_pool2d
    with tg.Tape() as tape:
        y = fn(t, k, s, padding)
    g = rng.standard_normal(y.shape).astype(dtype)
    tape.backward(y, g)
    tx = torch.tensor(x, requires_grad=True)
    ty = _torch_pool(kind, tx, k, s, padding)
    ty.backward(torch.from_numpy(g))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), **TOL[dtype])


def test_conv_relu_pool_chain_matches_torch():
    """conv2d's (C, N, H, W)-ordered output flows through relu and max-pool into the next conv as torch's does."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 1, 12, 12)).astype(np.float32)
    w1 = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((5, 6, 3, 3)).astype(np.float32)
    ts = [tg.tensor(a, requires_grad=True) for a in (x, w1, w2)]
    with tg.Tape() as tape:
        h = tg.max_pool2d(tg.relu(tg.conv2d(ts[0], ts[1], padding="same")), 2)
        y = tg.conv2d(h, ts[2]).sum()
    tape.backward(y)
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w1, w2)]
    ty = F.conv2d(F.max_pool2d(F.relu(F.conv2d(tt[0], tt[1], padding=1)), 2), tt[2]).sum()
    ty.backward()
    np.testing.assert_allclose(y.data, ty.item(), rtol=1e-4)
    for a, b in zip(ts, tt):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-3, atol=1e-3)
