"""Issue 13, item 1: arrays a recorded op saved are read-only until the tape lets go of them, so writing into them
between forward and backward fails instead of giving a wrong gradient."""
import gc

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn, optim


def _loss(w, x):
    return (w * x).sum()


def test_writing_a_parameter_between_forward_and_backward_fails():
    w = tg.tensor(np.ones(3, np.float32), requires_grad=True, name="w")
    x = tg.tensor(np.array([1.0, 2.0, 3.0], np.float32))
    with tg.Tape() as tape:
        y = _loss(w, x)
    with pytest.raises(ValueError, match="read-only"):
        w.data[:] = 100
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 7
    tape.backward(y)
    np.testing.assert_array_equal(w.grad, [1.0, 2.0, 3.0])      # the forward's values, not 100
    assert w.data.flags.writeable and x.data.flags.writeable    # released: writable again
    w.data[:] = 100                                              # and writes work


def test_writing_an_op_output_or_the_callers_array_fails_and_is_restored():
    a = np.array([0.5, 1.0], np.float32)                        # the caller's own array, wrapped without a copy
    t = tg.tensor(a, requires_grad=True)
    assert t.data is a
    with tg.Tape() as tape:
        e = tg.exp(t * t)                                        # mul saves the caller's array, exp its output
        y = (e * 2.0).sum()
    with pytest.raises(ValueError, match="read-only"):
        e.data[:] = 0
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 3.0
    tape.backward(y)
    np.testing.assert_allclose(t.grad, 2 * np.exp([0.25, 1.0]) * 2 * np.array([0.5, 1.0]), rtol=1e-6)
    assert a.flags.writeable and e.data.flags.writeable


def test_making_a_saved_array_writable_again_is_caught_at_backward_naming_tensor_op_layer():
    model = nn.Sequential([nn.Dense(2)])
    x = tg.tensor(np.ones((1, 3), np.float32))
    model(x)
    with tg.Tape() as tape:
        y = model(x).sum()
    kernel = model.layers[0].weight
    kernel.data.flags.writeable = True                          # bypassing the guard
    kernel.data[:] = 5
    with pytest.raises(RuntimeError, match=r"tensor 'layers\.0\.weight' .* saved by op matmul .*layer 'layers\.0'"):
        tape.backward(y)


def test_opt_step_after_backward_and_dropped_tapes_restore_writability():
    model = nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dense(1)])
    x = tg.tensor(np.random.default_rng(0).random((5, 3), dtype=np.float32))
    model(x)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        with tg.Tape() as tape:
            loss = (model(x) ** 2).mean()
        tape.backward(loss)
        opt.step()                                               # in-place update of param.data works
        opt.zero_grad()
    with tg.Tape() as tape:                                      # recorded, never differentiated, then dropped
        model(x)
    assert not model.layers[0].weight.data.flags.writeable
    del tape
    gc.collect()
    assert all(p.data.flags.writeable for p in model.parameters())


def test_persistent_tape_holds_until_release():
    w = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    with tg.Tape(persistent=True) as tape:
        y = (w * w).sum()
    tape.backward(y)
    assert not w.data.flags.writeable and tg.tape.holders(w.data) >= 1
    tape.backward(y)                                             # still differentiable twice
    tape.release()
    assert w.data.flags.writeable and tg.tape.holders(w.data) == 0


def test_nested_tapes_and_shared_arrays_count_holders():
    w = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    with tg.Tape() as outer:
        with tg.Tape() as inner:
            y = (w * w).sum()
        z = (w * 3.0).sum()
    inner.backward(y)
    assert not w.data.flags.writeable                            # the outer tape still holds w
    outer.backward(z)
    assert w.data.flags.writeable


def test_views_of_a_batch_lock_the_dataset_until_backward():
    data = np.array(np.arange(12, dtype=np.float32).reshape(4, 3))   # owns its memory (see README: earlier
    # views of the same memory keep their own flag)
    w = tg.tensor(np.ones(3, np.float32), requires_grad=True)
    with tg.Tape() as tape:
        y = (tg.tensor(data[1:3]) * w).sum()                     # a view of the caller's dataset
    with pytest.raises(ValueError, match="read-only"):
        data[1, 0] = -1
    tape.backward(y)
    np.testing.assert_array_equal(w.grad, data[1:3].sum(0))
    data[1, 0] = -1                                              # writable again


def test_a_tape_collected_while_the_lock_table_is_held_does_not_deadlock():
    # The cycle collector can finalise a dropped tape at any allocation, also inside lock_saved, where this thread
    # holds the lock table's mutex; Tape.__del__ then takes the mutex too. Run in a subprocess: a deadlock hangs.
    import subprocess
    import sys
    code = (
        "import numpy as np, tapegraph as tg\n"
        "from tapegraph import tape as T\n"
        "w = tg.tensor(np.ones(3, np.float32), requires_grad=True)\n"
        "with tg.Tape() as tape:\n"
        "    y = (w * w).sum()\n"
        "with T._locks_mutex:\n"
        "    del tape\n"                                        # what a collection inside lock_saved does
        "assert w.data.flags.writeable\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_scalar_constants_are_shared_but_cannot_be_made_writable():
    # `x * 3.0` reuses one cached 0-d array per (value, dtype); nobody may turn it into another number
    x = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    with tg.Tape() as tape:
        y = (x * 3.0).sum()
    const = tape.nodes[0].inputs[1].data
    with pytest.raises(ValueError):
        const.setflags(write=True)
    tape.backward(y)
    np.testing.assert_array_equal((x * 3.0).data, [3, 3])
    np.testing.assert_array_equal((x * -0.0).data, [-0.0, -0.0])
    assert np.signbit((x * -0.0).data).all() and not np.signbit((x * 0.0).data).any()
    with pytest.raises(ValueError, match=r"^mul: the constant 1000.* is out of range for float32"):
        x * 10 ** 400


def test_an_ndarray_subclass_result_is_kept():
    x = tg.tensor(np.zeros(3, np.float32), requires_grad=True)
    x.data = np.ma.masked_array(np.float32([1, 2, 3]), mask=[0, 1, 0])
    y = x * 2.0
    assert isinstance(y.data, np.ma.MaskedArray) and float(tg.sum(y).data) == 8.0


def test_an_op_output_that_views_locked_memory_is_writable_after_backward():
    # reshape/flatten of a saved activation is a view made while its memory was read-only: numpy gives it a
    # read-only flag of its own, which the tape resets once nothing holds the memory
    x = tg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    ro = np.ones((2, 3), np.float32)
    ro.setflags(write=False)                                     # the caller's read-only data stays read-only
    with tg.Tape() as outer:
        with tg.Tape() as inner:
            e = tg.exp(x)                                        # saves its output: e's memory is locked
            r = tg.reshape(e, (3, 2))                            # a view of locked memory: born read-only
            b = tg.broadcast_to(x, (4, 2, 3))                    # aliasing cells: must stay read-only
            c = tg.reshape(tg.tensor(ro) * x, (6,))
            v = tg.reshape(tg.tensor(ro), (6,)) + 0.0
            loss = (r * r).sum() + (b * b).sum() + c.sum() + v.sum()
        outer_loss = loss * 2.0
    assert not r.data.flags.writeable
    inner.backward(loss)
    assert not r.data.flags.writeable                            # the outer tape still holds e's memory
    outer.backward(outer_loss)
    assert r.data.flags.writeable and e.data.flags.writeable
    r.data[0, 0] = 5.0
    assert e.data[0, 0] == 5.0
    assert not b.data.flags.writeable and not ro.flags.writeable
