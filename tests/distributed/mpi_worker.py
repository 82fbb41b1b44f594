"""Run by tests/distributed/test_mpi.py on every rank: ``mpirun -n 2 python mpi_worker.py MODE [ARGS]``.

Each mode checks its claim on the ranks themselves; a failed check raises, which (through the excepthook
``dist.init()`` installs) aborts the job with a non-zero exit status. Success prints ``PASS MODE`` on rank 0.
"""
import os
import signal
import sys
import time

import numpy as np

import tapegraph as tg
from tapegraph import distributed as dist
from tapegraph import losses, nn, optim

STEPS, LOCAL = 5, 16


def mlp(bn=None):
    layers = [nn.Dense(12), nn.ReLU()]
    if bn is not None:
        layers.append(bn())
    return nn.Sequential(layers + [nn.Dense(3)], input_shape=(6,))


def cnn(bn=None):
    norm = (lambda: [bn()]) if bn is not None else list
    return nn.Sequential([nn.Conv2D(4, 3, padding="same"), *norm(), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                          nn.Dense(5), *norm(), nn.ReLU(), nn.Dense(3)], input_shape=(2, 6, 6))


def data(shape):
    rng = np.random.default_rng(1234)                       # the same global data on every rank
    x = rng.standard_normal((STEPS, dist.size() * LOCAL) + shape).astype(np.float32) * 2 + 0.5
    y = rng.integers(0, 3, (STEPS, dist.size() * LOCAL))
    return x, y


def train(model, opt, x, y):
    loss_fn = lambda p, t: losses.categorical_crossentropy(p, t, from_logits=True)  # noqa: E731
    for xb, yb in zip(x, y):
        with tg.Tape() as tape:
            loss = loss_fn(model(xb), yb)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()
    return model


def check_against_single_process(make, shape, local_bn, single_bn):
    """Ranks train on their slices; rank 0 replays the concatenated batches alone; all weights must agree."""
    r, n = dist.rank(), dist.size()
    tg.manual_seed(100 + r)                                 # different initial weights per rank ...
    model = make(local_bn)
    dist.broadcast_parameters(model)                        # ... until rank 0's are broadcast
    start = {k: v.copy() for k, v in model.state_dict().items()}
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    x, y = data(shape)
    sl = slice(r * LOCAL, (r + 1) * LOCAL)
    train(model, opt, x[:, sl], y[:, sl])
    mine = model.state_dict()
    everyone = dist._allgather(np.concatenate([v.reshape(-1) for v in mine.values()]), "gather weights")
    assert all(np.array_equal(everyone[0], row) for row in everyone[1:]), "ranks' weights differ"
    if dist.is_primary():
        ref = make(single_bn)
        ref.load_state_dict(start)
        train(ref, optim.SGD(ref.parameters(), lr=0.1, momentum=0.9), x, y)
        want = ref.state_dict()
        assert set(want) == set(mine)
        for k in want:
            np.testing.assert_allclose(mine[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
        moved = max(float(np.abs(want[k] - start[k]).max()) for k in want)
        assert moved > 1e-2, f"training did not move the weights ({moved})"


def mode_sgd():
    check_against_single_process(mlp, (6,), None, None)
    check_against_single_process(cnn, (2, 6, 6), None, None)


def mode_syncbn():
    check_against_single_process(cnn, (2, 6, 6), nn.SyncBatchNorm, nn.BatchNorm)
    check_against_single_process(mlp, (6,), nn.SyncBatchNorm, nn.BatchNorm)


def mode_localbn():
    """Plain BatchNorm keeps per-rank statistics: the running statistics differ across ranks after training."""
    tg.manual_seed(0)
    model = mlp(nn.BatchNorm)
    dist.broadcast_parameters(model)
    x, y = data((6,))
    sl = slice(dist.rank() * LOCAL, (dist.rank() + 1) * LOCAL)
    train(model, dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1)), x[:, sl], y[:, sl])
    rm = dist._allgather(model.layers[2].running_mean, "gather running_mean")
    assert not np.allclose(rm[0], rm[1])
    dist.broadcast_buffers(model)                           # rank 0's statistics everywhere, e.g. before eval
    rm = dist._allgather(model.layers[2].running_var, "gather running_var")
    assert np.array_equal(rm[0], rm[1])


