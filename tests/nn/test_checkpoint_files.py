"""Checkpoints that cost more than they are worth: crafted files are refused by name before anything changes,
an epochs= that the checkpoint already covers says so, SIGKILLed saves leave no lasting temporaries, saved files
follow the umask, and any optimizer's state dict travels in the checkpoint."""
import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn
from tapegraph.nn import serialization


def data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((48, 6)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


class Momentum:
    """A small optimizer with a fixed state-dict layout, so these tests do not depend on tg.optim's internals."""

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr
        self.velocity = [None] * len(self.params)

    def step(self):
        for i, p in enumerate(self.params):
            v = self.velocity[i] = p.grad.copy() if self.velocity[i] is None else 0.9 * self.velocity[i] + p.grad
            p.data -= self.lr * v

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def state_dict(self):
        return {"lr": self.lr, "velocity": [None if v is None else v.copy() for v in self.velocity]}

    def load_state_dict(self, state):
        if len(state["velocity"]) != len(self.params):
            raise ValueError("Momentum.load_state_dict: wrong number of buffers")
        self.lr, self.velocity = float(state["lr"]), [None if v is None else np.array(v) for v in state["velocity"]]


class Halve:
    """A schedule that keeps its position in ``epoch`` (as tg.optim's do)."""

    def __init__(self, opt):
        self.opt, self.epoch = opt, 0

    def on_epoch_end(self, epoch, logs=None):
        self.epoch += 1
        self.opt.lr = 0.1 * 0.5 ** self.epoch


def setup(seed=0):
    tg.manual_seed(seed)
    model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(2)], input_shape=(6,))
    opt = Momentum(model.parameters(), lr=0.1)
    sched = Halve(opt)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", from_logits=True)
    return model, opt, sched


def write(path, epochs=2):
    model, opt, sched = setup()
    model.fit(*data(), epochs=epochs, batch_size=16, verbose=0, callbacks=[sched], checkpoint=path)


def rewrite(path, edit_meta=None, edit_arrays=None):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def snapshot(model, opt, sched):
    return ({k: v.copy() for k, v in model.state_dict().items()}, opt.lr,
            [None if v is None else v.copy() for v in opt.velocity], sched.epoch, tg.get_rng().bit_generator.state)


