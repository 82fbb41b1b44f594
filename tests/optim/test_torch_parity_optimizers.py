"""20 steps of every optimizer against torch.optim with the same gradients: configurations, parameter groups,
lr changes mid-run, parameters without a gradient, float32 and float64; state_dict against torch's."""
import numpy as np
import pytest

from tapegraph import nn, optim

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

SHAPES = [(4, 3), (3,), (2, 1, 3, 3)]

CONFIGS = {
    "SGD": [dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
            dict(lr=0.05, weight_decay=0.01), dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02),
            dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)],
    "Adam": [dict(), dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6), dict(lr=0.01, weight_decay=0.1),
             dict(lr=0.01, amsgrad=True), dict(lr=0.02, weight_decay=0.05, amsgrad=True, betas=(0.5, 0.9))],
    "AdamW": [dict(), dict(lr=0.01), dict(lr=0.01, weight_decay=0.3), dict(lr=0.01, amsgrad=True, weight_decay=0.1),
              dict(lr=0.05, betas=(0.0, 0.5), eps=1e-4, weight_decay=0)],
    "RMSprop": [dict(), dict(lr=0.001), dict(lr=0.01, alpha=0.9, eps=1e-6), dict(lr=0.01, weight_decay=0.1),
                dict(lr=0.01, momentum=0.9), dict(lr=0.01, centered=True),
                dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.01, alpha=0.95)],
    "Adagrad": [dict(), dict(lr=0.1), dict(lr=0.1, lr_decay=0.05), dict(lr=0.1, weight_decay=0.1),
                dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6),
                dict(lr=0.05, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1)],
}
CASES = [(name, kw) for name, kws in CONFIGS.items() for kw in kws]
TOL = {np.float64: 1e-12, np.float32: 2e-6}


def case_id(case):
    name, kw = case
    return name + ("-" + "-".join(f"{k}={v}" for k, v in kw.items()) if kw else "")


def setup(dtype, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [nn.Parameter(a.copy(), dtype=dtype) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return rng, ours, theirs


def run(opt, topt, ours, theirs, rng, dtype, steps=20, start=0, skip=None, lr_change=None):
    for k in range(start, start + steps):
        if lr_change and k == lr_change[0]:
            for g, tg_ in zip(opt.param_groups, topt.param_groups):
                g["lr"] *= lr_change[1]
                tg_["lr"] *= lr_change[1]
        for i, (p, t) in enumerate(zip(ours, theirs)):
            g = rng.standard_normal(p.data.shape).astype(dtype)
            if skip is not None and i == skip and k % 3 == 1:
                p.grad, t.grad = None, None          # no gradient this step: the parameter is left alone
            else:
                p.grad, t.grad = g, torch.from_numpy(g.copy())
        opt.step()
        topt.step()


def check(ours, theirs, dtype):
    for p, t in zip(ours, theirs):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch(case, dtype):
    name, kw = case
    rng, ours, theirs = setup(dtype)
    opt = getattr(optim, name)(ours, **kw)
    topt = getattr(torch.optim, name)(theirs, **kw)
    run(opt, topt, ours, theirs, rng, dtype, skip=1, lr_change=(12, 0.3))
    check(ours, theirs, dtype)


GROUPS = {"SGD": ({"lr": 0.1, "momentum": 0.9}, [{"weight_decay": 5e-4}, {"weight_decay": 0, "lr": 0.01}]),
          "Adam": ({"lr": 0.01}, [{"amsgrad": True}, {"betas": (0.8, 0.9), "weight_decay": 0.1}]),
          "AdamW": ({"lr": 0.01}, [{"weight_decay": 0.5}, {"weight_decay": 0.0, "lr": 0.03}]),
          "RMSprop": ({"lr": 0.01}, [{"centered": True}, {"momentum": 0.9, "alpha": 0.9}]),
          "Adagrad": ({"lr": 0.1, "initial_accumulator_value": 1.0}, [{"lr_decay": 0.1}, {"weight_decay": 0.1}])}
# (a per-group initial_accumulator_value: torch ignores it, using the constructor's for every group; we honour it)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", sorted(GROUPS))
def test_param_groups_match_torch(name, dtype):
    defaults, (g0, g1) = GROUPS[name]
    rng, ours, theirs = setup(dtype, seed=1)
    opt = getattr(optim, name)([{"params": ours[:2], **g0}, {"params": ours[2:], **g1}], **defaults)
    topt = getattr(torch.optim, name)([{"params": theirs[:2], **g0}, {"params": theirs[2:], **g1}], **defaults)
    for g, tgr in zip(opt.param_groups, topt.param_groups):
        for k, v in g.items():
            if k != "params":
                assert tgr[k] == (tuple(v) if isinstance(v, tuple) else v), k
    run(opt, topt, ours, theirs, rng, dtype, lr_change=(7, 2.0))
    check(ours, theirs, dtype)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_state_dict_matches_torch_and_loads_into_it(name):
    """Same indices, same buffer names and values as torch's state_dict; torch continues from ours identically."""
    defaults, (g0, g1) = GROUPS[name]
    rng, ours, theirs = setup(np.float64, seed=2)
    opt = getattr(optim, name)([{"params": ours[:2], **g0}, {"params": ours[2:], **g1}], **defaults)
    topt = getattr(torch.optim, name)([{"params": theirs[:2], **g0}, {"params": theirs[2:], **g1}], **defaults)
    run(opt, topt, ours, theirs, rng, np.float64, steps=5, skip=0)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i, st in sd["state"].items():
        tst = tsd["state"][i]
        assert set(st) == {k for k, v in tst.items() if v is not None}
        for k, v in st.items():
            np.testing.assert_allclose(np.asarray(v, dtype=np.float64), np.asarray(tst[k], dtype=np.float64),
                                       rtol=1e-12)
    # torch resumes from our state (as tensors) and matches us over the next steps
    _, _, theirs2 = setup(np.float64, seed=2)
    with torch.no_grad():
        for t2, p in zip(theirs2, ours):
            t2.copy_(torch.from_numpy(p.data))
    topt2 = getattr(torch.optim, name)([{"params": theirs2[:2], **g0}, {"params": theirs2[2:], **g1}], **defaults)
    conv = {"state": {i: {k: (torch.tensor(float(v)) if k == "step" else torch.from_numpy(v.copy()))
                          for k, v in st.items()} for i, st in sd["state"].items()},
            "param_groups": [{**g, **({"betas": tuple(g["betas"])} if "betas" in g else {})}
                             for g in tsd["param_groups"]]}
    topt2.load_state_dict(conv)
    run(opt, topt2, ours, theirs2, rng, np.float64, steps=5)
    check(ours, theirs2, np.float64)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng, ours, theirs = setup(np.float64, seed=3)
    for p, t in zip(ours, theirs):
        g = rng.standard_normal(p.data.shape)
        p.grad, t.grad = g, torch.from_numpy(g.copy())
    total = optim.clip_grad_norm(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    optim.clip_grad_value(ours, 0.3)
    torch.nn.utils.clip_grad_value_(theirs, 0.3)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
        assert np.abs(p.grad).max() <= 0.3