def mode_collectives():
    r, n = dist.rank(), dist.size()
    assert n == 2 and dist.is_primary() == (r == 0)
    assert dist.allreduce(r + 1.0) == 3.0 and dist.allreduce(float(r), "max") == 1.0
    np.testing.assert_array_equal(dist.allreduce(np.full(3, r + 1), "mean"), np.full(3, 1.5))
    assert dist.broadcast_object({"from": r}, root=1) == {"from": 1}
    assert dist.average_logs({"loss": float(r), "name": "x"}) == {"loss": 0.5, "name": "x"}
    # optimizer state: rank 0's velocity reaches rank 1
    tg.manual_seed(r)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = np.full_like(p.data, r + 1)
    opt.step()
    dist.broadcast_optimizer_state(opt)
    vel = dist._allgather(np.concatenate([v.reshape(-1) for v in opt.velocity]), "gather velocity")
    assert np.array_equal(vel[0], vel[1]) and np.all(vel == 1)
    # a grad that is None on one rank counts as zeros; None on every rank stays None
    p1, p2 = tg.tensor(np.zeros(3), requires_grad=True), tg.tensor(np.zeros(2), requires_grad=True)
    p1.grad = np.full(3, 4.0) if r == 0 else None
    dist.allreduce_gradients([p1, p2], bucket_bytes=8)            # one parameter per bucket
    np.testing.assert_array_equal(p1.grad, np.full(3, 2.0))
    assert p2.grad is None
    assert dist.allreduce(np.array([True, r == 1])).tolist() == [2, 1]
    # the optimizer's gradient buckets follow a model re-cast after the optimizer was made
    tg.manual_seed(r)
    m = mlp()
    dist.broadcast_parameters(m)
    dopt = dist.DistributedOptimizer(optim.SGD(m.parameters(), lr=0.1))
    m.astype(np.float64)
    x, y = data((6,))
    train(m, dopt, x[:2, r * LOCAL:(r + 1) * LOCAL], y[:2, r * LOCAL:(r + 1) * LOCAL])
    w = dist._allgather(m.layers[0].weight.data, "gather weight")
    assert w.dtype == np.float64 and np.array_equal(w[0], w[1])
    # a mismatched model is refused on every rank
    try:
        dist.broadcast_parameters(nn.Sequential([nn.Dense(3 + r)], input_shape=(2,)))
    except dist.DistributedError as e:
        assert "broadcast_parameters" in str(e)
    else:
        raise AssertionError("mismatched models were broadcast")


def mode_shard():
    """DataLoader and batches with shard="auto": disjoint, equal-sized, complete (but for n % size) epochs."""
    n, r = 103, dist.rank()
    x = np.arange(n, dtype=np.float32)[:, None]
    loader = tg.data.DataLoader(x, np.arange(n), 10, shard="auto")     # no seed: one shared by broadcast
    assert len(loader) == 6
    epochs = []
    for _ in range(3):
        batches = list(loader)
        assert len(batches) == len(loader) and all(len(b[1]) for b in batches)
        mine = np.concatenate([yb for _, yb in batches])
        assert len(mine) == n // 2
        epochs.append(dist._allgather(mine, "gather shard"))
    for both in epochs:
        assert len(np.intersect1d(both[0], both[1])) == 0
        assert len(np.union1d(both[0], both[1])) == n - 1
    assert not np.array_equal(epochs[0], epochs[1]), "epochs are not reshuffled"
    plain = np.concatenate([yb for _, yb in tg.data.batches(x, np.arange(n), 8, shuffle=False, shard="auto")])
    np.testing.assert_array_equal(plain, np.arange(r * 51, (r + 1) * 51))


