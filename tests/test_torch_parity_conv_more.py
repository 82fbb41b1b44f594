"""PyTorch parity (values and gradients under a random upstream gradient) for grouped/depthwise conv2d,
conv_transpose2d and conv1d, float64 and float32; and the conv layers against torch.nn modules."""
import importlib.util

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _compare(tg_fn, torch_fn, shapes, dtype=np.float64, tol=1e-10, **kw):
    rng = np.random.default_rng(sum(map(sum, shapes)))
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ts = [tg.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    with tg.Tape() as tape:
        y = tg_fn(*ts, **kw)
    g = rng.standard_normal(y.shape).astype(dtype)
    tape.backward(y, g)
    th = [torch.tensor(a, requires_grad=True) for a in arrays]
    ty = torch_fn(*th, **kw)
    ty.backward(torch.from_numpy(g))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    for name, a, b in zip(("x", "weight", "bias"), ts, th):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=tol, atol=tol, err_msg=name)
    return tape


# (x, weight, kwargs)
CONV2D = [
    ((2, 6, 9, 8), (4, 3, 3, 3), dict(groups=2, padding=1)),
    ((2, 6, 9, 8), (9, 2, 3, 2), dict(groups=3, stride=(2, 1), dilation=(1, 2))),
    ((2, 8, 10, 10), (8, 1, 3, 3), dict(groups=8, padding=1)),                     # depthwise 3x3
    ((2, 4, 10, 9), (12, 1, 5, 3), dict(groups=4, stride=2, padding=(2, 1))),       # multiplier 3
    ((1, 4, 11, 11), (4, 1, 3, 3), dict(groups=4, dilation=2, padding="same")),
    ((2, 8, 7, 7), (8, 4, 1, 1), dict(groups=2)),
]
TRANSPOSE = [
    ((2, 4, 5, 5), (4, 3, 3, 3), dict()),
    ((2, 4, 5, 6), (4, 2, 2, 2), dict(stride=2)),
    ((2, 4, 5, 5), (4, 2, 4, 4), dict(stride=2, padding=1)),
    ((1, 4, 5, 4), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 4, 5), (4, 3, 3, 2), dict(stride=(3, 2), padding=(1, 0), output_padding=(2, 1))),
    ((2, 4, 4, 4), (4, 3, 3, 3), dict(stride=2, groups=2, output_padding=1)),
    ((2, 6, 4, 4), (6, 1, 3, 3), dict(stride=2, groups=6, padding=1)),             # depthwise
    ((1, 4, 4, 4), (4, 2, 3, 3), dict(dilation=2, output_padding=1)),               # output_padding < dilation
    ((1, 4, 5, 5), (4, 1, 3, 3), dict(groups=2, dilation=(2, 3), stride=2, output_padding=(1, 2), padding=2)),
    ((2, 3, 1, 1), (3, 2, 4, 4), dict()),                                            # 1x1 input
]
CONV1D = [
    ((2, 4, 20), (6, 4, 5), dict(padding=2)),
    ((2, 4, 20), (6, 2, 3), dict(groups=2, stride=2, dilation=2)),
    ((2, 4, 20), (4, 1, 3), dict(groups=4, padding="same")),
    ((1, 3, 17), (5, 3, 4), dict(padding="same", dilation=2)),
    ((2, 3, 15), (2, 3, 1), dict(stride=3)),
]


def _bias(w_shape, kw, transpose=False):
    return (w_shape[1] * kw.get("groups", 1),) if transpose else (w_shape[0],)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("xs,ws,kw", CONV2D, ids=[str(i) for i in range(len(CONV2D))])
def test_grouped_and_depthwise_conv2d(xs, ws, kw, dtype, tol):
    for algo in ("auto", "im2col", "sliding") + (("depthwise",) if ws[1] == 1 else ()):
        _compare(lambda x, w, b: tg.conv2d(x, w, b, algorithm=algo, **kw), lambda x, w, b: F.conv2d(x, w, b, **kw),
                 [xs, ws, _bias(ws, kw)], dtype, tol)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("xs,ws,kw", TRANSPOSE, ids=[str(i) for i in range(len(TRANSPOSE))])
def test_conv_transpose2d(xs, ws, kw, dtype, tol):
    tape = _compare(tg.conv_transpose2d, F.conv_transpose2d, [xs, ws, _bias(ws, kw, True)], dtype, tol, **kw)
    assert [n.op.name for n in tape] == ["conv_transpose2d"]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("xs,ws,kw", CONV1D, ids=[str(i) for i in range(len(CONV1D))])
def test_conv1d(xs, ws, kw, dtype, tol):
    tape = _compare(tg.conv1d, F.conv1d, [xs, ws, _bias(ws, kw)], dtype, tol, **kw)
    assert [n.op.name for n in tape] == ["conv1d"]


# -- layers: the same parameters give torch.nn's outputs -----------------------------------------------------------
def _layer_parity(layer, module, x, transpose=False):
    y = layer(x)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.weight.data))
        module.bias.copy_(torch.from_numpy(layer.bias.data))
        ref = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y.data, ref, rtol=1e-10, atol=1e-10)


def test_layers_match_torch_modules():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 9, 9))
    kw = dict(dtype=np.float64)
    tnn = torch.nn
    _layer_parity(nn.Conv2D(6, 3, strides=2, padding=1, groups=2, dilation_rate=1, **kw),
                  tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2).double(), x)
    _layer_parity(nn.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, **kw),
                  tnn.Conv2d(4, 8, 3, groups=4, dilation=2).double(), x)
    _layer_parity(nn.Conv2DTranspose(3, 4, strides=2, output_padding=1, **kw),
                  tnn.ConvTranspose2d(4, 3, 4, stride=2, output_padding=1).double(), x)
    _layer_parity(nn.Conv1D(6, 3, strides=2, groups=2, **kw), tnn.Conv1d(4, 6, 3, stride=2, groups=2).double(),
                  x[:, :, 0])


def test_conv1d_large_kernel_takes_the_fft_path():
    tape = _compare(tg.conv1d, F.conv1d, [(8, 16, 400), (32, 16, 63), (32,)], np.float64, 1e-9, padding=5, stride=2)
    # the cost model prices numpy.fft (one thread) at 0.4x scipy.fft's speed, and im2col wins without scipy
    scipy = importlib.util.find_spec("scipy") is not None
    assert tape[0].attrs["algorithm"] == ("fft" if scipy else "im2col")
