"""The tape and the backward walk: accumulation, reuse, depth, nesting, release, and the errors users hit."""
import gc
import weakref

import numpy as np
import pytest

import tapegraph as tg


def leaf(*shape, seed=0, dtype=np.float64):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True, dtype=dtype)


def test_issue_example_backward_and_gradient_agree():
    x, w = leaf(4, 3), leaf(3, 2, seed=1)
    with tg.Tape(persistent=True) as tape:
        y = tg.relu(x @ w + 1.0)
        loss = (y * y).mean() + y.sum(axis=0).max()
    tape.backward(loss)
    gx, gw = tape.gradient(loss, [x, w])
    np.testing.assert_allclose(gx, x.grad)
    np.testing.assert_allclose(gw, w.grad)
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
    assert len(tape) == 8 and [n.name for n in tape][:3] == ["matmul", "add", "relu"]
    assert "matmul(float64[4, 3], float64[3, 2]) -> float64[4, 2]" in repr(tape)


def test_diamond_reuse_adds_gradients():
    x = leaf(3)
    with tg.Tape() as tape:
        a = x * 2.0
        y = (a + a * a).sum()          # a used twice, x used once via a
    tape.backward(y)
    np.testing.assert_allclose(x.grad, 2 * (1 + 2 * (2 * x.data)))


def test_large_reused_tensor_sums_into_a_fresh_array():
    # above buffers.MIN_BYTES the walk adds into a pooled array on the threads; add's backward hands the same
    # gradient array to both inputs, so summing in place into either would double-count the other
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((4, 8, 32, 32), dtype=np.float32), requires_grad=True)   # 128 KiB
    h = tg.tensor(rng.standard_normal((4, 8, 32, 32), dtype=np.float32), requires_grad=True)
    with tg.Tape() as tape:
        a = x + h                      # (g, g): one array for both
        y = (a + x + (x * 3.0).transpose(1, 0, 2, 3).transpose(1, 0, 2, 3)).sum()
    tape.backward(y)
    np.testing.assert_array_equal(x.grad, np.full(x.shape, 5.0, np.float32))
    np.testing.assert_array_equal(h.grad, np.ones(h.shape, np.float32))


def test_same_tensor_twice_in_one_op():
    x = leaf(4)
    with tg.Tape() as tape:
        y = (x * x).sum()
    tape.backward(y)
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_chain_of_10000_ops_has_no_recursion_limit():
    x = leaf(2)
    with tg.Tape() as tape:
        y = x
        for _ in range(10_000):
            y = y * 1.0001
        loss = y.sum()
    tape.backward(loss)
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001 ** 10_000), rtol=1e-9)


def test_grad_accumulates_across_backward_calls():
    x = leaf(3)
    for _ in range(2):
        with tg.Tape() as tape:
            loss = (x * 3.0).sum()
        tape.backward(loss)
    np.testing.assert_allclose(x.grad, np.full(3, 6.0))
    x.zero_grad()
    assert x.grad is None


def test_persistent_tape_allows_two_backward_calls_and_accumulates():
    x = leaf(3)
    with tg.Tape(persistent=True) as tape:
        loss = (x * x).sum()
    tape.backward(loss)
    tape.backward(loss)
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_non_persistent_tape_refuses_second_backward_and_releases_saved_arrays():
    x = leaf(3)
    with tg.Tape() as tape:
        loss = (x * x).sum()
    tape.backward(loss)
    assert all(n.saved is None for n in tape)
    with pytest.raises(RuntimeError, match="already used.*persistent=True"):
        tape.backward(loss)


def test_non_scalar_target_needs_grad():
    x = leaf(3, 2)
    with tg.Tape() as tape:
        y = x * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(3, 2\).*pass grad="):
        tape.backward(y)
    tape.backward(y, grad=np.ones((3, 2)))
    np.testing.assert_allclose(x.grad, 2.0)


