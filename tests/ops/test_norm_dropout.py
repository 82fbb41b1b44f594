"""Gradient checks and value checks for batch_norm and dropout."""
import numpy as np
import pytest

import tapegraph as tg
from tests.ops.cases import Case, params, rand, run_case

R = rand
KEEP = R(4, 3, 2, 2, seed=11) > -0.3          # fixed dropout masks: the check must not redraw
KEEP2 = R(5, 4, seed=12) > 0.2
MEAN, VAR = R(3, seed=4), R(3, seed=5, low=0.5, high=2.0)

GRAD_CASES = {
    "batch_norm": [
        Case(lambda x, g, b: tg.batch_norm(x, g, b), [R(5, 4), R(4, seed=1), R(4, seed=2)], "train-2d"),
        Case(lambda x, g, b: tg.batch_norm(x, g, b, epsilon=1e-5), [R(3, 2, 3, 2), R(2, seed=1), R(2, seed=2)],
             "train-4d"),
        Case(lambda x, g, b: tg.batch_norm(x, g, b, mean=MEAN, var=VAR), [R(2, 3, 2, 2), R(3, seed=1), R(3, seed=2)],
             "eval-4d"),
        Case(lambda x: tg.batch_norm(x, np.ones(4), np.zeros(4)) * rand(6, 4, seed=3), [R(6, 4)], "train-x-only"),
    ],
    "dropout": [
        Case(lambda x: tg.dropout(x, 0.25, mask=KEEP), [R(4, 3, 2, 2)], "4d"),
        Case(lambda x: tg.dropout(x * x, 0.6, mask=KEEP2), [R(5, 4)], "2d-reuse"),
    ],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradient(op, case):
    run_case(op, case)


@pytest.mark.parametrize("shape", [(64, 5), (16, 3, 4, 5)])
def test_batch_norm_training_normalises_per_channel(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.5, shape).astype(np.float32)
    c = shape[1]
    gamma, beta = np.full(c, 2.0, np.float32), np.arange(c, dtype=np.float32)
    stats = {}
    y = tg.batch_norm(tg.tensor(x), gamma, beta, epsilon=1e-5, batch_stats=stats).data
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=axes), beta, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=axes), 2.0 * np.sqrt(x.var(axis=axes) / (x.var(axis=axes) + 1e-5)),
                               rtol=1e-4)
    np.testing.assert_allclose(stats["mean"], x.mean(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(stats["var"], x.var(axis=axes), rtol=1e-4)
    assert stats["count"] == x.size // c


def test_batch_norm_eval_uses_given_statistics():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 2, 2))
    g, b, m, v = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    y = tg.batch_norm(tg.tensor(x, dtype=np.float64), g, b, epsilon=1e-3, mean=m, var=v).data
    c = (slice(None), None, None)
    np.testing.assert_allclose(y, (x - m[c]) / np.sqrt(v[c] + 1e-3) * g[c] + b[c], rtol=1e-12)


def test_batch_norm_eval_record_does_not_follow_later_buffer_changes():
    m, v = np.zeros(2, np.float32), np.ones(2, np.float32)
    x = tg.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    g = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    with tg.Tape() as tape:
        y = tg.batch_norm(x, g, np.zeros(2, np.float32), mean=m, var=v)
    m += 5.0                                             # a later running-stat update must not change this step
    tape.backward(y, grad=np.ones((3, 2), np.float32))
    np.testing.assert_allclose(g.grad, 3 * np.ones(2) / np.sqrt(1 + 1e-3), rtol=1e-6)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"batch_norm: expected input \(N, F\) or \(N, C, H, W\).*float32\[2, 3, 4\]"):
        tg.batch_norm(tg.tensor(np.zeros((2, 3, 4), np.float32)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"batch_norm: gamma must have shape \(3,\)"):
        tg.batch_norm(tg.tensor(np.zeros((2, 3), np.float32)), np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match="batch_norm: batch statistics need more than one value per channel"):
        tg.batch_norm(tg.tensor(np.zeros((1, 3), np.float32)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="batch_norm: give both mean and var"):
        tg.batch_norm(tg.tensor(np.zeros((2, 3), np.float32)), np.ones(3), np.zeros(3), mean=np.zeros(3))


def test_dropout_statistics_and_scaling():
    x = np.ones((200, 500), np.float32)
    y = tg.dropout(tg.tensor(x), 0.3, rng=np.random.default_rng(0)).data
    assert y.dtype == np.float32
    zero = y == 0
    assert abs(zero.mean() - 0.3) < 0.01                      # 100k draws: sd of the fraction ~0.0015
    np.testing.assert_allclose(y[~zero], 1 / 0.7, rtol=1e-6)  # inverted dropout scales the survivors
    assert abs(y.mean() - 1.0) < 0.02                         # mean preserved


def test_dropout_identity_in_eval_and_at_rate_zero():
    x = tg.tensor(np.arange(6, dtype=np.float32))
    assert tg.dropout(x, 0.5, training=False) is x
    assert tg.dropout(x, 0.0) is x


def test_dropout_uses_global_generator():
    x = tg.tensor(np.ones((10, 10), np.float32))
    tg.manual_seed(3)
    a = tg.dropout(x, 0.5).data
    tg.manual_seed(3)
    b = tg.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rate_out_of_range(rate):
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\)"):
        tg.dropout(tg.tensor(np.ones(3, np.float32)), rate)


def test_dropout_bad_mask():
    with pytest.raises(ValueError, match="dropout: mask must be a boolean array of the input's shape"):
        tg.dropout(tg.tensor(np.ones((2, 3), np.float32)), 0.5, mask=np.ones((3, 2), bool))
