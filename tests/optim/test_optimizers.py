"""Optimizers without torch: first steps worked out by hand, parameter groups, state_dict round trips (through an
.npz file) that continue exactly like an uninterrupted run, loads that must fail without changing anything, and
argument validation at construction."""
import math

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn, optim

ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
P0, G, LR = 1.5, -0.4, 0.1


def one_step(name, dtype=np.float64, steps=1, **kw):
    p = nn.Parameter(np.array([P0]), dtype=dtype)
    opt = getattr(optim, name)([p], lr=LR, **kw)
    for _ in range(steps):
        p.grad = np.array([G], dtype=dtype)
        opt.step()
    return p.data[0]


def test_first_steps_by_hand():
    # Adam's bias corrections make the first step lr * g / (|g| + eps)
    assert one_step("Adam") == pytest.approx(P0 - LR * G / (abs(G) + 1e-8), rel=1e-14)
    assert one_step("Adam", weight_decay=0.5) == pytest.approx(P0 - LR * (G + 0.5 * P0) / (abs(G + 0.5 * P0) + 1e-8),
                                                             rel=1e-14)
    # AdamW decays the weight, not the gradient
    assert one_step("AdamW", weight_decay=0.5) == pytest.approx(P0 * (1 - LR * 0.5) - LR * G / (abs(G) + 1e-8),
                                                                 rel=1e-14)
    # two Adam steps with a constant gradient: m_hat = g, v_hat = g^2 again
    assert one_step("Adam", steps=2) == pytest.approx(P0 - 2 * LR * G / (abs(G) + 1e-8), rel=1e-12)
    assert one_step("RMSprop", alpha=0.9) == pytest.approx(P0 - LR * G / (math.sqrt(0.1) * abs(G) + 1e-8), rel=1e-14)
    s1 = 0.1 * G * G
    a1 = 0.1 * G
    d1 = math.sqrt(s1 - a1 * a1) + 1e-8
    assert one_step("RMSprop", alpha=0.9, centered=True) == pytest.approx(P0 - LR * G / d1, rel=1e-12)
    # RMSprop momentum: b1 = g/d1, b2 = 0.5 b1 + g/d2
    d1 = math.sqrt(0.1) * abs(G) + 1e-8
    d2 = math.sqrt(0.9 * 0.1 * G * G + 0.1 * G * G) + 1e-8
    assert one_step("RMSprop", alpha=0.9, momentum=0.5, steps=2) == pytest.approx(
        P0 - LR * G / d1 - LR * (0.5 * G / d1 + G / d2), rel=1e-12)
    # Adagrad: sum = acc0 + g^2 each step, lr decays as lr / (1 + (t - 1) lr_decay)
    assert one_step("Adagrad") == pytest.approx(P0 - LR * G / (abs(G) + 1e-10), rel=1e-14)
    s1, s2 = 0.25 + G * G, 0.25 + 2 * G * G
    assert one_step("Adagrad", steps=2, lr_decay=0.5, initial_accumulator_value=0.25) == pytest.approx(
        P0 - LR * G / (math.sqrt(s1) + 1e-10) - LR / 1.5 * G / (math.sqrt(s2) + 1e-10), rel=1e-12)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_keeps_dtype_buffers_and_skips_missing_grads(name, dtype):
    a = nn.Parameter(np.ones((3, 2)), dtype=dtype)
    b = nn.Parameter(np.ones(4), dtype=dtype)
    kw = dict(momentum=0.9) if name in ("SGD", "RMSprop") else {}
    opt = getattr(optim, name)([a, b], lr=0.1, **kw)
    data = a.data
    g = np.full((3, 2), 2.0, dtype)
    a.grad = g
    opt.step()
    st = {k: v for k, v in opt.state[id(a)].items() if isinstance(v, np.ndarray)}
    assert st and all(v.dtype == dtype for v in st.values())
    a.grad = g
    opt.step()
    assert a.data is data and a.data.dtype == dtype
    assert all(opt.state[id(a)][k] is v for k, v in st.items())       # the same buffers, updated in place
    np.testing.assert_array_equal(g, 2.0)                            # the gradient is not modified
    np.testing.assert_array_equal(b.data, 1.0)                       # no gradient: untouched, no state
    assert id(b) not in opt.state
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_param_groups_defaults_lr_property_and_add_param_group():
    a, b, c = (nn.Parameter(np.ones(2)) for _ in range(3))
    opt = optim.SGD([{"params": [a], "weight_decay": 5e-4}, {"params": b, "lr": 0.01}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0]
    assert all(g["momentum"] == 0.9 and g["nesterov"] is False for g in opt.param_groups)
    assert opt.lr == 0.1 and opt.params == [a, b]
    assert repr(opt) == ("SGD(2 parameters in 2 groups; first group: lr=0.1, momentum=0.9, nesterov=False, "
                         "weight_decay=0.0005, dampening=0.0)")
    opt.add_param_group({"params": [c], "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    opt.lr = 0.5
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5, 0.5]
    for p in (a, b, c):
        p.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 1 - 0.5 * (1 + 5e-4))
    with pytest.raises(ValueError, match="SGD: a parameter of param_groups.* is already in another parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="SGD: a parameter appears more than once"):
        optim.SGD([a, b, a], lr=0.1)
    with pytest.raises(ValueError, match="already in another parameter group"):
        optim.Adam([{"params": [a, b]}, {"params": [b]}])
    with pytest.raises(TypeError, match="mixes parameter-group dicts and tensors"):
        optim.Adam([{"params": [a]}, b])
    with pytest.raises(TypeError, match="is a set"):
        optim.Adam([{"params": {a, b}}])
    with pytest.raises(ValueError, match=r"Adam: param_groups\[1\]: betas\[0\] must be in \[0, 1\)"):
        optim.Adam([{"params": [a]}, {"params": [b], "betas": (1.0, 0.9)}])


CONFIGS = {"SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), "Adam": dict(lr=0.01, amsgrad=True),
           "AdamW": dict(lr=0.01), "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
           "Adagrad": dict(lr=0.1, lr_decay=0.01)}


def make(name, seed=0):
    rng = np.random.default_rng(seed)
    ps = [nn.Parameter(rng.standard_normal(s)) for s in [(3, 2), (2,), (4,)]]
    opt = getattr(optim, name)([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.02}], **CONFIGS[name])
    return ps, opt


def train(ps, opt, start, stop):
    for k in range(start, stop):
        rng = np.random.default_rng(100 + k)
        for i, p in enumerate(ps):
            p.grad = None if (i == 1 and k % 4 == 0) else rng.standard_normal(p.data.shape).astype(p.data.dtype)
        opt.step()


@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip_through_npz_continues_exactly(name, tmp_path):
    ref, ref_opt = make(name)
    train(ref, ref_opt, 0, 20)
    ps, opt = make(name)
    train(ps, opt, 0, 10)
    path = tmp_path / "opt.npz"
    np.savez(path, **optim.state_to_arrays(opt.state_dict(), "opt/"))
    with np.load(path, allow_pickle=False) as f:
        state = optim.state_from_arrays(dict(f), "opt/")
    ps2, opt2 = make(name, seed=5)                 # a fresh run: different weights, no state
    for p2, p in zip(ps2, ps):
        p2.data[...] = p.data
    opt2.load_state_dict(state)
    assert opt2.param_groups[1]["lr"] == 0.02
    train(ps2, opt2, 10, 20)
    for a, b in zip(ps2, ref):
        np.testing.assert_array_equal(a.data, b.data)
    sd = opt2.state_dict()                         # the state_dict is a copy, not a view of the buffers
    for st in sd["state"].values():
        for v in st.values():
            if isinstance(v, np.ndarray):
                v += 1
    train(ps2, opt2, 20, 21)
    train(ref, ref_opt, 20, 21)
    for a, b in zip(ps2, ref):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_layout():
    ps, opt = make("Adam")
    train(ps, opt, 0, 1)                           # parameter 1 had no gradient at step 0
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 2]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"} and sd["state"][0]["step"] == 1
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1] == {"lr": 0.02, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
                                     "amsgrad": True, "params": [2]}