CRAFTED = {
    "no rng": (lambda m: m.pop("rng"), None, r"rng: expected the state of a PCG64 generator"),
    "bad rng": (lambda m: m["rng"].update(state={"state": "x", "inc": 1}), None, r"rng: invalid PCG64 state"),
    "negative epoch": (lambda m: m.update(epoch=-3), None, r"epoch is -3, expected a non-negative int"),
    "short history": (lambda m: m["history"]["loss"].pop(), None, r"history\['loss'\] is not a list of 2 numbers"),
    "epochs_run": (lambda m: m.update(epochs_run="01"), None, r"epochs_run is 01, expected a list of ints"),
    "wrong weight shape": (None, lambda a: a.update({"model/layers.0.weight": np.zeros((6, 9), np.float32)}),
                           r"model: layers.0.weight has shape \(6, 9\), the model has \(6, 8\)"),
    "missing weight": (None, lambda a: a.pop("model/layers.2.bias"), r"model: missing \['layers.2.bias'\]"),
    "string weight": (None, lambda a: a.update({"model/layers.2.bias": np.array(["a", "b"])}),
                      r"layers.2.bias has dtype <U1"),
    "velocity shape": (None, lambda a: a.update({"optim/1": np.zeros(3, np.float32)}),
                       r"optimizer\['velocity'\]\[1\]: shape \(3,\), expected \(8,\)"),
    "missing slot": (lambda m: m["optimizer"]["state"]["__dict__"][1][1].pop(), None,
                     r"optimizer\['velocity'\]: 3 entries, expected 4"),
    "dangling array": (None, lambda a: a.pop("optim/0"), r"optimizer\['velocity'\]\[0\]: refers to array 'optim/0'"),
    "optimizer class": (lambda m: m["optimizer"].update({"class": "Adam"}), None,
                        r"the checkpoint holds Adam state, this run's optimizer is Momentum"),
    "lr not a number": (lambda m: m["optimizer"]["state"]["__dict__"][0].__setitem__(1, "fast"), None,
                        r"optimizer\['lr'\]: expected a number"),
    "callbacks": (lambda m: m["callbacks"].clear(), None,
                  r"callbacks: the checkpoint holds the state of \[\], this run has \['Halve'\]"),
    "schedule state": (lambda m: m["callbacks"][0].update(state={"__dict__": [["epoch", "two"]]}), None,
                       r"Halve: expected \{'epoch': int\}"),
    "meta not an object": (lambda m: m.clear(), None, r"format None"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoint_is_refused_by_name_and_nothing_changes(tmp_path, case):
    edit_meta, edit_arrays, message = CRAFTED[case]
    path = tmp_path / "ckpt.npz"
    write(path)
    rewrite(path, edit_meta, edit_arrays)
    model, opt, sched = setup(seed=7)
    opt.velocity = [np.full_like(p.data, 0.5) for p in opt.params]
    before = snapshot(model, opt, sched)
    with pytest.raises(ValueError, match=r"fit: cannot resume from .*ckpt.npz: .*" + message):
        model.fit(*data(), epochs=4, batch_size=16, verbose=0, callbacks=[sched], checkpoint=path, resume=True)
    after = snapshot(model, opt, sched)
    for k in before[0]:
        np.testing.assert_array_equal(after[0][k], before[0][k], err_msg=k)
    assert after[1] == before[1] and after[3] == before[3] and after[4] == before[4]
    for a, b in zip(after[2], before[2]):
        np.testing.assert_array_equal(a, b)


def test_optimizer_refusing_its_state_rolls_back(tmp_path):
    path = tmp_path / "ckpt.npz"
    write(path)
    model, opt, sched = setup(seed=7)
    real = opt.load_state_dict

    calls = []

    def picky(state):
        real(state)                                    # applies, then refuses once: the snapshot must come back
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("Momentum.load_state_dict: no")

    opt.load_state_dict = picky
    lr = opt.lr
    with pytest.raises(ValueError, match=r"Momentum.load_state_dict refused its state .* nothing was changed"):
        model.fit(*data(), epochs=4, verbose=0, callbacks=[sched], checkpoint=path, resume=True)
    assert opt.lr == lr and all(v is None for v in opt.velocity)


def test_epochs_already_covered_by_the_checkpoint_says_so(tmp_path):
    path = tmp_path / "ckpt.npz"
    write(path, epochs=3)
    model, opt, sched = setup(seed=7)
    with pytest.warns(UserWarning, match=r"already holds 3 epochs and epochs=2, so there is nothing to train.*"
                                         r"pass epochs > 3"):
        h = model.fit(*data(), epochs=2, verbose=0, callbacks=[sched], checkpoint=path, resume=True)
    assert h.epoch == [0, 1, 2]                           # the checkpoint's history, restored
    ref = setup()[0]
    ref.load_weights(path)
    np.testing.assert_array_equal(model[0].weight.data, ref[0].weight.data)


def test_early_stopping_state_survives_a_resume(tmp_path):
    path = tmp_path / "ckpt.npz"

    class Scripted(nn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [3, 1, 2, 2.5, 2.7, 2.9][epoch]

    def run(epochs, resume=False):
        model, opt, sched = setup()
        stop = nn.EarlyStopping(patience=2, restore_best_weights=True)
        h = model.fit(*data(), epochs=epochs, verbose=0, callbacks=[Scripted(), sched, stop], checkpoint=path,
                      resume=resume)
        return h, stop, model

    ref_h, ref_stop, ref_model = run(6)
    os.remove(path)
    run(2)
    h, stop, model = run(6, resume=True)
    assert h.epoch == ref_h.epoch == [0, 1, 2, 3] and stop.best_epoch == 1 and stop.stopped_epoch == 3
    np.testing.assert_array_equal(model[0].weight.data, ref_model[0].weight.data)


def test_any_optimizer_state_dict_travels_in_the_checkpoint(tmp_path):
    class Counting(Momentum):
        """Extra state of every kind a state dict may hold: nested dicts with int keys, tuples, arrays, None."""

        def __init__(self, params, lr):
            super().__init__(params, lr)
            self.steps, self.extra = 0, {"betas": (0.9, 0.99), "per_param": {}, "note": None}

        def step(self):
            super().step()
            self.steps += 1
            self.extra["per_param"] = {i: np.full(2, self.steps, np.float64) for i in range(2)}

        def state_dict(self):
            return {**super().state_dict(), "steps": self.steps, "extra": self.extra}

        def load_state_dict(self, state):
            super().load_state_dict(state)
            self.steps, self.extra = state["steps"], state["extra"]

    path = tmp_path / "ckpt.npz"
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(2)], input_shape=(6,))
    model.compile(optimizer=Counting(model.parameters(), 0.1), loss="sparse_categorical_crossentropy",
                  from_logits=True)
    model.fit(*data(), epochs=2, batch_size=16, verbose=0, checkpoint=path)
    fresh = nn.Sequential([nn.Dense(2)], input_shape=(6,))
    opt = Counting(fresh.parameters(), 0.1)
    fresh.fit(*data(), epochs=3, batch_size=16, verbose=0, optimizer=opt,
              loss=nn.SparseCategoricalCrossentropy(True), checkpoint=path, resume=True)
    assert opt.steps == 9 and opt.extra["betas"] == (0.9, 0.99) and opt.extra["note"] is None
    np.testing.assert_array_equal(opt.extra["per_param"][1], [9.0, 9.0])


def test_adam_state_in_checkpoints(tmp_path):

    def run(epochs, path=None, resume=False, seed=0):
        tg.manual_seed(seed)
        model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(2)], input_shape=(6,))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
        model.fit(*data(), epochs=epochs, batch_size=16, verbose=0, checkpoint=path, resume=resume)
        return model

    ref = run(4)
    path = tmp_path / "a.npz"
    run(2, path)
    model = run(4, path, resume=True, seed=5)
    np.testing.assert_array_equal(model[0].weight.data, ref[0].weight.data)


