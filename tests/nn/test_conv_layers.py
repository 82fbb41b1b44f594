"""Conv1D, Conv2D (groups, dilation, activation), DepthwiseConv2D, Conv2DTranspose and Dense(activation=):
shapes, Keras output sizes, parameters, records, activations and argument checks."""
import math

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn
from tests.nn.helpers import check_param_grads

X = np.random.default_rng(0).standard_normal((2, 4, 9, 8)).astype(np.float32)


def _ops(layer, x):
    with tg.Tape() as tape:
        y = layer(tg.tensor(x, requires_grad=True))
    return y, [n.op.name for n in tape]


def test_conv2d_groups_dilation_activation():
    layer = nn.Conv2D(6, 3, padding="same", dilation_rate=2, groups=2, activation="relu")
    y, ops = _ops(layer, X)
    assert y.shape == (2, 6, 9, 8) and ops == ["conv2d", "relu"] and (y.data >= 0).all()
    assert layer.weight.shape == (6, 2, 3, 3) and layer.bias.shape == (6,)
    assert "groups=2" in repr(layer) and "dilation_rate=(2, 2)" in repr(layer) and "'relu'" in repr(layer)


def test_conv1d_shapes():
    x = X[:, :, 0]                                                  # (2, 4, 8)
    assert nn.Conv1D(5, 3)(x).shape == (2, 5, 6)
    assert nn.Conv1D(5, 3, strides=2, padding="same")(x).shape == (2, 5, 4)
    layer = nn.Conv1D(6, 3, padding=(2, 0), dilation_rate=2, groups=2, use_bias=False)
    y, ops = _ops(layer, x)
    assert y.shape == (2, 6, 6) and ops == ["conv1d"] and layer.weight.shape == (6, 2, 3) and layer.bias is None


def test_depthwise_conv2d():
    layer = nn.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3)
    y, ops = _ops(layer, X)
    assert y.shape == (2, 12, 5, 4) and ops == ["conv2d"]
    assert layer.weight.shape == (12, 1, 3, 3) and layer.groups == 4
    with tg.Tape() as tape:
        layer(X)
    assert tape[0].attrs["algorithm"] == "im2col" and tape[0].attrs["groups"] == 4   # columns fit: grouped GEMM


def keras_deconv_length(n, k, s, padding, output_padding, d=1):
    """Keras' conv_utils.deconv_output_length, restated."""
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


@pytest.mark.parametrize("k,s,padding,op,d", [
    (3, 1, "valid", None, 1), (3, 2, "same", None, 1), (2, 2, "same", None, 1), (4, 2, "same", None, 1),
    (2, 3, "valid", None, 1), (2, 3, "same", None, 1), (5, 2, "valid", None, 1), (3, 2, "valid", 1, 1),
    (3, 2, "same", 1, 1), (3, 2, "same", 0, 1), (1, 3, "same", 2, 1), (3, 1, "same", None, 2),
    (3, 2, "valid", None, 2), (4, 3, "same", 1, 1),
])
def test_conv2d_transpose_output_size_follows_keras(k, s, padding, op, d):
    layer = nn.Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=op, dilation_rate=d)
    y = layer(X)
    assert y.shape == (2, 3, keras_deconv_length(9, k, s, padding, op, d), keras_deconv_length(8, k, s, padding, op, d))
    assert layer.weight.shape == (4, 3, k, k)


@pytest.mark.parametrize("k,s", [(3, 2), (4, 2), (2, 2), (5, 3), (1, 2)])
def test_conv2d_transpose_same_is_the_adjoint_of_conv2d_same(k, s):
    """TensorFlow's meaning: Conv2DTranspose("same") is the input gradient of conv2d("same") at size in*stride."""
    layer = nn.Conv2DTranspose(3, k, strides=s, padding="same", use_bias=False, dtype=np.float64)
    x = X.astype(np.float64)
    y = layer(x).data
    z = np.random.default_rng(1).standard_normal(y.shape)
    cz = tg.conv2d(z, layer.weight.data, stride=s, padding="same").data
    assert cz.shape == x.shape
    assert math.isclose((cz * x).sum(), (z * y).sum(), rel_tol=1e-10)


def test_activation_names_callables_and_lazy_lookup(monkeypatch):
    x = X[:, :, 0, 0]                                               # (2, 4)
    y = nn.Dense(3, activation="softmax")(x)
    np.testing.assert_allclose(y.data.sum(axis=1), 1, rtol=1e-6)
    y = nn.Conv2D(5, 1, activation="softmax")(X)                    # softmax over channels (Keras' last axis)
    np.testing.assert_allclose(y.data.sum(axis=1), 1, rtol=1e-5)
    assert nn.Dense(3, activation="linear")(x).shape == (2, 3)
    _, ops = _ops(nn.Dense(3, activation=tg.tanh), x)
    assert ops == ["matmul", "add", "tanh"]
    _, ops = _ops(nn.Conv2D(2, 3, activation=nn.LeakyReLU(0.1)), X)
    assert ops == ["conv2d", "leaky_relu"]
    for name in ("relu", "sigmoid", "tanh", "leaky_relu", "softmax"):
        nn.Dense(2, activation=name)
    # a name that tapegraph.ops gains later works without touching the layers
    monkeypatch.setattr(tg.ops, "gelu", lambda t: tg.mul(t, 2.0), raising=False)
    y = nn.Dense(3, activation="gelu", use_bias=False)
    assert np.allclose(y(x).data, 2 * (x @ y.weight.data))


