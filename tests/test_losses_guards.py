"""Losses refuse what would give a silent wrong answer (issues 12, 13): logits passed as probabilities, targets
outside their domain, labels out of range, mismatched shapes; and float16 inputs give finite, correct losses."""
import warnings

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import losses

CE, BCE = losses.categorical_crossentropy, losses.binary_crossentropy


def grads_of(fn, x):
    t = tg.tensor(x, requires_grad=True, dtype=x.dtype)
    with tg.Tape() as tape:
        out = fn(t)
    tape.backward(out)
    return out, t.grad


# -- issue 12: logits where probabilities are expected ------------------------------------------------------------
def test_categorical_crossentropy_refuses_logits_without_from_logits():
    z = np.array([[2.0, -1.0, 0.5], [0.1, 3.0, -2.0]], np.float32)
    with pytest.raises(ValueError, match=r"^categorical_crossentropy: .*look like logits; pass from_logits=True"):
        CE(z, np.array([0, 1]))
    assert np.isfinite(CE(z, np.array([0, 1]), from_logits=True).data)


def test_categorical_crossentropy_refuses_rows_in_unit_interval_that_do_not_sum_to_1():
    p = np.array([[0.9, 0.8, 0.7], [0.2, 0.1, 0.6]], np.float32)      # sigmoid outputs, say
    with pytest.raises(ValueError, match=r"^categorical_crossentropy: .*sum to 1 over axis 1.*\[0\.9, 2\.4\].*"
                                         r"pass from_logits=True"):
        CE(p, np.array([0, 1]))
    ok = p / p.sum(axis=1, keepdims=True) + np.float32(2e-4)           # within the tolerance
    assert np.isfinite(CE(ok, np.array([0, 1])).data)


def test_binary_crossentropy_refuses_logits_without_from_logits():
    with pytest.raises(ValueError, match=r"^binary_crossentropy: .*\[-1\.5, 2\].*look like logits; "
                                         r"pass from_logits=True"):
        BCE(np.array([[-1.5, 2.0]], np.float32), np.array([[0.0, 1.0]]))


def test_kl_divergence_refuses_probabilities_given_as_log_probabilities():
    p = np.full((2, 4), 0.25)
    with pytest.raises(ValueError, match=r"^kl_divergence: log_input=True expects log-probabilities.*"
                                         r"pass log_input=False"):
        losses.kl_divergence(p, p)
    assert losses.kl_divergence(p, p, log_input=False).data == 0


# -- issue 13: float16 ---------------------------------------------------------------------------------------------
def test_float16_bce_at_probability_one_is_finite_with_finite_gradient():
    p = np.array([[1.0, 0.0, 0.5]], np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, g = grads_of(lambda t: BCE(t, np.array([[1.0, 0.0, 1.0]])), p)
    assert out.dtype == np.float32 and g.dtype == np.float16
    assert np.isfinite(out.data) and np.isfinite(g).all()
    np.testing.assert_allclose(out.data, np.log(2) / 3, rtol=1e-3)
    out, g = grads_of(lambda t: CE(t, np.array([1])), np.array([[0.0, 1.0]], np.float16))
    assert np.isfinite(out.data) and out.data < 1e-5 and np.isfinite(g).all()


def test_float16_mse_of_large_errors_does_not_overflow():
    x = np.full(300, 15, np.float16)
    out, g = grads_of(lambda t: losses.mse(t, np.zeros(300, np.float16)), x)
    assert out.dtype == np.float32 and out.item() == 225.0
    assert g.dtype == np.float16 and np.allclose(g, 0.1)
    assert losses.mse(x, np.zeros(300), reduction="sum").item() == 67500.0        # > float16's max 65504
    for fn in (losses.mae, losses.huber):
        assert np.isfinite(fn(np.full(70000, 60000, np.float16), np.zeros(70000), reduction="sum").data)


def test_float16_cross_entropy_from_logits_matches_float64():
    z = np.random.default_rng(0).standard_normal((8, 10)) * 4
    y = np.arange(8)
    ref = CE(z.astype(np.float64), y, True, label_smoothing=0.1).item()
    out = CE(z.astype(np.float16), y, True, label_smoothing=0.1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), ref, rtol=3e-3)


