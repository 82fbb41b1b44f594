"""gelu (exact and tanh), silu, elu, softplus, hard_sigmoid, hard_swish: gradient checks, reference values from
their definitions, stability at |x| = 1e4, dtypes, bad arguments. PyTorch parity in
tests/test_torch_parity_poolnorm.py."""
import math
import sys

import numpy as np
import pytest

import tapegraph as tg
from tapegraph.ops.activation import _erf_fallback
from tests.ops.cases import Case, params, rand

# away from the kinks of the hard activations (+-3) and of elu (0), where the finite difference straddles them
SMOOTH = rand(3, 5) * 2
HARD = np.array([[-5.0, -2.5, -1.0, 0.2], [1.7, 2.9, 3.5, 6.0]])

GRAD_CASES = {
    "gelu": [Case(lambda a: tg.gelu(a), [SMOOTH * 2], "exact"),
             Case(lambda a: tg.gelu(a, approximate="tanh"), [SMOOTH * 2], "tanh")],
    "silu": [Case(tg.silu, [SMOOTH * 3])],
    "elu": [Case(lambda a: tg.elu(a, 0.7), [np.where(np.abs(SMOOTH) < 0.05, 0.3, SMOOTH)], "alpha0.7")],
    "softplus": [Case(lambda a: tg.softplus(a), [SMOOTH * 3], "default"),
                 Case(lambda a: tg.softplus(a, beta=2.0, threshold=3.0), [SMOOTH], "threshold")],
    "hard_sigmoid": [Case(tg.hard_sigmoid, [HARD])],
    "hard_swish": [Case(tg.hard_swish, [HARD])],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradcheck(op, case):
    from tests.ops.cases import run_case
    run_case(op, case)


X = np.linspace(-7, 7, 141)
ERF = np.vectorize(math.erf)
REF = {
    "gelu": lambda x: 0.5 * x * (1 + ERF(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "softplus": lambda x: np.where(x > 20, x, np.log1p(np.exp(x))),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "hard_swish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
}


@pytest.mark.parametrize("name", sorted(REF))
def test_values_match_definitions_and_keep_dtype(name):
    fn = getattr(tg, name)
    np.testing.assert_allclose(fn(X.astype(np.float64)).data, REF[name](X), rtol=1e-12, atol=1e-14)
    y = fn(X.astype(np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, REF[name](X), rtol=2e-6, atol=2e-6)


def test_gelu_tanh_form():
    x = X.astype(np.float64)
    ref = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(tg.gelu(x, "tanh").data, ref, rtol=1e-13, atol=1e-15)


def test_erf_fallback_without_scipy_is_float32_accurate(monkeypatch):
    z = np.linspace(-6, 6, 2001)
    assert np.max(np.abs(_erf_fallback(z) - ERF(z))) < 2e-7
    monkeypatch.setitem(sys.modules, "scipy.special", None)          # import fails: the fallback is used
    np.testing.assert_allclose(tg.gelu(X).data, REF["gelu"](X), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", sorted(REF))
def test_stable_at_large_magnitude(name):
    x = tg.tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4]), requires_grad=True, dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        with tg.Tape() as tape:
            y = getattr(tg, name)(x)
        tape.backward(y, np.ones(5, np.float32))
    assert np.isfinite(y.data).all() and np.isfinite(x.grad).all()


def test_kinks_follow_pytorch():
    x = tg.tensor(np.array([-3.0, 0.0, 3.0]), requires_grad=True, dtype=np.float64)
    for fn, expected in ((tg.hard_sigmoid, [0, 1 / 6, 0]), (tg.hard_swish, [0, 0.5, 1]),
                         (lambda t: tg.elu(t, 2.0), [2 * math.exp(-3), 2.0, 1.0])):
        x.grad = None
        with tg.Tape() as tape:
            y = fn(x)
        tape.backward(y, np.ones(3))
        np.testing.assert_allclose(x.grad, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("call,kind,words", [
    (lambda: tg.gelu(X, approximate="erf"), ValueError, ["gelu", "approximate", "'erf'"]),
    (lambda: tg.elu(X, alpha="1"), TypeError, ["elu", "alpha"]),
    (lambda: tg.softplus(X, beta=0), ValueError, ["softplus", "beta must be > 0"]),
    (lambda: tg.softplus(X, threshold=True), TypeError, ["softplus", "threshold"]),
    (lambda: tg.silu(np.array(["a"])), TypeError, ["silu", "string"]),
    (lambda: tg.hard_swish(np.array([True])), TypeError, ["hard_swish", "bool"]),
])
def test_bad_arguments(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    for w in words:
        assert w in str(info.value), str(info.value)
