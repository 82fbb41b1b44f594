"""Numerical stability at extreme inputs, tensor basics, and the errors users get for bad input."""
import warnings

import numpy as np
import pytest

import tapegraph as tg


def grads_of(fn, *arrays):
    ts = [tg.tensor(a, requires_grad=True) for a in arrays]
    with tg.Tape() as tape:
        out = fn(*ts)
    tape.backward(out)
    return out, [t.grad for t in ts]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_stable_at_1e4(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # an overflow warning would fail the test
        for fn in (tg.softmax, tg.log_softmax, tg.sigmoid, tg.tanh):
            out, (g,) = grads_of(lambda t: (fn(t) * np.arange(3, dtype=dtype)).sum(), z)
            assert np.isfinite(out.data) and np.isfinite(g).all(), fn.__name__
        out, (g,) = grads_of(lambda t: tg.categorical_crossentropy(t, np.array([1, 0]), from_logits=True), z)
        assert np.isfinite(out.data) and np.isfinite(g).all()
        np.testing.assert_allclose(out.data, (2e4 + np.log(3)) / 2, rtol=1e-6)
        out, (g,) = grads_of(lambda t: tg.binary_crossentropy(t, (z > 0).astype(dtype), from_logits=True), z)
        assert np.isfinite(out.data) and np.isfinite(g).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probability_losses_at_exactly_0_and_1(dtype):
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, (g,) = grads_of(lambda t: tg.categorical_crossentropy(t, np.array([0, 0])), p)
        assert np.isfinite(out.data) and np.isfinite(g).all()
        assert out.data > 5                                     # row 0 is confidently wrong
        out, (g,) = grads_of(lambda t: tg.binary_crossentropy(t, 1 - p), p)
        assert np.isfinite(out.data) and np.isfinite(g).all()
        out, _ = grads_of(lambda t: tg.binary_crossentropy(t, p), p)
        assert out.data < 1e-5                                   # perfect predictions cost ~0


def test_tensor_defaults_and_basics():
    assert tg.tensor([1.5, 2.0]).dtype == np.float32
    assert tg.tensor(np.zeros(3)).dtype == np.float32           # float64 input -> float32 by default
    assert tg.tensor(np.zeros(3), dtype=np.float64).dtype == np.float64
    assert tg.tensor([1, 2]).dtype.kind == "i"
    t = tg.tensor([[1.0, 2.0]])
    assert t.shape == (1, 2) and t.ndim == 2 and t.numpy() is t.data and t.sum().item() == 3.0
    assert (t > 1.5).tolist() == [[False, True]] and isinstance(t == t, np.ndarray)
    assert (t * 2).dtype == np.float32 and (2 - t).data.tolist() == [[1.0, 0.0]]
    assert (np.ones(2, dtype=np.float32) + t).__class__ is tg.Tensor   # ndarray + Tensor defers to Tensor
    with pytest.raises(TypeError, match="only floating-point tensors can require a gradient"):
        tg.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([object(), object()]), np.array([1j, 2j])])
def test_non_numeric_arrays_are_refused_by_name(bad):
    x = tg.tensor(np.ones(2))
    with pytest.raises(TypeError, match=r"^add: got a (string|object|complex) array"):
        x + bad


def test_shape_mismatch_names_op_and_shapes():
    a, b = tg.tensor(np.ones((3, 4))), tg.tensor(np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"^add: .*float32\[3, 4\], float32\[5, 4\]"):
        a + b
    with pytest.raises(ValueError, match=r"^matmul: inner dimensions differ .*float32\[3, 4\], float32\[5, 4\]"):
        a @ b
    with pytest.raises(ValueError, match=r"^reshape: cannot reshape 12 elements into shape \(5,\)"):
        a.reshape(5)
    with pytest.raises(ValueError, match=r"^sum: axis 2 is out of range"):
        a.sum(axis=2)


def test_loss_label_errors():
    z = tg.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"categorical_crossentropy: labels must lie in \[0, 3\)"):
        tg.categorical_crossentropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"categorical_crossentropy: integer labels must have shape \(2,\)"):
        tg.categorical_crossentropy(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="target contains NaN"):
        tg.categorical_crossentropy(z, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="mean_squared_error: pred and target must have the same shape"):
        tg.mean_squared_error(z, np.zeros((3, 2)))


def test_integer_inputs_to_math_ops_are_promoted_and_bools_promoted_as_numpy():
    i = tg.tensor(np.array([1, 2, 3]))
    assert (i + 0.5).dtype == np.float32 and (i * tg.tensor([1.0, 1.0, 1.0], dtype=np.float64)).dtype == np.float64
    assert tg.exp(i).dtype == np.float32
    assert i.reshape(3, 1).dtype == i.dtype                    # ops that only move data keep integers
    b = tg.tensor(np.array([True, False])) * 2.0               # numpy: bool becomes the float operand's dtype
    assert b.dtype == np.float32 and b.data.tolist() == [2.0, 0.0]
    with pytest.raises(TypeError, match=r"^max_pool2d: got a bool array"):   # NN ops refuse bools, as PyTorch
        tg.max_pool2d(tg.tensor(np.ones((1, 1, 2, 2), bool)), 2)
    assert tg.where(np.array([True, False, True]), i, 0.0).dtype == np.float32   # a boolean condition is fine