# -- issue 13: targets are validated --------------------------------------------------------------------------------
def test_binary_crossentropy_targets_outside_unit_interval():
    p = np.full((2, 2), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"^binary_crossentropy: target must lie in \[0, 1\], got values in "
                                         r"\[-1, 2\]"):
        BCE(p, np.array([[0, 1], [-1, 2]]))
    with pytest.raises(ValueError, match=r"^binary_crossentropy: target must lie in \[0, 1\]"):
        BCE(p, np.array([[0.0, 1.0], [255.0, 0.0]]), from_logits=True)


def test_one_hot_target_with_negative_entries():
    with pytest.raises(ValueError, match=r"^categorical_crossentropy: probability target has negative entries"):
        CE(np.zeros((2, 3)), np.array([[1.5, -0.5, 0.0], [0.0, 1.0, 0.0]]), from_logits=True)


def test_one_hot_target_rows_not_summing_to_one():
    with pytest.raises(ValueError, match=r"^categorical_crossentropy: probability target must sum to 1 over axis 1"
                                         r".*\[1, 2\]"):
        CE(np.zeros((2, 3)), np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]), from_logits=True)


@pytest.mark.parametrize("call", [
    lambda t: losses.mse(np.zeros(3), t), lambda t: losses.mae(np.zeros(3), t),
    lambda t: losses.huber(np.zeros(3), t), lambda t: BCE(np.zeros(3), t, True),
    lambda t: losses.kl_divergence(np.full(3, -1.0), t),
    lambda t: CE(np.zeros((1, 3)), t.reshape(1, 3), True),
])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_targets(call, bad):
    t = np.array([0.5, bad, 0.5])
    with pytest.raises(ValueError, match=r"^\w+: target contains NaN or infinite values \(1 of 3\)"):
        call(t)


def test_integer_labels_out_of_range_name_the_range():
    z = np.zeros((2, 3, 2, 2))
    y = np.zeros((2, 2, 2), np.int64)
    y[1, 0, 1] = 3
    with pytest.raises(ValueError, match=r"^categorical_crossentropy: labels must lie in \[0, 3\), got range "
                                         r"\[0, 3\] \(got float64\[2, 3, 2, 2\], int64\[2, 2, 2\]\)"):
        CE(z, y, True)
    y[1, 0, 1] = -1
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) \(besides ignore_index=-100\), got range "
                                         r"\[-1, 0\]"):
        CE(z, y, True, ignore_index=-100)
    assert np.isfinite(CE(z, y, True, ignore_index=-1).data)          # -1 is ignored: fine


def test_ignore_index_out_of_range():
    with pytest.raises(ValueError, match=r"^categorical_crossentropy: ignore_index=3 is out of range for 3 classes.*"
                                         r"\(got float64\[2, 3\], int64\[2\]\)"):
        CE(np.zeros((2, 3)), np.array([0, 1]), True, ignore_index=3)
    with pytest.raises(TypeError, match=r"^categorical_crossentropy: ignore_index must be an int"):
        CE(np.zeros((2, 3)), np.array([0, 1]), True, ignore_index=1.0)
    with pytest.raises(ValueError, match=r"^categorical_crossentropy: ignore_index applies to integer labels only"):
        CE(np.zeros((2, 3)), np.eye(3)[[0, 1]], True, ignore_index=0)


def test_all_positions_ignored_give_nan_and_zero_gradient_as_torch():
    out, g = grads_of(lambda t: CE(t, np.array([1, 1]), True, ignore_index=1), np.zeros((2, 3)))
    assert np.isnan(out.data) and (g == 0).all()


