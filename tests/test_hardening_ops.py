"""Issue 13, items 2-8: silent wrong answers in array ops and errors that must name the op (one test per item)."""
import warnings

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn

try:
    from numpy.exceptions import AxisError
except ImportError:  # numpy < 1.25
    from numpy import AxisError


def test_getitem_copies_its_index_array():
    x = tg.tensor(np.zeros(4, np.float32), requires_grad=True)
    idx = np.array([0, 0, 1])
    with tg.Tape() as tape:
        y = x[idx].sum()
    idx[:] = 3                                          # the caller reuses their index array before backward
    tape.backward(y)
    np.testing.assert_array_equal(x.grad, [2, 1, 0, 0])


@pytest.mark.parametrize("op,axis", [("concatenate", 5), ("concatenate", -3), ("stack", 3), ("stack", -4)])
def test_concatenate_and_stack_refuse_an_out_of_range_axis(op, axis):
    x = tg.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(AxisError, match=rf"^{op}: axis {axis} is out of range"):
        getattr(tg, op)([x, x], axis=axis)
    assert getattr(tg, op)([x, x], axis=-1).shape == getattr(np, op)([x.data, x.data], axis=-1).shape


def test_one_scalar_rule_numpy_scalars_do_not_upcast():
    x = tg.tensor(np.array([1.0, 4.0], np.float32), requires_grad=True)
    for y in (x + np.float64(0.5), x * np.float64(2), x ** np.float64(0.5), x ** np.int64(2), x ** 0.5):
        assert y.dtype == np.float32
    np.testing.assert_allclose((x ** np.float64(0.5)).data, [1.0, 2.0])


