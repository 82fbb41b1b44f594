"""Edge cases found by a second reading: each of these failed before its fix."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn


def test_leaf_grads_are_writable_arrays_of_their_own():
    x, y = tg.tensor(np.ones(3), requires_grad=True), tg.tensor(np.ones(3), requires_grad=True)
    with tg.Tape() as tape:
        s = (x + y).sum()                       # add's rule returns one array for both; sum's is a broadcast view
    tape.backward(s)
    assert x.grad is not y.grad and x.grad.flags.writeable and x.grad.base is None
    x.grad *= 0.5                                # in-place clipping must work
    z = tg.tensor(np.ones(3), requires_grad=True)
    g = np.full(3, 2.0, dtype=np.float32)
    with tg.Tape() as tape:
        out = z + 1.0
    tape.backward(out, grad=g)
    assert z.grad is not g
    z.grad += 1
    np.testing.assert_array_equal(g, 2.0)        # the caller's array is untouched


def test_zero_d_leaves_get_array_gradients():
    x = tg.tensor(2.0, requires_grad=True)
    with tg.Tape() as tape:
        y = x * x
    tape.backward(y)
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad == 4.0


def test_power_zero_has_zero_gradient_everywhere():
    for fn in (lambda a: a ** 0, lambda a: tg.pow(a, tg.tensor(np.zeros(2), dtype=np.float64))):
        x = tg.tensor(np.array([0.0, 2.0]), requires_grad=True, dtype=np.float64)
        with tg.Tape() as tape:
            y = fn(x).sum()
        tape.backward(y)
        np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_gradcheck_fails_on_a_nan_gradient():
    class NaNGrad(tg.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1.0

        @staticmethod
        def backward(ctx, grad):
            return (grad * np.nan,)

    with pytest.raises(tg.GradcheckError, match="analytic nan"):
        tg.gradcheck(NaNGrad.apply, [np.ones(2)])


def test_np_array_copy_does_not_alias_the_tensor():
    t = tg.tensor(np.ones(3))
    a = np.array(t)
    a[0] = 5
    assert t.data[0] == 1 and np.asarray(t) is t.data


def test_nested_module_scopes_are_not_repeated():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Dense(2)

        def forward(self, x):
            return self.inner(x)

    model = nn.Sequential([Block(), Block()], input_shape=(3,))
    with tg.Tape() as tape:
        model(np.ones((1, 3), np.float32))
    assert sorted({n.layer for n in tape}) == ["layers.0.inner", "layers.1.inner"]
    assert model[1].inner.weight.name == "layers.1.inner.weight"


def test_shared_parameters_round_trip_through_state_dict():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(3, use_bias=False)
            self.b = nn.Dense(3, use_bias=False)

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied().build((None, 3))
    m.b.weight = m.a.weight                       # tie the weights
    state = m.state_dict()
    assert list(state) == ["a.weight"]
    m.load_state_dict(state)                      # strict: must not ask for b.weight


def test_released_tapes_drop_input_batches_and_say_so():
    model = nn.Sequential([nn.Dense(2)], input_shape=(5,))
    x = np.ones((64, 5), np.float32)
    with tg.Tape(persistent=True) as tape:
        loss = tg.categorical_crossentropy(model(x), np.zeros(64, np.int64), from_logits=True)
    tape.release()
    held = [t for n in tape for t in n.inputs if isinstance(t, tg.Tensor) and not t.requires_grad and t.ndim > 0]
    assert held == []
    with pytest.raises(RuntimeError, match="released"):
        tape.backward(loss)


@pytest.mark.parametrize("call, message", [
    (lambda: tg.concatenate([tg.tensor(1.0), tg.tensor(2.0)]), "^concatenate: cannot join 0-d"),
    (lambda: tg.tensor(3.0).sum(axis=0), "^sum: axis 0 is out of range"),
])
def test_zero_d_misuse_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_reshape_takes_numpy_integers():
    assert tg.reshape(tg.tensor(np.ones((2, 3))), np.int64(6)).shape == (6,)
