"""tapegraph.buffers: pooled arrays are handed out again only when nobody reaches them, and the ops that use the
pool give the same values and gradients through it (MIN_BYTES lowered to 0 so small test arrays take that path)."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import buffers, losses, nn
from tests.ops.cases import run_case
from tests.ops.test_registry import all_cases

POOLED_OPS = ("relu", "sigmoid", "max_pool2d", "avg_pool2d", "conv2d", "conv1d", "conv_transpose2d", "batch_norm")
BIG = (1 << 16,)                     # 256 KB of float32: above MIN_BYTES


@pytest.fixture
def pool_everything(monkeypatch):
    monkeypatch.setattr(buffers, "MIN_BYTES", 0)
    monkeypatch.setattr(buffers, "enabled", True)
    buffers.clear()
    yield
    buffers.clear()


def _addr(a):
    return a.__array_interface__["data"][0]


def test_a_free_block_is_reused_and_a_held_one_is_not(monkeypatch):
    monkeypatch.setattr(buffers, "SLACK", 2)
    buffers.clear()
    a = buffers.empty(BIG, np.float32)
    first = _addr(a)
    del a
    b = buffers.empty(BIG, np.float32)
    assert _addr(b) == first                          # nobody held it: the same memory again
    view = b[::2]
    del b
    c = buffers.empty(BIG, np.float32)
    assert _addr(c) != first                          # a view keeps its block busy
    assert not np.shares_memory(c, view)
    del view
    d = buffers.empty((BIG[0] // 2,), np.float64)     # same bytes, another shape and dtype: the free block
    assert _addr(d) == first and d.dtype == np.float64 and d.shape == (BIG[0] // 2,)
    e = buffers.empty((BIG[0] // 4,), np.float32)     # a quarter of the block: too small for it (SLACK), fresh
    assert _addr(e) not in (first, _addr(c), _addr(d))
    buffers.clear()


def test_small_arrays_disabled_pool_and_cap_bypass_the_pool(monkeypatch):
    buffers.clear()
    assert buffers.stats()["blocks"] == 0
    small = buffers.empty((4,), np.float32)
    assert buffers.stats()["blocks"] == 0 and small.shape == (4,)
    monkeypatch.setattr(buffers, "MAX_BYTES", 2 * BIG[0] * 4)
    held = [buffers.empty(BIG) for _ in range(3)]
    assert buffers.stats() == {"blocks": 2, "bytes": 2 * BIG[0] * 4} and len({_addr(h) for h in held}) == 3
    monkeypatch.setattr(buffers, "enabled", False)
    del held
    e1, e2 = buffers.empty(BIG), buffers.empty(BIG)
    assert buffers.stats()["blocks"] == 2 and not np.shares_memory(e1, e2)
    buffers.clear()
    assert buffers.stats() == {"blocks": 0, "bytes": 0}


def test_zeros_and_memory_order():
    buffers.clear()
    a = buffers.empty(BIG)
    a.fill(7)
    del a
    z = buffers.zeros(BIG)
    assert not z.any() and z.flags.c_contiguous and z.flags.writeable  # a reused block is cleared by zeros()
    like = np.empty((3, 2, 5, 7), np.float32).transpose(1, 0, 2, 3)      # (N, C, H, W) over (C, N, H, W)
    out = buffers.empty_in_order_of(like, (2, 3, 6, 8), np.float32)
    assert out.shape == (2, 3, 6, 8) and out.transpose(1, 0, 2, 3).flags.c_contiguous
    buffers.clear()


@pytest.mark.parametrize("op", POOLED_OPS)
def test_gradients_through_the_pool(pool_everything, op):
    cases = all_cases()[op]
    for case in cases:
        run_case(op, case)


def _cnn_grads(steps):
    tg.manual_seed(0)
    model = nn.Sequential([nn.Conv2D(4, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Conv2D(6, 3), nn.Sigmoid(),
                           nn.AvgPool2D(2), nn.BatchNorm(), nn.Flatten(), nn.Dense(3)], input_shape=(2, 14, 14))
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 2, 14, 14)).astype(np.float32), rng.integers(0, 3, 5)
    out = []
    for _ in range(steps):
        with tg.Tape() as tape:
            loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
        tape.backward(loss)
        out.append([p.grad.copy() for p in model.parameters()] + [loss.data.copy()])
        model.zero_grad()
    return out


def test_repeated_steps_match_unpooled(pool_everything, monkeypatch):
    pooled = _cnn_grads(3)
    assert buffers.stats()["blocks"] > 0
    monkeypatch.setattr(buffers, "enabled", False)
    plain = _cnn_grads(3)
    for step_p, step_q in zip(pooled, plain):
        for a, b in zip(step_p, step_q):
            np.testing.assert_array_equal(a, b)
