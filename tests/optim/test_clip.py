"""clip_grad_norm / clip_grad_value against hand computations (PyTorch's semantics)."""
import math

import numpy as np
import pytest

from tapegraph import nn, optim


def params(*grads):
    ps = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g)), dtype=np.float64)
        p.grad = None if g is None else np.array(g, dtype=np.float64)
        ps.append(p)
    return ps


def test_clip_grad_norm_scales_all_grads_together():
    ps = params([3.0, 0.0], [[4.0]], None)
    total = optim.clip_grad_norm(ps, 1.0)
    assert total == pytest.approx(5.0)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(ps[0].grad, [3 * coef, 0.0], rtol=1e-15)
    np.testing.assert_allclose(ps[1].grad, [[4 * coef]], rtol=1e-15)
    assert ps[2].grad is None


def test_clip_grad_norm_leaves_small_grads_and_other_norms():
    ps = params([0.3, -0.4])
    g = ps[0].grad
    assert optim.clip_grad_norm_(ps, 1.0) == pytest.approx(0.5)
    assert ps[0].grad is g                                       # in place
    np.testing.assert_array_equal(g, [0.3, -0.4])
    ps = params([1.0, -2.0], [2.0])
    assert optim.clip_grad_norm(ps, 1.0, norm_type=1) == pytest.approx(5.0)
    np.testing.assert_allclose(ps[0].grad, np.array([1.0, -2.0]) / (5 + 1e-6))
    ps = params([1.0, -3.0], [2.0])
    assert optim.clip_grad_norm(ps, 1.5, norm_type=float("inf")) == 3.0
    np.testing.assert_allclose(ps[0].grad, np.array([1.0, -3.0]) * 1.5 / (3 + 1e-6))
    ps = params([1.0, -1.0, 1.0])
    assert optim.clip_grad_norm(ps, 10.0, norm_type=3) == pytest.approx(3 ** (1 / 3))
    assert optim.clip_grad_norm(params(None), 1.0) == 0.0
    assert optim.clip_grad_norm(params([2.0])[0], 1.0) == 2.0      # a single tensor


def test_clip_grad_norm_non_finite():
    ps = params([1.0, math.inf], [1.0])
    assert optim.clip_grad_norm(ps, 1.0) == math.inf               # as torch: scaled by 0 -> inf*0 = nan
    assert np.isnan(ps[0].grad[1]) and ps[0].grad[0] == 0 and ps[1].grad[0] == 0
    ps = params([1.0, math.nan])
    with pytest.raises(RuntimeError, match="clip_grad_norm: the total norm of order 2.0 of the gradients is nan"):
        optim.clip_grad_norm(ps, 1.0, error_if_nonfinite=True)
    assert ps[0].grad[0] == 1.0


def test_clip_grad_value():
    ps = params([0.5, -2.0, 3.0], [[-0.1]])
    assert optim.clip_grad_value_(ps, 1.0) is None
    np.testing.assert_array_equal(ps[0].grad, [0.5, -1.0, 1.0])
    np.testing.assert_array_equal(ps[1].grad, [[-0.1]])
    optim.clip_grad_value(ps, 0)
    np.testing.assert_array_equal(ps[0].grad, 0.0)


def test_clip_argument_errors():
    ps = params([1.0])
    with pytest.raises(TypeError, match="clip_grad_norm: max_norm must be a number, got str"):
        optim.clip_grad_norm(ps, "1")
    with pytest.raises(ValueError, match="clip_grad_norm: norm_type must be > 0"):
        optim.clip_grad_norm(ps, 1.0, norm_type=0)
    with pytest.raises(ValueError, match="clip_grad_value: clip_value must be >= 0"):
        optim.clip_grad_value(ps, -1)
    with pytest.raises(TypeError, match=r"clip_grad_value: params\[0\] is a ndarray, expected a tensor"):
        optim.clip_grad_value([np.ones(2)], 1.0)


def test_clip_grad_norm_of_float32_grads_sums_in_float64():
    big = nn.Parameter(np.zeros(3, np.float32))
    big.grad = np.full(3, 3e20, np.float32)                    # squares overflow float32, not float64
    small = nn.Parameter(np.zeros(1000, np.float32))
    small.grad = np.full(1000, 1e-3, np.float32)
    total = optim.clip_grad_norm([big, small], 1.0)
    assert total == pytest.approx(math.sqrt(3 * float(np.float32(3e20)) ** 2 + 1000 * float(np.float32(1e-3)) ** 2),
                                  rel=1e-12)
    assert big.grad.dtype == np.float32 and np.isfinite(big.grad).all()
