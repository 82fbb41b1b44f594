"""tapegraph.distributed without a launcher: a one-rank world where every collective is a no-op (numpy only),
and the sharding rule of tg.data checked by simulating the ranks in one process."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import distributed as dist
from tapegraph import nn, optim


@pytest.fixture
def fresh(monkeypatch):
    """A clean, un-initialised module state and no launcher variables; restored after the test."""
    for k in dist.LAUNCHER_ENV + ("TAPEGRAPH_DIST_TIMEOUT",):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(dist, "_world", None)
    monkeypatch.setattr(dist, "_reducers", {})
    return dist


def model():
    tg.manual_seed(0)
    return nn.Sequential([nn.Dense(4), nn.BatchNorm(), nn.ReLU(), nn.Dense(2)], input_shape=(3,))


def test_one_rank_world(fresh):
    w = dist.init()
    assert dist.init() is w and dist.is_initialized()
    assert (dist.rank(), dist.size(), dist.is_primary()) == (0, 1, True) and w.comm is None
    dist.barrier()
    assert dist.allreduce(2.5) == 2.5
    np.testing.assert_array_equal(dist.allreduce(np.arange(3), "mean"), np.arange(3))
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    assert dist.average_logs({"loss": 1.0}) == {"loss": 1.0}
    assert isinstance(dist.shared_seed(), int)
    m = model()
    before = m.state_dict()
    assert dist.broadcast_parameters(m) is m
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match="root"):
        dist.broadcast_parameters(m, root=1)


def test_distributed_optimizer_is_the_wrapped_optimizer_alone(fresh):
    a, b = model(), model()
    sa = optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    sb = dist.DistributedOptimizer(optim.SGD(b.parameters(), lr=0.1, momentum=0.9))
    sched = optim.StepLR(sb, step_size=1, gamma=0.5)
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    for m, opt in ((a, sa), (b, sb)):
        for _ in range(3):
            with tg.Tape() as tape:
                loss = (m(x) ** 2).mean()
            tape.backward(loss)
            opt.step()
            opt.zero_grad()
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert q.grad is None
    sched.step()
    assert sb.lr == sb.optimizer.lr == 0.05
    assert dist.broadcast_optimizer_state(sb) is sb and sb.state_dict()["param_groups"][0]["lr"] == 0.05
    assert dist.allreduce_gradients(b.parameters()) == 0.0
    with pytest.raises(TypeError, match="DistributedOptimizer"):
        dist.DistributedOptimizer(object())


def test_gradient_buckets_split_by_size_and_dtype(fresh):
    ps = [tg.tensor(np.zeros(n, dt), requires_grad=True, dtype=dt) for n, dt in
          ((10, np.float32), (10, np.float32), (30, np.float32), (4, np.float64))]
    red = dist.GradientReducer(ps, bucket_bytes=80)
    layout = [([p for p, _ in offs], buf.dtype, buf.size) for buf, offs, _ in red.buckets]
    assert layout == [(ps[:2], np.float32, 22), ([ps[2]], np.float32, 31), ([ps[3]], np.float64, 5)]
    with pytest.raises(ValueError, match="bucket_bytes"):
        dist.GradientReducer(ps, bucket_bytes=0)


def test_primary_only_and_print(fresh, capsys):
    assert dist.primary_only(lambda x: x + 1)(1) == 2
    assert dist.primary_only(barrier_after=False)(lambda: "ok")() == "ok"
    dist.print_primary("hello")
    assert capsys.readouterr().out == "hello\n"


def test_timeout_setting(fresh, monkeypatch):
    monkeypatch.setenv("TAPEGRAPH_DIST_TIMEOUT", "5")
    assert dist.init().timeout == 5.0
    assert dist.init(timeout=0).timeout is None          # 0: wait forever
    with pytest.raises(ValueError, match="timeout"):
        dist.init(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        dist.init(timeout="soon")


def test_launched_without_mpi4py_refuses_to_run_alone(fresh, monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match="distributed"):
        dist.init()


def test_launched_as_one_rank_is_alone(fresh, monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert dist.init().size == 1


@pytest.mark.parametrize("n,size,bs,drop", [(103, 3, 10, False), (100, 4, 7, True), (9, 2, 4, False)])
def test_dataloader_shards_are_disjoint_equal_and_complete(n, size, bs, drop):
    x, y = np.arange(n)[:, None].astype(np.float32), np.arange(n)
    loaders = [tg.data.DataLoader(x, y, bs, seed=7, shard=(r, size), drop_last=drop) for r in range(size)]
    assert len({len(ld) for ld in loaders}) == 1
    for _ in range(2):                                         # two epochs, each a fresh permutation
        epoch = [list(ld) for ld in loaders]
        assert all(len(b) == len(ld) for b, ld in zip(epoch, loaders))
        got = [np.concatenate([yb for _, yb in b]) for b in epoch]
        assert all(len(g) == len(got[0]) for g in got)
        flat = np.concatenate(got)
        assert len(np.unique(flat)) == len(flat)               # disjoint
        if not drop:
            assert len(flat) == n - n % size                    # complete but for the remainder
    np.testing.assert_array_equal(dist.shard_for(10, (1, 3)), [3, 4, 5])
    plain = [np.concatenate([yb for _, yb in tg.data.batches(x, y, bs, shuffle=False, shard=(r, size))])
             for r in range(size)]
    np.testing.assert_array_equal(np.concatenate(plain), np.arange(n - n % size))


def test_shard_argument_errors_and_auto_alone(fresh):
    x, y = np.zeros((10, 1)), np.zeros(10)
    for bad, err in (((2, 2), ValueError), ((0, 0), ValueError), ("all", ValueError), ((0.5, 2), TypeError),
                     (3, TypeError)):
        with pytest.raises(err, match="DataLoader: shard"):
            tg.data.DataLoader(x, y, 2, shard=bad)
    ld = tg.data.DataLoader(x, y, 3, shard="auto")
    assert ld.shard is None and len(ld) == 4
    assert "shard=(1, 2)" in repr(tg.data.DataLoader(x, y, 3, seed=0, shard=(1, 2)))


def test_sync_batchnorm_convert_keeps_parameters():
    m = model()
    before = m.state_dict()
    assert nn.SyncBatchNorm.convert(m) is m and type(m.layers[1]) is nn.SyncBatchNorm
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match="SyncBatchNorm"):
        m.layers[1](np.zeros((4, 5), np.float32))


def test_import_does_not_load_mpi():
    code = "import sys, tapegraph as tg; tg.distributed.size(); assert 'mpi4py' not in sys.modules, 'mpi4py loaded'"
    env = {k: v for k, v in os.environ.items() if k not in dist.LAUNCHER_ENV}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_fit_distributed_alone_trains_exactly_as_fit(fresh, tmp_path):
    """No launcher: fit(distributed=True) is a one-rank world, bit for bit the plain fit (shuffle, BatchNorm,
    validation, checkpoint), and records allreduce_ms (zeros)."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((50, 3)).astype(np.float32), rng.integers(0, 2, 50)
    runs = []
    for distributed in (False, True):
        m = model()
        m.compile(optimizer=optim.SGD(m.parameters(), lr=0.1, momentum=0.9), loss="sparse_categorical_crossentropy",
                  from_logits=True)
        tg.manual_seed(1)
        h = m.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, verbose=0, distributed=distributed,
                  checkpoint=str(tmp_path / f"{distributed}.npz"))
        runs.append((m, h))
    (a, ha), (b, hb) = runs
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v, err_msg=k)
    assert ha.history == hb.history and hb.allreduce_ms == [0.0, 0.0]
    assert type(b.optimizer) is optim.SGD                      # the model keeps the unwrapped optimizer
    assert dist.is_initialized() and dist.size() == 1