def mode_primary(path):
    """Only rank 0 writes; the barrier makes the file visible to rank 1 right after."""
    tg.manual_seed(dist.rank())
    model = mlp()
    dist.broadcast_parameters(model)
    calls = []
    out = dist.primary_only(lambda p: calls.append(p) or model.save(p) or "written")(path)
    assert (out == "written") == dist.is_primary() and len(calls) == int(dist.is_primary())
    assert os.path.exists(path)
    other = mlp()
    other.load_weights(path)
    for a, b in zip(other.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    dist.print_primary("printed once")


def mode_raise():
    dist.barrier()
    if dist.rank() == 1:
        raise ValueError("rank one gives up")
    dist.allreduce(1.0)                                      # rank 0 waits here until the abort
    time.sleep(60)


def mode_kill():
    model = mlp()
    dist.broadcast_parameters(model)
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1))
    x, y = data((6,))
    for i, (xb, yb) in enumerate(zip(x, y)):
        if i == 2 and dist.rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        train(model, opt, xb[None], yb[None])
    time.sleep(60)


def mode_hang():
    """Rank 1 never joins: rank 0's allreduce times out (init(timeout=1)) with an error naming it."""
    dist.init(timeout=1)
    if dist.rank() == 1:
        time.sleep(60)
    dist.allreduce(np.ones(4))


# -- fit(distributed=True) ----------------------------------------------------------------------------------------

def fit_model(bn=None, seed=0):
    tg.manual_seed(seed)
    model = mlp(bn)
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy", from_logits=True, metrics=["accuracy"])
    return model


def fit_data(steps=4):
    rng = np.random.default_rng(99)
    n = 2 * LOCAL * steps
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = rng.integers(0, 3, n)
    xv, yv = rng.standard_normal((21, 6)).astype(np.float32), rng.integers(0, 3, 21)
    return x, y, xv, yv


def gather_weights(model, what):
    return dist._allgather(np.concatenate([v.reshape(-1) for v in model.state_dict().values()]), what)