def snapshot(opt):
    return ([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
            {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
             for i, st in opt.state.items()})


def unchanged(opt, before):
    groups, state = snapshot(opt)
    assert groups == before[0] and state.keys() == before[1].keys()
    for i in state:
        for k in state[i]:
            np.testing.assert_array_equal(state[i][k], before[1][i][k])


def test_load_state_dict_mismatches_fail_and_change_nothing():
    ps, opt = make("Adam")
    train(ps, opt, 0, 3)
    good = opt.state_dict()
    before = snapshot(opt)

    def fails(sd, match, err=ValueError):
        with pytest.raises(err, match=match):
            opt.load_state_dict(sd)
        unchanged(opt, before)

    fails({**good, "param_groups": good["param_groups"][:1]}, "the saved state has 1 parameter groups, this "
          "optimizer has 2")
    g = [dict(good["param_groups"][0], params=[0]), good["param_groups"][1]]
    fails({**good, "param_groups": g}, "saved parameter group 0 has 1 parameters, this optimizer's has 2")
    st = {**good["state"], 2: {**good["state"][2], "exp_avg": np.zeros(5)}}
    fails({**good, "state": st, "param_groups": [dict(x, lr=9.0) for x in good["param_groups"]]},
          r"'exp_avg' of parameter 2 has shape \(5,\), parameter .* has shape \(4,\)")
    fails({**good, "state": {**good["state"], 7: good["state"][0]}}, "state for parameter 7, but this optimizer "
          "has 3 parameters")
    fails({**good, "state": {0: {"momentum_buffer": np.zeros((3, 2))}}}, r"has \['momentum_buffer'\]; Adam keeps")
    fails({**good, "param_groups": [dict(x, lr="fast") for x in good["param_groups"]]}, "lr must be a number",
          TypeError)
    sgd_ps, sgd = make("SGD")
    train(sgd_ps, sgd, 0, 2)
    fails(sgd.state_dict(), r"lacks \['amsgrad', 'betas', 'eps'\]")
    fails({"lr": 0.1}, "expected keys 'state' and 'param_groups'")


def test_sgd_loads_the_old_checkpoint_format():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict({"lr": 0.05, "velocity": [np.full(3, 2.0)]})
    assert opt.lr == 0.05
    np.testing.assert_array_equal(opt.velocity[0], 2.0)
    with pytest.raises(ValueError, match="SGD.load_state_dict: 2 velocity buffers for 1 parameters"):
        opt.load_state_dict({"lr": 0.05, "velocity": [None, None]})


@pytest.mark.parametrize("name,kw,err,msg", [
    ("SGD", dict(lr="0.1"), TypeError, "SGD: lr must be a number, got str"),
    ("SGD", dict(lr=True), TypeError, "SGD: lr must be a number, got bool"),
    ("SGD", dict(lr=None), TypeError, "SGD: lr must be a number, got NoneType"),
    ("Adam", dict(lr=float("inf")), ValueError, "Adam: lr must be finite"),
    ("Adam", dict(lr=-0.1), ValueError, "Adam: lr must be >= 0"),
    ("Adam", dict(betas=(0.9, 1.0)), ValueError, r"Adam: betas\[1\] must be in \[0, 1\)"),
    ("Adam", dict(betas=(-0.1, 0.9)), ValueError, r"Adam: betas\[0\] must be in \[0, 1\)"),
    ("Adam", dict(betas=0.9), TypeError, r"Adam: betas must be a pair"),
    ("Adam", dict(betas=("a", 0.9)), TypeError, r"Adam: betas\[0\] must be a number"),
    ("Adam", dict(eps=-1e-8), ValueError, "Adam: eps must be >= 0"),
    ("Adam", dict(amsgrad="yes"), TypeError, "Adam: amsgrad must be True or False"),
    ("AdamW", dict(weight_decay=-0.01), ValueError, "AdamW: weight_decay must be >= 0"),
    ("RMSprop", dict(momentum=1.0), ValueError, r"RMSprop: momentum must be in \[0, 1\)"),
    ("RMSprop", dict(alpha=1.5), ValueError, r"RMSprop: alpha must be in \[0, 1\]"),
    ("RMSprop", dict(centered=1), TypeError, "RMSprop: centered must be True or False"),
    ("Adagrad", dict(lr_decay=-1), ValueError, "Adagrad: lr_decay must be >= 0"),
    ("Adagrad", dict(initial_accumulator_value=-1), ValueError, "Adagrad: initial_accumulator_value must be >= 0"),
    ("Adagrad", dict(eps="1e-10"), TypeError, "Adagrad: eps must be a number"),
    ("SGD", dict(momentum=np.float32(1.2)), ValueError, r"SGD: momentum must be in \[0, 1\)"),
])
def test_argument_validation_at_construction(name, kw, err, msg):
    with pytest.raises(err, match=msg):
        getattr(optim, name)([nn.Parameter(np.ones(2))], **kw)


@pytest.mark.parametrize("name", ALL)
def test_unbuilt_model_and_empty_lists(name):
    model = nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dense(2)])     # not built: no parameters yet
    msg = (f"{name}: no parameters: if this is a model that has not been built yet, pass input_shape= or call it "
           f"once on a batch")
    with pytest.raises(ValueError, match=msg):
        getattr(optim, name)(model.parameters())
    with pytest.raises(ValueError, match=msg):
        getattr(optim, name)([{"params": []}])
    with pytest.raises(TypeError, match=f"{name}: params must be an iterable of Parameters"):
        getattr(optim, name)(nn.Parameter(np.ones(2)))
    built = nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dense(2)], input_shape=(3,))
    assert len(getattr(optim, name)(built.parameters()).params) == 4


