"""Layers for the issue-11 ops: pooling options, global pools, UpSampling2D, ZeroPadding2D, LayerNormalization,
GroupNormalization and the new activation layers: outputs equal the ops, parameters get gradients, construction
refuses bad arguments, and a model using them trains through its parameters in float64."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn
from tests.nn.helpers import check_param_grads

X = np.random.default_rng(0).standard_normal((2, 4, 6, 6))


@pytest.mark.parametrize("layer,fn", [
    (nn.MaxPool2D(3, 2, padding=1, dilation=1, ceil_mode=True), lambda x: tg.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    (nn.MaxPool2D(2, 1, dilation=2), lambda x: tg.max_pool2d(x, 2, 1, dilation=2)),
    (nn.AvgPool2D(3, 2, padding=((1, 0), (0, 1)), count_include_pad=False),
     lambda x: tg.avg_pool2d(x, 3, 2, ((1, 0), (0, 1)), count_include_pad=False)),
    (nn.AvgPool2D(2, padding="same"), lambda x: tg.avg_pool2d(x, 2, padding="same")),
    (nn.GlobalAveragePooling2D(), lambda x: x.mean(axis=(2, 3))),
    (nn.GlobalAveragePooling2D(keepdims=True), lambda x: x.mean(axis=(2, 3), keepdims=True)),
    (nn.GlobalMaxPooling2D(), lambda x: x.max(axis=(2, 3))),
    (nn.UpSampling2D(), lambda x: np.repeat(np.repeat(x, 2, 2), 2, 3)),
    (nn.UpSampling2D((1, 3), interpolation="bilinear"),
     lambda x: tg.interpolate(x, scale_factor=(1, 3), mode="bilinear")),
    (nn.ZeroPadding2D(((1, 0), (2, 3))), lambda x: np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 3)))),
    (nn.ZeroPadding2D((1, 2)), lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))),
    (nn.GELU(), tg.gelu), (nn.GELU("tanh"), lambda x: tg.gelu(x, "tanh")), (nn.SiLU(), tg.silu),
    (nn.Swish(), tg.silu), (nn.ELU(0.5), lambda x: tg.elu(x, 0.5)),
    (nn.Softplus(2.0, 3.0), lambda x: tg.softplus(x, 2.0, 3.0)), (nn.HardSigmoid(), tg.hard_sigmoid),
    (nn.HardSwish(), tg.hard_swish),
])
def test_layer_equals_its_op(layer, fn):
    y = layer(tg.tensor(X, dtype=np.float64))
    ref = fn(X)
    np.testing.assert_allclose(y.data, getattr(ref, "data", ref), rtol=1e-12, atol=1e-12)
    assert repr(layer)


def test_layer_normalization_axes_and_parameters():
    x = tg.tensor(X, dtype=np.float64)
    ln = nn.LayerNormalization(dtype=np.float64)
    np.testing.assert_allclose(ln(x).data, tg.layer_norm(X, 6, eps=1e-3).data, rtol=1e-12)
    assert ln.gamma.shape == (6,) and ln.beta.shape == (6,)
    ln3 = nn.LayerNormalization(axis=[1, 2, 3], dtype=np.float64)
    np.testing.assert_allclose(ln3(x).data, tg.layer_norm(X, (4, 6, 6), eps=1e-3).data, rtol=1e-12)
    ln1 = nn.LayerNormalization(axis=1, dtype=np.float64)        # not trailing: moved to the end and back
    ref = np.moveaxis(tg.layer_norm(np.moveaxis(X, 1, -1), 4, eps=1e-3).data, -1, 1)
    np.testing.assert_allclose(ln1(x).data, ref, rtol=1e-12)
    assert ln1.gamma.shape == (4,)
    with pytest.raises(ValueError, match=r"LayerNormalization.*expected input"):
        ln1(np.zeros((2, 5, 6, 6)))


def test_group_normalization():
    gn = nn.GroupNormalization(2, dtype=np.float64)
    y = gn(tg.tensor(X, dtype=np.float64))
    np.testing.assert_allclose(y.data, tg.group_norm(X, 2, eps=1e-3).data, rtol=1e-12)
    assert gn.gamma.shape == gn.beta.shape == (4,)
    with pytest.raises(ValueError, match=r"GroupNormalization.*groups=3 must divide the 4 channels"):
        nn.GroupNormalization(3)(X)
    assert nn.GroupNormalization(2, center=False, scale=False)(X).shape == X.shape


def test_model_with_new_layers_has_correct_parameter_gradients():
    tg.manual_seed(0)
    model = nn.Sequential([
        nn.Conv2D(4, 3, padding="same"), nn.GroupNormalization(2), nn.GELU(), nn.MaxPool2D(3, 2, padding=1),
        nn.ZeroPadding2D(1), nn.Conv2D(4, 2), nn.LayerNormalization(axis=[1, 2, 3]), nn.SiLU(),
        nn.UpSampling2D(2, "bilinear"), nn.AvgPool2D(2, padding=1, ceil_mode=True), nn.HardSwish(),
        nn.GlobalAveragePooling2D(), nn.Dense(3), nn.ELU(),
    ], input_shape=(2, 6, 6), dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    names = check_param_grads(model, x, lambda out: tg.losses.mean_squared_error(out, np.ones((2, 3))))
    assert "layers.1.gamma" in names and "layers.6.beta" in names


@pytest.mark.parametrize("make,words", [
    (lambda: nn.MaxPool2D(2, padding="full"), "MaxPool2D: padding"),
    (lambda: nn.MaxPool2D(2, padding=(True, 0)), "MaxPool2D: padding"),
    (lambda: nn.MaxPool2D(2, dilation=0), "MaxPool2D: dilation"),
    (lambda: nn.MaxPool2D(2, ceil_mode=1), "MaxPool2D: ceil_mode must be a bool"),
    (lambda: nn.AvgPool2D(2, count_include_pad="no"), "AvgPool2D: count_include_pad"),
    (lambda: nn.GlobalMaxPooling2D(keepdims=None), "GlobalMaxPooling2D: keepdims"),
    (lambda: nn.UpSampling2D(1.5), "UpSampling2D: size"),
    (lambda: nn.UpSampling2D(2, "bicubic"), "UpSampling2D: interpolation"),
    (lambda: nn.ZeroPadding2D("same"), "ZeroPadding2D: padding"),
    (lambda: nn.ZeroPadding2D(-1), "ZeroPadding2D: padding"),
    (lambda: nn.LayerNormalization(axis=True), "LayerNormalization: axis"),
    (lambda: nn.LayerNormalization(epsilon=0), "LayerNormalization: epsilon"),
    (lambda: nn.GroupNormalization(0), "GroupNormalization: groups"),
    (lambda: nn.GroupNormalization(2, axis=-1), "GroupNormalization: only axis=1"),
    (lambda: nn.GELU("erf"), "GELU: approximate"),
    (lambda: nn.ELU("1"), "ELU: alpha"),
    (lambda: nn.Softplus(beta=0), "Softplus: beta"),
])
def test_construction_refuses_bad_arguments(make, words):
    with pytest.raises((ValueError, TypeError)) as info:   # TypeError: a bool flag of another type
        make()
    assert str(info.value).startswith(words), str(info.value)


def test_layer_normalization_refuses_the_batch_axis():
    with pytest.raises(ValueError, match=r"axis 0 must name distinct non-batch axes"):
        nn.LayerNormalization(axis=0)(X)