# -- temporaries and permissions -------------------------------------------------------------------------------
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_next_save_removes_temporaries_of_dead_processes(tmp_path):
    path = tmp_path / "w.npz"
    stale = tmp_path / f".w.npz.tmp-{dead_pid()}-123"
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / f".w.npz.tmp-{os.getppid()}-1"              # a running process's save: left alone
    live.write_bytes(b"y")
    other = tmp_path / f".other.npz.tmp-{dead_pid()}-1"          # another file's temporary: not ours
    other.write_bytes(b"z")
    nn.Sequential([nn.Dense(2)], input_shape=(3,)).save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["w.npz", live.name, other.name])


def test_a_sigkilled_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "ckpt.npz"
    code = (
        "import sys, time, numpy as np\n"
        "from tapegraph.nn import serialization\n"
        "def slow(f, arrays):\n"
        "    f.write(b'partial' * 1000); f.flush(); print('writing', flush=True); time.sleep(60)\n"
        "serialization._write_npz = slow\n"
        f"serialization.atomic_savez({str(path)!r}, {{'a': np.zeros(3)}})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".ckpt.npz.tmp-")   # what SIGKILL leaves
    serialization.atomic_savez(path, {"a": np.ones(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_follow_the_umask_like_np_savez(tmp_path, umask):
    old = os.umask(umask)
    try:
        np.savez(tmp_path / "ref.npz", a=np.zeros(1))
        model = nn.Sequential([nn.Dense(2)], input_shape=(3,))
        model.save(tmp_path / "w.npz")
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0,
                  checkpoint=tmp_path / "c.npz")
    finally:
        os.umask(old)
    ref = (tmp_path / "ref.npz").stat().st_mode & 0o777
    assert ref == 0o666 & ~umask
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == ref
    assert (tmp_path / "c.npz").stat().st_mode & 0o777 == ref


def test_checkpoint_into_a_directory_is_named(tmp_path):
    model, opt, sched = setup()
    with pytest.raises(IsADirectoryError, match=r"fit \(checkpoint\): .* is a directory"):
        model.fit(*data(), verbose=0, checkpoint=tmp_path)


def test_format_1_checkpoints_still_resume(tmp_path):
    """Files written before this version (SGD lr/velocity arrays, one schedule position per callback)."""
    path = tmp_path / "old.npz"
    write(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    old = {k: v for k, v in arrays.items() if k.startswith("model/")}
    old["optim/lr"] = np.array(0.025)
    for i in range(4):
        old[f"optim/velocity/{i}"] = arrays[f"optim/{i}"]
    old["meta"] = np.array(json.dumps({"format": "tapegraph-checkpoint-1", "epoch": 1, "history": meta["history"],
                                       "epochs_run": [0, 1], "rng": meta["rng"], "schedules": [2],
                                       "optim_slots": 4}))
    np.savez(path, **old)
    model, opt, sched = setup(seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = model.fit(*data(), epochs=3, batch_size=16, verbose=0, callbacks=[sched], checkpoint=path, resume=True)
    assert h.epoch == [0, 1, 2] and sched.epoch == 3 and opt.lr == pytest.approx(0.0125)


def test_randomly_damaged_checkpoints_give_a_named_error_and_change_nothing(tmp_path):
    """A small hostile pass: 150 mutations of a valid checkpoint (meta values replaced or removed, arrays removed,
    reshaped, retyped, meta itself replaced). Each resume either works or raises ``fit: cannot resume from``."""
    import copy
    import random

    path = tmp_path / "c.npz"
    model, opt, sched = setup()
    model.fit(*data(), epochs=2, batch_size=16, verbose=0, validation_data=data(), checkpoint=path,
              callbacks=[sched, nn.EarlyStopping(patience=5, restore_best_weights=True)])
    with np.load(path) as z:
        base = {k: z[k] for k in z.files}
    meta0 = json.loads(str(base["meta"]))

    def paths(o, p=()):
        yield p
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
        for k, v in items:
            yield from paths(v, p + (k,))

    every = [p for p in paths(meta0) if p]
    values = [None, -1, 0, 1.5, float("nan"), "x", [], {}, [1, 2], {"__array__": "nope"}, {"__dict__": 3}, True]
    rng = random.Random(0)
    refused = 0
    for _ in range(150):
        meta, arrays = copy.deepcopy(meta0), dict(base)
        r = rng.random()
        if r < 0.5:
            p = rng.choice(every)
            o = meta
            for k in p[:-1]:
                o = o[k]
            if rng.random() < 0.3:
                o.pop(p[-1])
            else:
                o[p[-1]] = rng.choice(values)
            arrays["meta"] = np.array(json.dumps(meta))
        elif r < 0.85:
            k = rng.choice([k for k in arrays if k != "meta"])
            arrays[k] = rng.choice([None, np.zeros(3, np.float32), np.array(["s"]), np.full((6, 8), np.nan)])
            if arrays[k] is None:
                del arrays[k]
        else:
            arrays["meta"] = rng.choice([np.array(3), np.array("{"), np.array("[]"),
                                         np.array('{"format": "tapegraph-checkpoint-2"}')])
        np.savez(path, **arrays)
        m2, o2, s2 = setup(seed=3)
        before = snapshot(m2, o2, s2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m2.fit(*data(), epochs=3, batch_size=16, verbose=0, validation_data=data(), checkpoint=path,
                       resume=True, callbacks=[s2, nn.EarlyStopping(patience=5, restore_best_weights=True)])
        except ValueError as e:
            assert str(e).startswith(f"fit: cannot resume from {path}: "), e
            refused += 1
            after = snapshot(m2, o2, s2)
            assert all(np.array_equal(after[0][k], before[0][k]) for k in before[0])
            assert after[1] == before[1] and after[3:] == before[3:]
    assert refused > 100


def test_a_schedule_whose_state_dict_json_cannot_hold_keeps_its_position(tmp_path):
    class LambdaLike(Halve):
        def state_dict(self):
            return {"epoch": self.epoch, "fn": lambda e: e}           # a function: not storable

        def load_state_dict(self, state):                              # pragma: no cover - must not be used
            raise AssertionError("stored by position")

    path = tmp_path / "c.npz"
    model, opt, _ = setup()
    model.fit(*data(), epochs=2, verbose=0, callbacks=[LambdaLike(opt)], checkpoint=path)
    model, opt, _ = setup(seed=4)
    sched = LambdaLike(opt)
    model.fit(*data(), epochs=3, verbose=0, callbacks=[sched], checkpoint=path, resume=True)
    assert sched.epoch == 3
