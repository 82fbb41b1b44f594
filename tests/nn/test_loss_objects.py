"""Keras-style loss objects: target adaptation and their error messages."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph.nn import loss_objects as lo


def test_sparse_ce_names_a_fractional_label_of_a_segmentation_target():
    pred = tg.Tensor(np.zeros((2, 3, 4, 4), np.float32))
    labels = np.zeros((2, 4, 4))
    labels[1, 3, 3] = 0.5                       # flat index 31, beyond axis 0's length
    with pytest.raises(ValueError, match=r"labels must be integers, got float values such as \[0\.5\]"):
        lo.SparseCategoricalCrossentropy(from_logits=True)(pred, labels)


@pytest.mark.parametrize("cls, fn", [(lo.MeanSquaredError, tg.losses.mean_squared_error),
                                     (lo.MeanAbsoluteError, tg.losses.mean_absolute_error)])
def test_regression_objects_reshape_and_cast_the_target(cls, fn):
    rng = np.random.default_rng(0)
    pred = tg.Tensor(rng.standard_normal((5, 1)).astype(np.float32))
    target = rng.standard_normal(5)                                    # (N,) float64 against (N, 1) float32
    got = cls()(pred, target)
    assert got.data.dtype == np.float32
    np.testing.assert_allclose(got.data, fn(pred, target.reshape(5, 1).astype(np.float32)).data, rtol=1e-6)
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match the output shape \(5, 1\)"):
        cls()(pred, np.zeros(4))
