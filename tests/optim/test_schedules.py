"""Schedules without torch: sequences by hand, several parameter groups, callbacks (epoch vs batch), state
round trips, argument errors, and fit/checkpoint integration with Adam."""
import json
import math
import warnings

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn, optim


def opt2(lrs=(1.0, 0.5), name="SGD", **kw):
    return getattr(optim, name)([{"params": [nn.Parameter(np.ones(1))], "lr": lr} for lr in lrs], **kw)


def seq(sched, n):
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in sched.optimizer.param_groups])
        sched.step()
    return np.array(out)


def test_multistep_lambda_linear_by_hand():
    got = seq(optim.MultiStepLR(opt2(), [3, 1, 3], gamma=0.5), 5)
    np.testing.assert_allclose(got, [[1, 0.5], [0.5, 0.25], [0.5, 0.25], [0.125, 0.0625], [0.125, 0.0625]])
    got = seq(optim.LambdaLR(opt2(), [lambda e: e + 1, lambda e: 0.5 ** e]), 3)
    np.testing.assert_allclose(got, [[1, 0.5], [2, 0.25], [3, 0.125]])
    got = seq(optim.LinearLR(opt2(), start_factor=0.25, end_factor=0.75, total_iters=2), 4)
    np.testing.assert_allclose(got, [[0.25, 0.125], [0.5, 0.25], [0.75, 0.375], [0.75, 0.375]])
    got = seq(optim.LinearWarmup(opt2(), 3, start_factor=0.4), 5)
    np.testing.assert_allclose(got, [[0.4, 0.2], [0.6, 0.3], [0.8, 0.4], [1, 0.5], [1, 0.5]])


def test_one_cycle_shape_and_momentum():
    opt = opt2((0.0, 0.0), momentum=0.9)
    s = optim.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=11, pct_start=0.5, div_factor=4.0,
                         final_div_factor=10.0, anneal_strategy="linear")
    lrs, moms = [], []
    for k in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        if k < 11:
            s.step()
    # up from 1/4 to 1 over steps 0..4.5 (end step pct * total - 1 = 4.5), down to 1/40 at step 10
    assert lrs[0] == pytest.approx(0.25) and lrs[10] == pytest.approx(0.025)
    assert lrs[1] == pytest.approx(0.25 + 0.75 / 4.5)
    assert max(lrs) == lrs[4] and opt.param_groups[1]["lr"] == pytest.approx(2 * lrs[-1])
    assert moms[0] == pytest.approx(0.95) and moms[10] == pytest.approx(0.95)
    assert moms[1] == pytest.approx(0.95 - 0.1 / 4.5)
    assert s.on_epoch_end(0) is None and s.epoch == 11         # per batch: an epoch end does not step it
    with pytest.raises(ValueError, match="OneCycleLR: stepped 12 times, but total_steps is 11"):
        s.on_batch_end(0)
    opt = opt2(name="Adam", betas=(0.5, 0.99))
    optim.OneCycleLR(opt, 0.1, epochs=2, steps_per_epoch=3, base_momentum=0.6, max_momentum=0.7)
    assert opt.param_groups[0]["betas"] == (0.7, 0.99)


def test_reduce_on_plateau_by_hand():
    opt = opt2()
    s = optim.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1, min_lr=[0.3, 0.0])
    lrs = []
    for m in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]:
        s.step(m)
        lrs.append([g["lr"] for g in opt.param_groups])
    # bad epochs: 0.95 x2 -> reduce (epoch 4), cooldown eats epoch 5, two more bad -> reduce (epoch 7), min_lr 0.3
    assert lrs == [[1, 0.5]] * 3 + [[0.5, 0.25]] * 3 + [[0.3, 0.125]] * 2
    s = optim.ReduceLROnPlateau(opt2(), mode="max", patience=0, monitor="val_accuracy")
    s.on_epoch_end(0, {"val_accuracy": 0.5})
    s.on_epoch_end(1, {"val_accuracy": 0.5})
    assert s.optimizer.lr == pytest.approx(0.1)
    with pytest.warns(UserWarning, match="ReduceLROnPlateau: the epoch's logs have no 'val_accuracy'"):
        s.on_epoch_end(2, {"loss": 1.0})


