"""Learning-rate (and momentum) sequences of every schedule against torch.optim.lr_scheduler, over several
parameter groups with different base lrs."""
import numpy as np
import pytest

from tapegraph import nn, optim

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

TS = torch.optim.lr_scheduler
LRS = (0.1, 0.03)


def pair(opt_name="SGD", lrs=LRS, **kw):
    ours = getattr(optim, opt_name)([{"params": [nn.Parameter(np.ones(2))], "lr": lr} for lr in lrs], **kw)
    theirs = getattr(torch.optim, opt_name)([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr}
                                            for lr in lrs], **kw)
    return ours, theirs


def same(ours, theirs, keys, k):
    for g, tgr in zip(ours.param_groups, theirs.param_groups):
        for key in keys:
            assert np.allclose(g[key], tgr[key], rtol=1e-9, atol=1e-15), (k, key, g[key], tgr[key])


def compare(ours, theirs, sched, tsched, n, metrics=None, keys=("lr",)):
    """Both optimizers' lrs (and ``keys``) agree at construction and after each of ``n`` steps."""
    for k in range(n):
        same(ours, theirs, keys, k)
        theirs.step()                 # torch warns when a scheduler steps before its optimizer
        if metrics is None:
            sched.step()
            tsched.step()
        else:
            sched.step(metrics[k])
            tsched.step(metrics[k])
    same(ours, theirs, keys, n)


SCHEDULES = {
    "step": (lambda o: optim.StepLR(o, 3, 0.5), lambda t: TS.StepLR(t, 3, 0.5)),
    "multistep": (lambda o: optim.MultiStepLR(o, [2, 5, 5, 9], 0.3), lambda t: TS.MultiStepLR(t, [2, 5, 5, 9], 0.3)),
    "multistep-unsorted": (lambda o: optim.MultiStepLR(o, [7, 3]), lambda t: TS.MultiStepLR(t, [7, 3])),
    "exponential": (lambda o: optim.ExponentialLR(o, 0.9), lambda t: TS.ExponentialLR(t, 0.9)),
    "cosine": (lambda o: optim.CosineAnnealingLR(o, 7, 0.01), lambda t: TS.CosineAnnealingLR(t, 7, 0.01)),
    "cosine-restart": (lambda o: optim.CosineAnnealingLR(o, 4), lambda t: TS.CosineAnnealingLR(t, 4)),
    "lambda": (lambda o: optim.LambdaLR(o, lambda e: 1 / (1 + e)), lambda t: TS.LambdaLR(t, lambda e: 1 / (1 + e))),
    "lambda-per-group": (lambda o: optim.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: e + 1]),
                         lambda t: TS.LambdaLR(t, [lambda e: 0.9 ** e, lambda e: e + 1])),
    "linear": (lambda o: optim.LinearLR(o), lambda t: TS.LinearLR(t)),
    "linear-args": (lambda o: optim.LinearLR(o, 0.5, 0.1, 4), lambda t: TS.LinearLR(t, 0.5, 0.1, 4)),
    "warmup": (lambda o: optim.LinearWarmup(o, 6, start_factor=0.1),
               lambda t: TS.LinearLR(t, start_factor=0.1, end_factor=1.0, total_iters=6)),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_epoch_schedules_match_torch(name):
    ours, theirs = pair()
    make, tmake = SCHEDULES[name]
    compare(ours, theirs, make(ours), tmake(theirs), 14)


ONECYCLE = [dict(max_lr=0.5, total_steps=20), dict(max_lr=[0.5, 0.2], total_steps=23, pct_start=0.25),
            dict(max_lr=1.0, epochs=3, steps_per_epoch=7, anneal_strategy="linear"),
            dict(max_lr=0.3, total_steps=30, three_phase=True), dict(max_lr=0.3, total_steps=30, three_phase=True,
                                                                     anneal_strategy="linear", pct_start=0.4),
            dict(max_lr=0.4, total_steps=16, div_factor=10.0, final_div_factor=100.0),
            dict(max_lr=0.4, total_steps=16, base_momentum=0.5, max_momentum=[0.9, 0.8]),
            dict(max_lr=0.4, total_steps=16, cycle_momentum=False)]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("opt_name,opt_kw,key", [("SGD", dict(momentum=0.9), "momentum"),
                                                 ("SGD", dict(), "momentum"),
                                                 ("Adam", dict(), "betas"), ("AdamW", dict(betas=(0.9, 0.99)), "betas"),
                                                 ("RMSprop", dict(momentum=0.5), "momentum")])
@pytest.mark.parametrize("kw", ONECYCLE, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_one_cycle_matches_torch_with_momentum(kw, opt_name, opt_kw, key):
    ours, theirs = pair(opt_name, **opt_kw)
    sched, tsched = optim.OneCycleLR(ours, **kw), TS.OneCycleLR(theirs, **kw)
    n = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
    compare(ours, theirs, sched, tsched, n, keys=("lr", key))
    with pytest.raises(ValueError, match="OneCycleLR: stepped .* total_steps is"):
        sched.step()
    assert sched.epoch == n


def test_one_cycle_adagrad_needs_cycle_momentum_off():
    ours, theirs = pair("Adagrad")
    with pytest.raises(ValueError, match="OneCycleLR: cycle_momentum=True needs an optimizer with momentum"):
        optim.OneCycleLR(ours, max_lr=0.1, total_steps=10)
    compare(ours, theirs, optim.OneCycleLR(ours, max_lr=0.1, total_steps=10, cycle_momentum=False),
            TS.OneCycleLR(theirs, max_lr=0.1, total_steps=10, cycle_momentum=False), 10)


PLATEAU = [dict(), dict(patience=2), dict(mode="max", patience=1, factor=0.5),
           dict(patience=0, threshold=0.1, threshold_mode="abs", cooldown=2),
           dict(mode="max", threshold_mode="abs", threshold=0.05, patience=1, min_lr=0.004),
           dict(patience=1, factor=0.5, min_lr=[0.02, 0.001], cooldown=1), dict(patience=0, eps=0.02, factor=0.5)]


@pytest.mark.parametrize("kw", PLATEAU, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_reduce_on_plateau_matches_torch(kw):
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 5), 0.5 + 0.02 * rng.standard_normal(25),
                              np.linspace(0.5, 0.9, 10)]).tolist()
    ours, theirs = pair()
    compare(ours, theirs, optim.ReduceLROnPlateau(ours, **kw), TS.ReduceLROnPlateau(theirs, **kw), len(metrics),
            metrics=metrics)
