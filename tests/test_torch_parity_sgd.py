"""20 SGD steps against torch.optim.SGD with the same gradients, and the LR schedules against torch's."""
import numpy as np
import pytest

from tapegraph import nn, optim

torch = pytest.importorskip("torch")

CONFIGS = [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True), dict(weight_decay=0.01),
           dict(momentum=0.9, weight_decay=5e-4), dict(momentum=0.8, nesterov=True, weight_decay=0.02),
           dict(momentum=0.7, dampening=0.3, weight_decay=0.01)]


@pytest.mark.torch
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "plain")
def test_sgd_matches_torch(kw, dtype, rtol):
    rng = np.random.default_rng(0)
    shapes = [(4, 3), (3,), (2, 1, 3, 3)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [nn.Parameter(a.copy(), dtype=dtype) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = optim.SGD(ours, lr=0.05, **kw)
    topt = torch.optim.SGD(theirs, lr=0.05, **kw)
    for _ in range(20):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        for p, t, g in zip(ours, theirs, grads):
            p.grad = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=rtol, atol=rtol)


@pytest.mark.torch
@pytest.mark.parametrize("make", [
    (lambda o: optim.StepLR(o, 3, 0.5), lambda t: torch.optim.lr_scheduler.StepLR(t, 3, 0.5)),
    (lambda o: optim.ExponentialLR(o, 0.9), lambda t: torch.optim.lr_scheduler.ExponentialLR(t, 0.9)),
    (lambda o: optim.CosineAnnealingLR(o, 7, 0.01), lambda t: torch.optim.lr_scheduler.CosineAnnealingLR(t, 7, 0.01)),
], ids=["step", "exponential", "cosine"])
def test_schedules_match_torch(make):
    ours = make[0](optim.SGD([nn.Parameter(np.ones(1))], lr=0.1))
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = make[1](topt)
    for _ in range(7):
        assert ours.optimizer.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-9)
        topt.step()
        ours.step()
        theirs.step()