def test_epoch_and_batch_hooks():
    s = optim.StepLR(opt2(), 1, 0.5)
    s.on_batch_end(0, {})
    assert s.epoch == 0
    s.on_epoch_end(0, {})
    assert s.epoch == 1 and s.optimizer.lr == 0.5
    s.per_batch = True
    s.on_batch_end(0, {})
    assert s.epoch == 2
    assert optim.LinearWarmup(opt2(), 5, per_batch=True).per_batch
    s2 = optim.StepLR(opt2(), 1, 0.5)
    s2.load_state_dict(s.state_dict())                  # per_batch travels with the state
    assert s2.per_batch and s2.epoch == 2


@pytest.mark.parametrize("make", [
    lambda o: optim.StepLR(o, 2), lambda o: optim.MultiStepLR(o, [1, 3]), lambda o: optim.ExponentialLR(o, 0.9),
    lambda o: optim.CosineAnnealingLR(o, 5), lambda o: optim.LambdaLR(o, lambda e: 1 / (e + 1)),
    lambda o: optim.LinearLR(o), lambda o: optim.LinearWarmup(o, 3),
    lambda o: optim.OneCycleLR(o, 1.0, total_steps=10, three_phase=True),
    lambda o: optim.ReduceLROnPlateau(o, patience=0)])
def test_state_dict_round_trip_continues_the_sequence(make):
    ref_opt, opt = opt2(momentum=0.5), opt2(momentum=0.5)
    ref, s = make(ref_opt), make(opt)
    args = (0.5,) if isinstance(s, optim.ReduceLROnPlateau) else ()
    for _ in range(3):
        ref.step(*args)
        s.step(*args)
    state = json.loads(json.dumps(s.state_dict()))          # plain Python values only
    opt_state = opt.state_dict()
    opt3 = opt2(momentum=0.5)
    s3 = make(opt3)
    s3.load_state_dict(state)
    opt3.load_state_dict(opt_state)
    for _ in range(4):
        assert [g["lr"] for g in opt3.param_groups] == [g["lr"] for g in ref_opt.param_groups]
        assert [g["momentum"] for g in opt3.param_groups] == [g["momentum"] for g in ref_opt.param_groups]
        ref.step(*args)
        s3.step(*args)
    with pytest.raises(ValueError, match="load_state_dict: keys differ"):
        s3.load_state_dict({"epoch": 1})


def test_schedule_argument_errors():
    o = opt2()
    for call, err, msg in [
        (lambda: optim.MultiStepLR(o, [2, -1]), ValueError, r"MultiStepLR: milestones\[1\] must be a >= 0 int"),
        (lambda: optim.MultiStepLR(o, 3), TypeError, "MultiStepLR: milestones must be a list of ints"),
        (lambda: optim.LambdaLR(o, [lambda e: 1]), ValueError, "LambdaLR: lr_lambda has 1 functions for 2"),
        (lambda: optim.LambdaLR(o, 0.5), TypeError, "LambdaLR: lr_lambda must be a function"),
        (lambda: optim.LinearLR(o, start_factor=0), ValueError, r"LinearLR: start_factor must be in \(0, 1\]"),
        (lambda: optim.LinearWarmup(o, 0), ValueError, "LinearWarmup: warmup_steps must be a positive int"),
        (lambda: optim.OneCycleLR(o, 0.1), ValueError, "OneCycleLR: give total_steps, or epochs and steps_per_epoch"),
        (lambda: optim.OneCycleLR(o, [0.1], total_steps=5), ValueError, "OneCycleLR: max_lr has 1 values for 2"),
        (lambda: optim.OneCycleLR(o, 0.1, 5, anneal_strategy="exp"), ValueError, "OneCycleLR: anneal_strategy"),
        (lambda: optim.OneCycleLR(o, 0.1, 5, pct_start=1.5), ValueError, r"OneCycleLR: pct_start must be in \[0, 1\]"),
        (lambda: optim.ReduceLROnPlateau(o, mode="low"), ValueError, "ReduceLROnPlateau: mode must be 'min' or"),
        (lambda: optim.ReduceLROnPlateau(o, factor=1.0), ValueError, r"ReduceLROnPlateau: factor must be in \[0, 1\)"),
        (lambda: optim.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "ReduceLROnPlateau: threshold_mode"),
        (lambda: optim.ReduceLROnPlateau(o).step("bad"), TypeError, "ReduceLROnPlateau.step: metric must be a"),
        (lambda: optim.StepLR(object(), 2), TypeError, "StepLR: expected a tapegraph optimizer"),
        (lambda: optim.StepLR(o, 2, gamma=math.inf), ValueError, "StepLR: gamma must be finite, got inf"),
        (lambda: optim.ExponentialLR(o, gamma=math.inf), ValueError, "ExponentialLR: gamma must be finite"),
        (lambda: optim.ExponentialLR(o, gamma=0), ValueError, r"ExponentialLR: gamma must be positive, got 0\.0"),
        (lambda: optim.ExponentialLR(o, gamma="0.9"), TypeError, "ExponentialLR: gamma must be a number"),
        (lambda: optim.OneCycleLR(o, 0.1, 5, div_factor=0), ValueError, "OneCycleLR: div_factor must be positive"),
    ]:
        with pytest.raises(err, match=msg):
            call()