def test_adam_updates_a_real_model_after_tape_backward():
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(3)], input_shape=(2,))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = np.ones((4, 2), np.float32)
    with tg.Tape() as tape:
        loss = (model(x) ** 2).mean()
    tape.backward(loss)
    before = [p.data.copy() for p in model.parameters()]
    opt.step()
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(momentum=0.9, dampening=0.1, weight_decay=0.1)), ("SGD", dict(momentum=0.9, nesterov=True,
                                                                               weight_decay=0.1)),
    ("Adam", dict(weight_decay=0.1, amsgrad=True)), ("AdamW", dict()),
    ("RMSprop", dict(centered=True, momentum=0.9, weight_decay=0.1)), ("RMSprop", dict()),
    ("Adagrad", dict(weight_decay=0.1, lr_decay=0.1))])
def test_no_array_allocated_per_step_after_the_first(name, kw):
    import tracemalloc
    p = nn.Parameter(np.ones(50_000), dtype=np.float64)             # 400 kB
    p.grad = np.full(50_000, 0.5)
    opt = getattr(optim, name)([p], lr=0.01, **kw)
    opt.step()
    tracemalloc.start()
    try:
        for _ in range(3):
            opt.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000, f"{name} allocated {peak} bytes in a step"


def test_optimizers_by_name():
    assert sorted(optim.OPTIMIZERS) == ["adagrad", "adam", "adamw", "rmsprop", "sgd"]
    assert all(issubclass(c, optim.Optimizer) and c.__name__.lower() == k for k, c in optim.OPTIMIZERS.items())
