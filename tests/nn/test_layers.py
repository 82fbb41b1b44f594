"""Layers: shapes, building, initialisers, BatchNorm/Dropout behaviour, errors, and whole-model gradients."""
import functools

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn
from tests.nn.helpers import check_param_grads

CE = functools.partial(tg.losses.categorical_crossentropy, from_logits=True)


def small_convnet(dtype=None):
    return nn.Sequential([nn.Conv2D(3, 3, padding="same"), nn.ReLU(), nn.MaxPool2D(2), nn.Conv2D(2, 2),
                          nn.AvgPool2D(1), nn.Flatten(), nn.Dense(3)], input_shape=(2, 6, 6), dtype=dtype)


def test_convnet_parameter_and_input_gradients_float64():
    tg.manual_seed(0)
    model = small_convnet(np.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 6, 6))
    labels = np.array([0, 2])
    names = check_param_grads(model, x, lambda out: CE(out, labels))
    assert names == ["layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias", "layers.6.weight",
                     "layers.6.bias"]
    assert tg.gradcheck(lambda t: CE(model(t), labels), [x], atol=1e-7)


def test_mlp_with_batchnorm_and_dropout_in_eval_gradients():
    tg.manual_seed(2)
    model = nn.Sequential([nn.Dense(5), nn.BatchNorm(), nn.Tanh(), nn.Dropout(0.5), nn.Dense(3), nn.Softmax()],
                          input_shape=(4,)).astype(np.float64)
    bn = model[1]
    bn.running_mean[:] = np.linspace(-0.5, 0.5, 5)
    bn.running_var[:] = np.linspace(0.5, 2.0, 5)
    bn.gamma.data[:] = np.linspace(0.5, 1.5, 5)
    model.eval()
    x = np.random.default_rng(3).standard_normal((6, 4))
    target = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    check_param_grads(model, x, lambda out: tg.losses.categorical_crossentropy(out, target))
    assert tg.gradcheck(lambda t: model(t), [x])


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 3, 2)])
def test_batchnorm_in_training_mode_gradients(shape):
    tg.manual_seed(4)
    lead = [nn.Dense(3)] if len(shape) == 2 else [nn.Conv2D(3, 1)]
    model = nn.Sequential(lead + [nn.BatchNorm(), nn.Sigmoid(), nn.Flatten(), nn.Dense(2)], dtype=np.float64)
    x = np.random.default_rng(5).standard_normal(shape)
    model(x)
    check_param_grads(model, x, lambda out: (out * out).mean())


def test_layer_output_shapes_and_dtypes():
    x = np.zeros((2, 3, 8, 8), np.float32)
    assert nn.Conv2D(4, 3)(x).shape == (2, 4, 6, 6)
    assert nn.Conv2D(4, (3, 1), strides=2, padding="same")(x).shape == (2, 4, 4, 4)
    assert nn.MaxPool2D()(x).shape == (2, 3, 4, 4)
    assert nn.AvgPool2D(2, strides=1)(x).shape == (2, 3, 7, 7)
    assert nn.Flatten()(x).shape == (2, 192)
    y = nn.Dense(5, use_bias=False)(np.zeros((2, 7), np.float32))
    assert y.shape == (2, 5) and y.dtype == np.float32
    assert nn.Conv2D(4, 3, use_bias=False).build((None, 3, 8, 8)).bias is None
    for act in (nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.Softmax(), nn.LeakyReLU(0.1)):
        assert act(x).shape == x.shape


def test_dense_conv_weight_layout_and_values():
    d = nn.Dense(3).build((None, 4))
    assert d.weight.shape == (4, 3) and d.bias.shape == (3,)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(d(x).data, x @ d.weight.data + d.bias.data, rtol=1e-6)
    c = nn.Conv2D(5, (3, 2)).build((None, 2, 7, 7))
    assert c.weight.shape == (5, 2, 3, 2) and c.bias.shape == (5,)


def test_lazy_and_eager_build_give_the_same_parameters():
    def make():
        return [nn.Conv2D(4, 3), nn.ReLU(), nn.Flatten(), nn.Dense(2)]
    tg.manual_seed(7)
    eager = nn.Sequential(make(), input_shape=(1, 5, 5))
    tg.manual_seed(7)
    lazy = nn.Sequential(make())
    assert lazy[0].weight is None
    lazy(np.zeros((3, 1, 5, 5), np.float32))
    for (na, a), (nb, b) in zip(eager.named_parameters(), lazy.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(a.data, b.data)


def test_layer_rng_argument_is_deterministic_and_independent_of_the_global_seed():
    tg.manual_seed(1)
    a = nn.Dense(3, rng=np.random.default_rng(5)).build((None, 4))
    tg.manual_seed(2)
    b = nn.Dense(3, rng=np.random.default_rng(5)).build((None, 4))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


@pytest.mark.parametrize("name,var", [("he_uniform", lambda i, o: 2 / i), ("he_normal", lambda i, o: 2 / i),
                                      ("glorot_uniform", lambda i, o: 2 / (i + o)),
                                      ("glorot_normal", lambda i, o: 2 / (i + o))])
def test_initialisers_variance_and_bounds(name, var):
    fn = nn.init.get(name)
    shape = (64, 32, 3, 3)
    fan_in, fan_out = nn.init.fans(shape)
    assert (fan_in, fan_out) == (32 * 9, 64 * 9)
    w = fn(shape, fan_in, fan_out, rng=np.random.default_rng(0))
    assert w.dtype == np.float32 and w.shape == shape
    assert abs(w.mean()) < 0.01 * np.sqrt(var(fan_in, fan_out)) * 10
    np.testing.assert_allclose(w.var(), var(fan_in, fan_out), rtol=0.03)
    if "uniform" in name:
        assert np.abs(w).max() <= np.sqrt(3 * var(fan_in, fan_out))
    assert fn(shape, fan_in, fan_out, dtype=np.float64, rng=1).dtype == np.float64


def test_initialiser_by_name_errors_and_zeros():
    assert not nn.init.zeros((2, 2)).any()
    with pytest.raises(ValueError, match="Dense: unknown initializer 'nope'"):
        nn.Dense(3, kernel_initializer="nope")


def test_batchnorm_training_statistics_4d():
    bn = nn.BatchNorm(momentum=0.9, epsilon=1e-5)
    x = np.random.default_rng(0).normal(2.0, 3.0, (8, 3, 4, 4)).astype(np.float32)
    y = bn(x).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    n = 8 * 4 * 4
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3)) * n / (n - 1), rtol=1e-5)
    assert bn.running_mean.dtype == np.float32