def data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def CE(p, t):
    return tg.losses.categorical_crossentropy(p, t, from_logits=True)


def test_fit_steps_one_cycle_per_batch():
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(2)], input_shape=(6,))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = data()
    sched = optim.OneCycleLR(opt, max_lr=0.2, epochs=3, steps_per_epoch=6)
    used = []

    class Record(tg.nn.training.Callback):
        def on_batch_end(self, batch, logs=None):
            used.append((opt.lr, opt.param_groups[0]["momentum"]))

    model.fit(x, y, loss=CE, optimizer=opt, epochs=3, batch_size=16, callbacks=[Record(), sched], verbose=0)
    assert sched.epoch == 18 and len(used) == 18
    assert used[0] == pytest.approx((0.2 / 25, 0.95)) and used[-1] == pytest.approx((0.2 / 25 / 1e4, 0.95))
    assert max(used)[0] == pytest.approx(0.2, rel=0.05)


def run(epochs, path=None, resume=False, seed=0):
    tg.manual_seed(seed)
    model = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dropout(0.3), nn.Dense(2)], input_shape=(6,))
    decay = [p for n, p in model.named_parameters() if n.endswith("kernel") or n.endswith("weight")]
    rest = [p for p in model.parameters() if all(p is not q for q in decay)]
    opt = optim.AdamW([{"params": decay}, {"params": rest, "weight_decay": 0.0}], lr=0.01, amsgrad=True)
    plateau = optim.ReduceLROnPlateau(opt, patience=0, factor=0.5, monitor="loss", threshold=0.3)
    x, y = data()
    hist = model.fit(x, y, loss=CE, optimizer=opt, epochs=epochs, batch_size=16, callbacks=[plateau], verbose=0,
                     checkpoint=path, resume=resume)
    return model, opt, plateau, hist


def test_checkpoint_resume_with_adamw_groups_and_plateau(tmp_path):
    ref, ref_opt, ref_plateau, ref_hist = run(5)
    path = tmp_path / "ckpt.npz"
    run(2, path)
    model, opt, plateau, hist = run(5, path, resume=True, seed=9)
    for (k, a), (_, b) in zip(ref.named_parameters(), model.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in ref_opt.param_groups]
    assert plateau.state_dict() == ref_plateau.state_dict()
    assert hist.history["loss"] == ref_hist.history["loss"]
    assert ref_opt.lr < 0.01 and ref_plateau.best < math.inf            # the plateau did act


def test_old_sgd_checkpoints_still_load(tmp_path):
    """A checkpoint in the format written before parameter groups (optim/lr, optim/velocity/i) resumes."""
    from tapegraph.nn.checkpoint import load_checkpoint
    from tapegraph.nn.training import History
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(2)], input_shape=(3,))
    arrays = {f"model/{k}": p.data for k, p in model.named_parameters()}
    meta = {"format": "tapegraph-checkpoint-1", "epoch": 0, "history": {"loss": [1.0]}, "epochs_run": [0],
            "rng": tg.random.get_rng().bit_generator.state, "schedules": [None], "optim_slots": 2}
    arrays.update({"meta": np.array(json.dumps(meta)), "optim/lr": np.array(0.05),
                   "optim/velocity/0": np.ones((3, 2), np.float32)})
    path = tmp_path / "old.npz"
    np.savez(path, **arrays)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_checkpoint(path, model, opt, History(), [object()]) == 0
    assert opt.lr == 0.05
    np.testing.assert_array_equal(opt.velocity[0], 1.0)
    assert opt.velocity[1] is None