def test_pow_gradient_wrt_exponent_matches_torch_at_nonpositive_bases():
    # Values from torch 2.13: a ** b with a, b float64 requiring grad, upstream gradient ones.
    a = tg.tensor(np.array([0., 0., 0., -2., -2., -2., 2.]), requires_grad=True, dtype=np.float64)
    b = tg.tensor(np.array([-1., 0., 2., 2., 0.5, 0., 3.]), requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape, np.errstate(divide="ignore", invalid="ignore"):   # numpy warns on 0**-1 as well
        y = a ** b
    tape.backward(y, grad=np.ones(7))
    np.testing.assert_array_equal(y.data, [np.inf, 1, 0, 4, np.nan, 1, 8])
    np.testing.assert_array_equal(a.grad, [-np.inf, 0, 0, -4, np.nan, 0, 12])
    np.testing.assert_allclose(b.grad, [-np.inf, 0, 0, np.nan, np.nan, np.nan, 8 * np.log(2)])


def test_bool_operands_promote_as_numpy():
    t = tg.tensor(np.array([-1.0, 2.0, 3.0], np.float32), requires_grad=True)
    with tg.Tape() as tape:
        y = (t * (t > 0)).sum()
    assert y.dtype == np.float32
    tape.backward(y)
    np.testing.assert_array_equal(t.grad, [0, 1, 1])
    assert (tg.tensor(np.array([True, False])) + tg.tensor(np.ones(2, np.float64), dtype=np.float64)).dtype \
        == np.float64
    with pytest.raises(TypeError, match="^conv2d: got a bool array"):      # NN ops keep PyTorch's refusal
        tg.conv2d(tg.tensor(np.ones((1, 1, 3, 3), bool)), tg.tensor(np.ones((1, 1, 2, 2), np.float32)))


def _warns(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn()
    assert any(issubclass(x.category, RuntimeWarning) for x in w), "expected a RuntimeWarning"
    return out


def test_empty_and_degenerate_reductions_follow_numpy():
    with pytest.raises(AxisError, match="^sum: axis 0 is out of range"):   # numpy: AxisError
        tg.sum(tg.tensor(np.float32(1.0)), axis=0)
    e = tg.tensor(np.zeros((0, 3), np.float32), requires_grad=True)
    with tg.Tape() as tape:
        m = _warns(lambda: tg.mean(e, axis=0))                   # numpy: NaN + RuntimeWarning
        v = _warns(lambda: tg.var(e, axis=0))
    assert m.shape == (3,) and np.isnan(m.data).all() and np.isnan(v.data).all()
    tape.backward(m, grad=np.ones(3, np.float32))
    assert e.grad.shape == (0, 3)
    assert tg.mean(e, axis=1).shape == (0,)                      # an empty result of non-empty slices: no warning
    x = np.array([1.0, 2.0, 4.0], np.float32)
    for ddof in (3, 4):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = np.var(x, ddof=ddof)
        assert _warns(lambda: tg.var(tg.tensor(x), ddof=ddof)).item() == ref
    with pytest.raises(ValueError, match=r"^squeeze: axis 0 does not have size 1"):   # numpy: an error
        tg.squeeze(tg.tensor(np.ones((2, 1))), 0)
    with pytest.raises(AxisError, match=r"^squeeze: axis 5 is out of range"):
        tg.squeeze(tg.tensor(np.ones((2, 1))), 5)


def test_errors_name_the_op_or_function():
    x = tg.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(MemoryError, match=r"^exp: cannot allocate an array of shape \(1048576, 1048576, 1024\) "
                                          r"float32 \(4 PiB, 4503599627370496 bytes\)"):
        tg.exp(tg.broadcast_to(tg.tensor(np.float32(1)), (2 ** 20, 2 ** 20, 2 ** 10)))
    with pytest.raises(MemoryError, match=r"^zeros: cannot allocate shape \(1099511627776, 1024\) float32"):
        tg.zeros((2 ** 40, 2 ** 10))
    with pytest.raises(TypeError, match="^reshape: shape must be an int or a sequence of ints, got None"):
        tg.reshape(x, None)
    assert tg.broadcast_to(tg.tensor(np.ones(1, np.float32)), 6).shape == (6,)
    with pytest.raises(ValueError, match="^broadcast_to: cannot broadcast"):
        tg.broadcast_to(x, 6)
    with pytest.raises(ValueError, match=r"^ones: shape \(-1, 2\) has a negative size"):
        tg.ones((-1, 2))
    with pytest.raises(ValueError, match=r"^tensor: cannot make an array from ragged nested sequences"):
        tg.tensor([[1, 2], [3]])
    w = tg.tensor(np.ones(3, np.float32), requires_grad=True)
    with tg.Tape() as tape:
        y = w * 2
    with pytest.raises(TypeError, match=r"^backward: grad must be numbers .* got <U1 array"):
        tape.backward(y, grad=["a", "b", "c"])
    with pytest.raises(TypeError, match="^BatchNorm: momentum must be a number, got str"):
        nn.BatchNorm(momentum="0.9")
    with pytest.raises(TypeError, match="^manual_seed: seed must be a non-negative int, got 'abc'"):
        tg.manual_seed("abc")


def test_hostile_pass_findings_are_named():
    x = tg.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="^concatenate: expected a sequence of tensors, got ndarray"):
        tg.concatenate(np.array(1.0))
    with pytest.raises(TypeError, match="^transpose: axes must be a sequence of ints or None, got int"):
        tg.transpose(x, 5)
    with pytest.raises(IndexError, match="^getitem: cannot use list as an index"):
        x[[[0, 1], [0]]]
    with pytest.raises(ValueError, match="^squeeze: "):                     # OverflowError from numpy, named
        tg.squeeze(x, 2 ** 70)
    with pytest.raises(TypeError, match="^Tensor: requires_grad must be a bool, got ndarray"):
        tg.tensor([1.0], requires_grad=np.ones(2))
    with pytest.raises(TypeError, match="^ones: requires_grad must be a bool"):
        tg.ones(3, requires_grad=np.ones(2))
    with pytest.raises(TypeError, match="^randn: dtype must be a float dtype"):
        tg.randn(2, dtype=2 ** 40)
    with pytest.raises(TypeError, match="^tensor: dtype 'abc' is not a numpy dtype"):
        tg.tensor([1.0], dtype="abc")