def test_wrong_grad_shape_is_refused():
    x = leaf(3)
    with tg.Tape() as tape:
        y = x * 2.0
    with pytest.raises(ValueError, match=r"grad has shape \(2,\), target has shape \(3,\)"):
        tape.backward(y, grad=np.ones(2))


def test_target_not_on_tape():
    x = leaf(3)
    y = (x * 2.0).sum()                    # no tape active: nothing recorded
    assert not y.requires_grad
    with tg.Tape() as tape:
        z = (x * 3.0).sum()
    with pytest.raises(RuntimeError, match="not recorded on this tape"):
        tape.backward(y)
    tape.backward(z)


def test_ops_outside_a_tape_record_nothing():
    x = leaf(3)
    y = x * 2.0
    assert not y.requires_grad and y.is_leaf
    np.testing.assert_allclose(y.data, 2 * x.data)


def test_no_grad_inside_a_tape():
    x = leaf(3)
    with tg.Tape() as tape:
        with tg.no_grad():
            frozen = x * 2.0
        y = (frozen * x).sum()
    assert [n.name for n in tape] == ["mul", "sum"]
    tape.backward(y)
    np.testing.assert_allclose(x.grad, 2 * x.data)   # frozen treated as a constant


def test_unconnected_source_gives_none_or_zeros():
    x, unused = leaf(3), leaf(2, seed=1)
    with tg.Tape(persistent=True) as tape:
        y = (x * x).sum()
    gx, gu = tape.gradient(y, [x, unused])
    assert gu is None
    np.testing.assert_allclose(gx, 2 * x.data)
    gz = tape.gradient(y, unused, unconnected="zero")
    np.testing.assert_array_equal(gz, np.zeros(2))


def test_gradient_of_an_intermediate_tensor():
    x = leaf(3)
    with tg.Tape() as tape:
        h = x * 2.0
        y = (h * h).sum()
    gh = tape.gradient(y, h)
    np.testing.assert_allclose(gh, 2 * h.data)
    assert x.grad is None                       # gradient() does not touch .grad


def test_nested_tapes_record_on_both():
    x = leaf(3)
    with tg.Tape() as outer:
        a = x * 2.0
        with tg.Tape() as inner:
            b = (a * a).sum()
        c = b * 3.0
    assert len(inner) == 2 and len(outer) == 4
    ga_inner = inner.gradient(b, a)
    np.testing.assert_allclose(ga_inner, 2 * a.data)
    np.testing.assert_allclose(outer.gradient(c, x), 3 * 8 * x.data)


def test_only_inputs_that_need_a_gradient_get_one():
    x = leaf(3)
    const = tg.tensor(np.ones(3), dtype=np.float64)
    with tg.Tape() as tape:
        y = (x * const).sum()
    assert tape[0].needs_input_grad == (True, False)
    tape.backward(y)
    assert const.grad is None


def test_released_tape_frees_saved_arrays():
    x = leaf(1000)
    with tg.Tape() as tape:
        h = tg.exp(x)
        y = h.sum()
    saved = weakref.ref(tape[0].saved[0])
    del h
    tape.backward(y)
    gc.collect()
    assert saved() is None


def test_tape_cannot_be_entered_twice_and_backward_needs_a_closed_tape():
    x = leaf(2)
    tape = tg.Tape()
    with tape:
        y = (x * x).sum()
        with pytest.raises(RuntimeError, match="already recording"):
            tape.__enter__()
        with pytest.raises(RuntimeError, match="after the `with Tape\\(\\)` block"):
            tape.backward(y)


def test_getitem_repeated_indices_accumulate():
    x = leaf(4)
    with tg.Tape() as tape:
        y = x[np.array([1, 1, 3])].sum()
    tape.backward(y)
    np.testing.assert_array_equal(x.grad, [0, 2, 0, 1])


def test_float32_gradients_stay_float32():
    x = tg.tensor(np.ones(3), requires_grad=True)
    assert x.dtype == np.float32
    with tg.Tape() as tape:
        y = (x * 2.5 + 1).sum()
    tape.backward(y)
    assert x.grad.dtype == np.float32 and y.dtype == np.float32