def test_batchnorm_running_statistics_converge_and_eval_uses_them_2d():
    bn = nn.BatchNorm(momentum=0.5)
    x = np.random.default_rng(1).normal(-1.0, 0.5, (32, 4)).astype(np.float32)
    for _ in range(40):
        bn(x)
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, x.var(axis=0, ddof=1), rtol=1e-5)
    bn.gamma.data[:] = 2.0
    bn.eval()
    before = bn.running_mean.copy()
    z = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    y = bn(z).data
    np.testing.assert_array_equal(bn.running_mean, before)             # eval does not update
    expect = (z - bn.running_mean) / np.sqrt(bn.running_var + 1e-3) * 2.0
    np.testing.assert_allclose(y, expect, rtol=1e-5, atol=1e-6)


def test_dropout_layer_statistics_and_eval_identity():
    tg.manual_seed(0)
    d = nn.Dropout(0.25)
    x = tg.tensor(np.ones((400, 250), np.float32))
    y = d(x).data
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1.0) < 0.02
    d.eval()
    assert d(x) is x


@pytest.mark.parametrize("rate", [1.0, -0.01, 2])
def test_dropout_rate_outside_range(rate):
    with pytest.raises(ValueError, match=r"Dropout: rate must be in \[0, 1\)"):
        nn.Dropout(rate)


def test_wrong_input_to_built_layers_names_the_layer():
    model = nn.Sequential([nn.Conv2D(4, 3), nn.Flatten(), nn.Dense(2)], input_shape=(3, 5, 5))
    with pytest.raises(ValueError, match=r"^layers\.0 \(Conv2D\): expected input \(batch, 3, height, width\), "
                                         r"got float32\[2, 1, 5, 5\]"):
        model(np.zeros((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"^layers\.0 \(Conv2D\): .*got float32\[3, 5, 5\]"):
        model(np.zeros((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"^layers\.2 \(Dense\): expected input \(batch, 36\), got float32\[2, 64\]"):
        model(np.zeros((2, 3, 6, 6), np.float32))
    bn = nn.Sequential([nn.BatchNorm()], input_shape=(3,))
    with pytest.raises(ValueError, match=r"^layers\.0 \(BatchNorm\): expected input \(batch, 3\)"):
        bn(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"^MaxPool2D: expected input \(batch, channels, height, width\)"):
        nn.MaxPool2D()(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Dense: expected input \(batch, features\), got shape \(2, 3, 4, 4\); "
                                         r"add a Flatten"):
        nn.Dense(3)(np.zeros((2, 3, 4, 4), np.float32))


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="Conv2D: filters must be a positive int"):
        nn.Conv2D(0, 3)
    with pytest.raises(ValueError, match="Conv2D: kernel_size must be a positive int or a pair"):
        nn.Conv2D(2, (3, 0))
    with pytest.raises(ValueError, match="Dense: units must be a positive int"):
        nn.Dense(-1)
    with pytest.raises(ValueError, match="BatchNorm: momentum must be in"):
        nn.BatchNorm(momentum=1.5)
    with pytest.raises(TypeError, match="Sequential: item 1 is a int"):
        nn.Sequential([nn.ReLU(), 3])
    with pytest.raises(TypeError, match="Dense: dtype must be floating point"):
        nn.Dense(2, dtype=np.int32)


def test_sequential_container_and_summary(capsys):
    model = nn.Sequential([nn.Conv2D(8, 3), nn.BatchNorm(), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(10)],
                          input_shape=(1, 10, 10))
    assert len(model) == 6 and isinstance(model[3], nn.MaxPool2D) and list(model)[5] is model[5]
    model.summary()
    out = capsys.readouterr().out
    assert "layers.0 (Conv2D)" in out and "(None, 8, 8, 8)" in out and "(None, 10)" in out
    conv, bn_t, dense = 8 * 9 + 8, 2 * 8, 8 * 4 * 4 * 10 + 10
    assert f"Total params: {conv + bn_t + 16 + dense:,}" in out
    assert f"Trainable params: {conv + bn_t + dense:,}" in out and "Non-trainable params: 16" in out
    row = next(line for line in out.splitlines() if line.startswith("layers.5 (Dense)"))
    assert row.split()[-1] == f"{dense:,}"
    assert model.training                                       # summary restores the mode
    with pytest.raises(ValueError, match="Sequential.summary: the model is not built"):
        nn.Sequential([nn.Dense(2)]).summary()
