"""layer_norm and group_norm: gradient checks (with and without the affine parameters), values against a numpy
reference, one record per call, bad input. PyTorch parity in tests/test_torch_parity_poolnorm.py."""
import numpy as np
import pytest

import tapegraph as tg
from tests.ops.cases import Case, params, rand, run_case

GRAD_CASES = {
    "layer_norm": [
        Case(lambda x, w, b: tg.layer_norm(x, (4, 5), w, b), [rand(3, 4, 5), rand(4, 5, seed=1), rand(4, 5, seed=2)],
             "affine-2d"),
        Case(lambda x: tg.layer_norm(x, 6), [rand(2, 3, 6)], "plain"),
        Case(lambda x, b: tg.layer_norm(x, 6, bias=b, eps=1e-3), [rand(4, 6), rand(6, seed=5)], "bias-only"),
        Case(lambda x, w: tg.layer_norm(x, (2, 3, 3), w), [rand(2, 2, 3, 3), rand(2, 3, 3, seed=4)], "weight-only"),
    ],
    "group_norm": [
        Case(lambda x, w, b: tg.group_norm(x, 2, w, b), [rand(2, 4, 3, 3), rand(4, seed=1), rand(4, seed=2)],
             "affine"),
        Case(lambda x: tg.group_norm(x, 3), [rand(2, 6, 5)], "1d-plain"),
        Case(lambda x, w, b: tg.group_norm(x, 1, w, b), [rand(3, 3, 2, 2), rand(3, seed=6), rand(3, seed=7)],
             "one-group"),
        Case(lambda x, w: tg.group_norm(x, 4, w), [rand(2, 4, 2, 3), rand(4, seed=8)], "instance-norm"),
    ],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradcheck(op, case):
    run_case(op, case)


def ref_norm(x, axes, eps):
    mu = x.mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def test_layer_norm_values_and_one_record():
    x, w, b = rand(2, 3, 4, 5), rand(4, 5, seed=1), rand(4, 5, seed=2)
    ts = [tg.tensor(a, requires_grad=True, dtype=np.float64) for a in (x, w, b)]
    with tg.Tape() as tape:
        y = tg.layer_norm(*ts[:1], (4, 5), ts[1], ts[2])
    assert [n.op.name for n in tape] == ["layer_norm"]
    np.testing.assert_allclose(y.data, ref_norm(x, (2, 3), 1e-5) * w + b, rtol=1e-12, atol=1e-12)
    y32 = tg.layer_norm(x.astype(np.float32), 5)
    assert y32.dtype == np.float32


def test_group_norm_values_and_one_record():
    x, w, b = rand(2, 6, 3, 4), rand(6, seed=1), rand(6, seed=2)
    ts = [tg.tensor(a, requires_grad=True, dtype=np.float64) for a in (x, w, b)]
    with tg.Tape() as tape:
        y = tg.group_norm(ts[0], 3, ts[1], ts[2], eps=1e-3)
    assert [n.op.name for n in tape] == ["group_norm"]
    ref = ref_norm(x.reshape(2, 3, -1), (2,), 1e-3).reshape(x.shape) * w[:, None, None] + b[:, None, None]
    np.testing.assert_allclose(y.data, ref, rtol=1e-12, atol=1e-12)


def test_constant_input_gives_zero_not_nan():
    for y in (tg.layer_norm(np.full((2, 4), 3.0), 4), tg.group_norm(np.full((2, 4, 3), 3.0), 2)):
        np.testing.assert_array_equal(y.data, np.zeros(y.shape))


X = np.zeros((2, 4, 3, 3))


@pytest.mark.parametrize("call,kind,words", [
    (lambda: tg.layer_norm(X, (4, 3)), ValueError, ["layer_norm", "normalized_shape (4, 3)", "(2, 4, 3, 3)"]),
    (lambda: tg.layer_norm(X, 3.0), TypeError, ["layer_norm", "normalized_shape"]),
    (lambda: tg.layer_norm(X, (True,)), TypeError, ["layer_norm", "normalized_shape"]),
    (lambda: tg.layer_norm(X, 3, weight=np.ones(4)), ValueError, ["layer_norm", "weight must have shape (3,)",
                                                                 "(4,)"]),
    (lambda: tg.layer_norm(X, 3, eps=-1), ValueError, ["layer_norm", "eps"]),
    (lambda: tg.group_norm(X, 3), ValueError, ["group_norm", "num_groups 3 must divide the 4 channels",
                                               "(2, 4, 3, 3)"]),
    (lambda: tg.group_norm(X, 0), TypeError, ["group_norm", "num_groups"]),
    (lambda: tg.group_norm(X, 2, bias=np.ones((4, 1))), ValueError, ["group_norm", "bias must have shape (4,)"]),
    (lambda: tg.group_norm(np.zeros(4), 2), ValueError, ["group_norm", "(N, C, ...)"]),
])
def test_bad_input(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    for w in words:
        assert w in str(info.value), str(info.value)


@pytest.mark.filterwarnings("error")                      # no "Mean of empty slice" from numpy
def test_group_norm_of_an_empty_batch_is_empty_as_in_torch():
    x = tg.tensor(np.zeros((0, 4, 3, 3), np.float32), requires_grad=True)
    w = tg.tensor(np.ones(4, np.float32), requires_grad=True)
    with tg.Tape() as tape:
        y = tg.group_norm(x, 2, weight=w)
        loss = y.sum()
    tape.backward(loss)
    assert y.shape == (0, 4, 3, 3) and x.grad.shape == (0, 4, 3, 3)
    np.testing.assert_array_equal(w.grad, np.zeros(4, np.float32))