@pytest.mark.parametrize("call,pattern", [
    (lambda: losses.mse(np.zeros((4, 3)), np.zeros((3, 4))), r"^mean_squared_error: pred and target must have the "
                                                              r"same shape, got pred \(4, 3\) and target \(3, 4\)"),
    (lambda: losses.mae(np.zeros(3), np.zeros((3, 1))), r"^mean_absolute_error: .*pred \(3,\) and target \(3, 1\)"),
    (lambda: losses.huber(np.zeros(3), np.zeros(4)), r"^huber: .*pred \(3,\) and target \(4,\)"),
    (lambda: losses.kl_divergence(np.zeros((2, 3)), np.zeros(3)), r"^kl_divergence: .*pred \(2, 3\) and target \(3,\)"),
    (lambda: BCE(np.zeros((4, 1)), np.zeros(4)), r"^binary_crossentropy: .*pred \(4, 1\) and target \(4,\)"),
    (lambda: CE(np.zeros((4, 3)), np.zeros((4, 2))), r"^categorical_crossentropy: target must be integer labels of "
                                                      r"shape \(4,\) or probabilities of pred's shape \(4, 3\), got "
                                                      r"shape \(4, 2\)"),
    (lambda: CE(np.zeros((4, 3)), np.zeros(4)), r"^categorical_crossentropy: a float target of shape \(4,\) looks "
                                                 r"like class labels; labels must be integers"),
    (lambda: CE(np.zeros((2, 3, 4)), np.zeros((2, 3), np.int64)), r"integer labels must have shape \(2, 4\) for "
                                                                   r"pred of shape \(2, 3, 4\), got \(2, 3\)"),
    (lambda: CE(np.zeros(3), np.zeros((), np.int64)), r"^categorical_crossentropy: pred must be \(N, C\) or"),
    (lambda: CE(np.zeros((2, 3)), np.array([0, 1]), True, class_weights=np.ones(4)),
     r"^categorical_crossentropy: class_weights must have shape \(3,\)"),
    (lambda: CE(np.zeros((2, 3)), np.array([0, 1]), True, class_weights=-np.ones(3)),
     r"^categorical_crossentropy: class_weights must be >= 0"),
    (lambda: BCE(np.zeros((2, 3)), np.zeros((2, 3)), True, pos_weight=np.ones(2)),
     r"^binary_crossentropy: pos_weight of shape \(2,\) does not broadcast to pred's shape \(2, 3\)"),
    (lambda: BCE(np.zeros(3), np.zeros(3), True, pos_weight=np.ones((2, 3))),     # would widen the loss
     r"^binary_crossentropy: pos_weight of shape \(2, 3\) does not broadcast to pred's shape \(3,\)"),
    (lambda: CE(np.zeros((2, 3)), np.array([0, 1]), True, label_smoothing=1.5),
     r"^categorical_crossentropy: label_smoothing must be a number in \[0, 1\], got 1\.5"),
    (lambda: losses.huber(np.zeros(2), np.zeros(2), delta=0), r"^huber: delta must be a finite number > 0, got 0"),
    (lambda: losses.mse(np.zeros(2), np.zeros(2), reduction="avg"),
     r"^mean_squared_error: reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    (lambda: losses.kl_divergence(np.zeros(2), np.full(2, -0.5)), r"^kl_divergence: target must be probabilities"),
    (lambda: losses.mse(np.zeros((0, 3)), np.zeros((0, 3))), r"^mean_squared_error: reduction='mean' over an empty"),
    (lambda: CE(np.zeros((2, 0)), np.zeros((2, 0)), True), r"^categorical_crossentropy: pred has no classes"),
    (lambda: CE(np.zeros((2, 3)), np.array([0, 1]), "yes"),
     r"^categorical_crossentropy: from_logits must be True or False, got 'yes'"),
    (lambda: losses.kl_divergence(np.zeros(2), np.zeros(2), log_input=None), r"^kl_divergence: log_input must be"),
    (lambda: losses.mse(np.zeros(2, np.float32), np.array([1e300, 0.0])), r"^mean_squared_error: target overflows "
                                                                          r"float32 \(largest magnitude 1e\+300\)"),
])
def test_bad_arguments_name_op_argument_and_shapes(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()


def test_reduction_none_shapes_and_empty_sum():
    z = np.zeros((2, 4, 3, 5), np.float32)
    assert CE(z, np.zeros((2, 3, 5), np.int64), True, reduction="none").shape == (2, 3, 5)
    assert BCE(np.full((2, 3), 0.5), np.ones((2, 3)), reduction="none").shape == (2, 3)
    assert losses.mse(np.zeros((0, 3)), np.zeros((0, 3)), reduction="sum").item() == 0
    assert losses.kl_divergence(np.float64(-1.0), np.float64(0.5), reduction="batchmean").shape == ()


def test_keras_aliases():
    assert losses.mse is losses.mean_squared_error and losses.mae is losses.mean_absolute_error
    assert losses.kld is losses.kl_divergence
    assert losses.sparse_categorical_crossentropy is losses.categorical_crossentropy
    assert tg.huber is losses.huber and tg.mean_absolute_error is losses.mae
