"""Core findings of the hostile pass (issue 13): numpy ufuncs on a Tensor, saved as_strided views, a leaf as the
backward target."""
import numpy as np
import pytest

import tapegraph as tg


def test_numpy_ufuncs_on_a_tensor_record_the_op_instead_of_cutting_the_tape():
    x = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        loss = tg.sum(x * np.tanh(x)) + np.exp(x).sum() + (np.ones(3) * x).sum()
    tape.backward(loss)
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, t + x.data * (1 - t ** 2) + np.exp(x.data) + 1)
    assert {n.op.name for n in tape} >= {"tanh", "exp", "mul"}


def test_numpy_ufuncs_without_an_op_are_refused_and_comparisons_stay_arrays():
    x = tg.tensor([1.0, -2.0])
    with pytest.raises(TypeError, match="np.sin on a Tensor would return a plain array and cut the tape"):
        np.sin(x)
    with pytest.raises(TypeError, match="np.add.reduce"):
        np.add.reduce(x)
    mask = np.zeros(2) < x
    assert type(mask) is np.ndarray and mask.tolist() == [True, False]


def test_an_as_strided_input_is_differentiated_and_stays_usable():
    base = np.random.default_rng(0).random(1).astype(np.float32)
    view = np.lib.stride_tricks.as_strided(base, shape=(3, 4), strides=(0, 0))
    t = tg.Tensor(view, requires_grad=True)
    with tg.Tape() as tape:
        loss = tg.gelu(t).sum()
    tape.backward(loss)                                 # unlocking used to fail: numpy can't re-enable writes there
    assert t.grad.shape == (3, 4) and np.isfinite(t.grad).all()


def test_a_leaf_that_requires_grad_is_its_own_target():
    x = tg.tensor(np.array(2.0), requires_grad=True)
    with tg.Tape() as tape:
        y = tg.nn.Dropout(0.0)(x)                         # returns its input
    tape.backward(y)
    assert float(x.grad) == 1.0
    constant = tg.tensor(np.array(2.0))
    with tg.Tape() as tape:
        pass
    with pytest.raises(RuntimeError, match="was not recorded on this tape"):
        tape.backward(constant)


def test_numpy_reductions_on_a_tensor_reach_the_ops():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        loss = np.sum(x) + np.mean(x, axis=0).sum() + np.max(x) + np.min(x)
    tape.backward(loss)
    expected = np.full((2, 3), 1.5)
    expected[1, 2] += 1
    expected[0, 0] += 1
    np.testing.assert_allclose(x.grad, expected)
    with pytest.raises(TypeError, match="sum: dtype= and out= are not supported"):
        np.sum(x, dtype=np.float32)