class Counting(nn.Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def mode_fit(folder):
    """2 ranks x batch 8 with SyncBatchNorm == 1 process x batch 16 with BatchNorm on the per-step concatenation of
    the ranks' (contiguous, unshuffled) shards; identical weights; checkpoint and CSV written once, by rank 0."""
    from tapegraph.nn import training
    r = dist.rank()
    x, y, xv, yv = fit_data()
    model = fit_model(nn.SyncBatchNorm, seed=100 + r)            # different initial weights per rank
    start = {k: v.copy() for k, v in model.state_dict().items()}
    writes = []
    real_save = training.save_checkpoint
    training.save_checkpoint = lambda *a, **k: writes.append(a[3]) or real_save(*a, **k)
    ckpt, log = os.path.join(folder, "fit.ckpt.npz"), os.path.join(folder, "fit.csv")
    counting = Counting()
    try:
        hist = model.fit(x, y, batch_size=LOCAL, epochs=2, shuffle=False, validation_data=(xv, yv), verbose=2,
                         checkpoint=ckpt, callbacks=[nn.CSVLogger(log), counting], distributed=True)
    finally:
        training.save_checkpoint = real_save
    assert counting.epochs == 2
    everyone = gather_weights(model, "gather fit weights")
    assert np.array_equal(everyone[0], everyone[1]), "ranks' weights differ after fit"
    counts = dist._allgather(np.array([len(writes)]), "gather checkpoint writes")
    assert counts.tolist() == [[2], [0]], f"checkpoint writes per rank {counts.tolist()}"
    with open(log) as f:
        assert len(f.read().strip().splitlines()) == 3, "CSVLogger did not write header + 2 rows once"
    assert len(hist.allreduce_ms) == 2 and all(ms >= 0 for ms in hist.allreduce_ms)
    histories = dist._allgather(np.array([hist.history[k] for k in sorted(hist.history)]), "gather history")
    assert np.array_equal(histories[0], histories[1]), "ranks' histories differ"
    if dist.is_primary():
        ref = fit_model(nn.BatchNorm, seed=0)
        ref.load_state_dict(start)
        order = x.reshape(2, -1, LOCAL, 6).transpose(1, 0, 2, 3).reshape(-1, 6)   # step b: rank 0's, rank 1's
        yorder = y.reshape(2, -1, LOCAL).transpose(1, 0, 2).reshape(-1)
        want_hist = ref.fit(order, yorder, batch_size=2 * LOCAL, epochs=2, shuffle=False, validation_data=(xv, yv),
                            verbose=0)
        want, got = ref.state_dict(), model.state_dict()
        assert set(want) == set(got)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
        for k, v in want_hist.history.items():
            np.testing.assert_allclose(hist.history[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
        assert max(float(np.abs(want[k] - start[k]).max()) for k in want) > 1e-2
    # a DataLoader must be sharded; with shard="auto" the ranks stay identical
    try:
        fit_model().fit(tg.data.DataLoader(x, y, LOCAL, seed=0), distributed=True, verbose=0)
    except ValueError as e:
        assert "shard='auto'" in str(e), e
    else:
        raise AssertionError("an unsharded DataLoader was accepted")
    m = fit_model(seed=r)
    m.fit(tg.data.DataLoader(x, y, LOCAL, shard="auto"), epochs=2, distributed=True, verbose=0)
    w = gather_weights(m, "gather loader weights")
    assert np.array_equal(w[0], w[1])


class StopOnRankOne(nn.Callback):
    def on_batch_end(self, batch, logs=None):
        if dist.rank() == 1 and batch == 1:
            self.model.stop_training = True


def mode_fitresume(folder):
    """Shuffled: 2 epochs + resume to 3 (checkpoint read by every rank) == 3 uninterrupted epochs; a stop_training
    set on rank 1 only stops both ranks at the same step."""
    x, y, xv, yv = fit_data()
    ckpt = os.path.join(folder, "resume.ckpt.npz")
    straight = fit_model(seed=7)
    tg.manual_seed(5)
    straight.fit(x, y, batch_size=LOCAL, epochs=3, validation_data=(xv, yv), verbose=0, distributed=True)
    first = fit_model(seed=7)
    tg.manual_seed(5)
    first.fit(x, y, batch_size=LOCAL, epochs=2, validation_data=(xv, yv), verbose=0, checkpoint=ckpt,
              distributed=True)
    second = fit_model(seed=50 + dist.rank())                 # fresh, different weights per rank
    tg.manual_seed(1000 + dist.rank())                         # and different random states
    hist = second.fit(x, y, batch_size=LOCAL, epochs=3, validation_data=(xv, yv), verbose=2, checkpoint=ckpt,
                      resume=True, distributed=True)
    assert hist.epoch == [0, 1, 2], hist.epoch
    a, b = gather_weights(straight, "gather straight"), gather_weights(second, "gather resumed")
    assert np.array_equal(b[0], b[1]), "ranks differ after resuming"
    np.testing.assert_allclose(b[0], a[0], rtol=1e-6, atol=1e-7)
    stopped = fit_model(seed=3)
    hist = stopped.fit(x, y, batch_size=LOCAL, epochs=3, verbose=0, callbacks=[StopOnRankOne()],
                       distributed=True)
    assert hist.epoch == [0], hist.epoch


class KillRankOne(nn.Callback):
    def on_batch_end(self, batch, logs=None):
        if dist.rank() == 1 and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)


def mode_fitkill():
    x, y, _, _ = fit_data(steps=20)
    fit_model().fit(x, y, batch_size=LOCAL, epochs=50, verbose=0, callbacks=[KillRankOne()], distributed=True)
    time.sleep(60)


if __name__ == "__main__":
    dist.init()
    mode, args = sys.argv[1], sys.argv[2:]
    globals()["mode_" + mode](*args)
    dist.barrier()
    if dist.is_primary():
        print(f"PASS {mode}", flush=True)
