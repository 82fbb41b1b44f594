"""SGD against updates worked out by hand, in-place behaviour, argument errors, and LR schedules."""
import math

import numpy as np
import pytest

from tapegraph import nn, optim

P0, G, LR = 1.0, 0.5, 0.1   # one scalar parameter, a constant gradient


def run(steps=2, dtype=np.float64, **kw):
    p = nn.Parameter(np.array([P0]), dtype=dtype)
    opt = optim.SGD([p], lr=LR, **kw)
    for _ in range(steps):
        p.grad = np.array([G], dtype=dtype)
        opt.step()
    return p.data[0]


def test_plain_sgd():
    assert run() == pytest.approx(P0 - 2 * LR * G)


def test_momentum():
    v1 = G                                   # the velocity starts as the first gradient
    p1 = P0 - LR * v1
    v2 = 0.9 * v1 + G
    assert run(momentum=0.9) == pytest.approx(p1 - LR * v2, rel=1e-14)


def test_nesterov():
    v1 = G
    p1 = P0 - LR * (G + 0.9 * v1)
    v2 = 0.9 * v1 + G
    assert run(momentum=0.9, nesterov=True) == pytest.approx(p1 - LR * (G + 0.9 * v2), rel=1e-14)


def test_weight_decay():
    p1 = P0 - LR * (G + 0.1 * P0)
    assert run(weight_decay=0.1) == pytest.approx(p1 - LR * (G + 0.1 * p1), rel=1e-14)


def test_momentum_dampening_and_weight_decay():
    g1 = G + 0.01 * P0
    v1 = g1                                  # no dampening on the first step (PyTorch)
    p1 = P0 - LR * v1
    g2 = G + 0.01 * p1
    v2 = 0.8 * v1 + (1 - 0.25) * g2
    assert run(momentum=0.8, dampening=0.25, weight_decay=0.01) == pytest.approx(p1 - LR * v2, rel=1e-14)


def test_nesterov_with_weight_decay():
    g1 = G + 0.05 * P0
    p1 = P0 - LR * (g1 + 0.9 * g1)
    g2 = G + 0.05 * p1
    v2 = 0.9 * g1 + g2
    assert run(momentum=0.9, nesterov=True, weight_decay=0.05) == pytest.approx(p1 - LR * (g2 + 0.9 * v2), rel=1e-14)


def test_updates_in_place_keep_dtype_skip_missing_grads_and_zero_grad():
    a = nn.Parameter(np.ones((3, 2)))
    b = nn.Parameter(np.ones(4))
    data = a.data
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    a.grad = np.full((3, 2), 2.0, np.float32)
    opt.step()
    assert a.data is data and a.data.dtype == np.float32
    np.testing.assert_array_equal(a.data, np.zeros((3, 2)))
    np.testing.assert_array_equal(b.data, np.ones(4))              # no gradient: untouched
    v = opt.velocity[0]
    a.grad = np.ones((3, 2), np.float32)
    opt.step()
    assert opt.velocity[0] is v and opt.velocity[1] is None
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_gradient_is_not_modified():
    a = nn.Parameter(np.ones(3))
    g = np.full(3, 2.0, np.float32)
    a.grad = g
    optim.SGD([a], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1).step()
    np.testing.assert_array_equal(g, 2.0)


@pytest.mark.parametrize("kw,msg", [(dict(lr=-1e-3), r"SGD: lr must be >= 0"),
                                    (dict(lr=float("nan")), "SGD: lr must be finite"),
                                    (dict(lr=0.1, momentum=-0.5), r"SGD: momentum must be in \[0, 1\)"),
                                    (dict(lr=0.1, momentum=1.0), r"SGD: momentum must be in \[0, 1\)"),
                                    (dict(lr=0.1, nesterov=True), "SGD: nesterov needs momentum > 0 and dampening 0"),
                                    (dict(lr=0.1, momentum=0.9, nesterov=True, dampening=0.1), "SGD: nesterov needs"),
                                    (dict(lr=0.1, weight_decay=-1), "SGD: weight_decay must be >= 0")])
def test_sgd_argument_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        optim.SGD([nn.Parameter(np.ones(2))], **kw)


def test_sgd_parameter_list_errors():
    with pytest.raises(ValueError, match="SGD: no parameters: if this is a model that has not been built yet, "
                                         "pass input_shape= or call it once on a batch"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="SGD: params must be an iterable of Parameters"):
        optim.SGD(nn.Parameter(np.ones(2)), lr=0.1)
    with pytest.raises(TypeError, match=r"SGD: params\[0\] is not a tensor that requires grad"):
        optim.SGD([np.ones(2)], lr=0.1)


def lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.optimizer.lr)
        sched.step()
    return out


def make_opt(lr=1.0):
    return optim.SGD([nn.Parameter(np.ones(1))], lr=lr)


def test_step_lr():
    assert lrs(optim.StepLR(make_opt(), step_size=2, gamma=0.5), 6) == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_exponential_lr():
    assert lrs(optim.ExponentialLR(make_opt(2.0), gamma=0.9), 4) == pytest.approx([2.0, 1.8, 1.62, 1.458])


def test_cosine_annealing_lr():
    got = lrs(optim.CosineAnnealingLR(make_opt(1.0), T_max=4, eta_min=0.2), 5)
    assert got == pytest.approx([1.0, 0.2 + 0.8 * (1 + math.cos(math.pi / 4)) / 2, 0.6,
                                 0.2 + 0.8 * (1 + math.cos(3 * math.pi / 4)) / 2, 0.2])


def test_schedule_argument_errors():
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive int"):
        optim.StepLR(make_opt(), 0)
    with pytest.raises(ValueError, match="ExponentialLR: gamma must be positive"):
        optim.ExponentialLR(make_opt(), 0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive int"):
        optim.CosineAnnealingLR(make_opt(), 0)