@pytest.mark.parametrize("bad,exc,words", [
    (lambda: nn.Conv2D(4, (True, 2)), TypeError, ["Conv2D: kernel_size", "not bools or floats", "(True, 2)"]),
    (lambda: nn.Conv2D(4, (math.inf, 2)), TypeError, ["Conv2D: kernel_size", "(inf, 2)"]),
    (lambda: nn.Conv2D(4, 2.0), TypeError, ["Conv2D: kernel_size"]),
    (lambda: nn.Conv2D(4, (3, 0)), ValueError, ["Conv2D: kernel_size must be a positive int or a pair"]),
    (lambda: nn.Conv2D(4, 3, strides=(1, math.nan)), TypeError, ["Conv2D: strides"]),
    (lambda: nn.Conv2D(4, 3, dilation_rate=0), ValueError, ["Conv2D: dilation_rate must be a positive int"]),
    (lambda: nn.Conv2D(4, 3, groups=3), ValueError, ["Conv2D: groups=3 must divide filters=4"]),
    (lambda: nn.Conv2D(4, 3, groups=True), TypeError, ["Conv2D: groups"]),
    (lambda: nn.Conv2D(4, 3, padding="full"), ValueError, ["Conv2D: unknown padding 'full'"]),
    (lambda: nn.Conv2D(4, 3, padding=-1), ValueError, ["Conv2D: padding must be >= 0"]),
    (lambda: nn.Conv2D(4, 3, padding=1.5), TypeError, ["Conv2D: padding"]),
    (lambda: nn.Conv2D(4, 3, algorithm="winograd"), ValueError, ["Conv2D: unknown algorithm 'winograd'"]),
    (lambda: nn.Conv2D(4, 3, activation="nope"), ValueError, ["Conv2D: unknown activation 'nope'", "relu",
                                                              "sigmoid", "callable"]),
    (lambda: nn.Conv2D(4, 3, activation=3), TypeError, ["Conv2D: activation must be None, a name or a callable"]),
    (lambda: nn.Dense(4, activation="conv2d"), ValueError, ["Dense: unknown activation 'conv2d'"]),
    (lambda: nn.Conv1D(4, (3, 3)), TypeError, ["Conv1D: kernel_size must be a positive int"]),
    (lambda: nn.Conv1D(4, 3, padding="causal"), ValueError, ["Conv1D: unknown padding 'causal'"]),
    (lambda: nn.DepthwiseConv2D(3, depth_multiplier=0), ValueError, ["DepthwiseConv2D: depth_multiplier"]),
    (lambda: nn.DepthwiseConv2D((3, True)), TypeError, ["DepthwiseConv2D: kernel_size"]),
    (lambda: nn.Conv2DTranspose(4, 3, strides=2, output_padding=2), ValueError,
     ["Conv2DTranspose: output_padding (2, 2) must be smaller than strides (2, 2)"]),
    (lambda: nn.Conv2DTranspose(4, 3, output_padding=-1), ValueError, ["Conv2DTranspose: output_padding"]),
    (lambda: nn.Conv2DTranspose(4, 3, padding=1), TypeError, ["Conv2DTranspose: padding must be 'valid' or 'same'"]),
])
def test_bad_arguments_are_refused_at_construction(bad, exc, words):
    with pytest.raises(exc) as info:
        bad()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_groups_must_divide_the_input_channels_at_build():
    with pytest.raises(ValueError, match=r"^Conv2D: groups=4 must divide the 3 input channels"):
        nn.Conv2D(4, 3, groups=4).build((None, 3, 8, 8))
    with pytest.raises(ValueError, match=r"^Conv1D: groups=2 must divide the 3 input channels"):
        nn.Conv1D(4, 3, groups=2)(np.zeros((1, 3, 8), np.float32))
    model = nn.Sequential([nn.Conv2DTranspose(2, 2, strides=2)], input_shape=(4, 5, 5))
    with pytest.raises(ValueError, match=r"layers\.0 \(Conv2DTranspose\): expected input \(batch, 4, height, "):
        model(np.zeros((1, 3, 5, 5), np.float32))


def test_a_model_with_every_conv_layer_trains_one_step():
    tg.manual_seed(0)
    model = nn.Sequential([
        nn.Conv2D(8, 3, padding="same", activation="relu"), nn.DepthwiseConv2D(3, padding="same", activation="relu"),
        nn.Conv2D(8, 1, groups=4), nn.Conv2DTranspose(4, 2, strides=2, activation="sigmoid"),
        nn.Flatten(), nn.Dense(3, activation="log_softmax"),
    ], input_shape=(4, 6, 6))
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    with tg.Tape() as tape:
        loss = model(x).sum()
    grads = tape.gradient(loss, model.parameters())
    assert len(grads) == 10 and all(np.isfinite(g).all() and g.shape == p.shape
                                    for g, p in zip(grads, model.parameters()))
    assert model[3](np.zeros((1, 8, 6, 6), np.float32)).shape == (1, 4, 12, 12)


def test_whole_model_parameter_gradients_float64():
    tg.manual_seed(1)
    model = nn.Sequential([
        nn.Conv2D(4, 3, padding="same", groups=2, activation="tanh"), nn.DepthwiseConv2D(2, depth_multiplier=2),
        nn.Conv2DTranspose(2, 3, strides=2, padding="same", activation="sigmoid"), nn.Flatten(),
        nn.Dense(3, activation="tanh"),
    ], input_shape=(2, 4, 4), dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((2, 2, 4, 4))
    names = check_param_grads(model, x, lambda out: (out * out).sum())
    assert len(names) == 8
    conv1 = nn.Sequential([nn.Conv1D(3, 3, strides=2, padding="same", groups=1, activation="relu")],
                          input_shape=(2, 7), dtype=np.float64)
    assert check_param_grads(conv1, x[:, :, :, 0].repeat(2, axis=2)[:, :, :7], lambda out: (out * out).sum())
