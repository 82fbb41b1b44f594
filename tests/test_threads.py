"""tapegraph.threads: blocked loops cover every index once, on several threads when asked, and raise errors."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import buffers, threads


@pytest.fixture
def two_threads_small_blocks(monkeypatch):
    monkeypatch.setattr(threads, "THREADS", 2)
    monkeypatch.setattr(threads, "BLOCK_ELEMS", 8)
    monkeypatch.setattr(threads, "MIN_PARALLEL_ELEMS", 0)


def test_for_blocks_covers_each_index_once(two_threads_small_blocks):
    seen = np.zeros(37, dtype=np.int64)
    names = set()

    def fn(lo, hi):
        import threading
        names.add(threading.current_thread().name)
        seen[lo:hi] += 1
    threads.for_blocks(fn, 37, per_item=3)
    assert (seen == 1).all()
    assert len(names) == 2                                    # the caller and one pool thread


def test_default_block_size_still_uses_every_thread(monkeypatch):
    """Without cache blocking (the default BLOCK_ELEMS) a large pass is still one span per thread: a regression
    once ran every pass on the calling thread alone."""
    import threading
    monkeypatch.setattr(threads, "THREADS", 2)
    names, spans = set(), []

    def fn(lo, hi):
        names.add(threading.current_thread().name)
        spans.append((lo, hi))
    threads.for_blocks(fn, 64, per_item=threads.MIN_PARALLEL_ELEMS)
    assert sorted(spans) == [(0, 32), (32, 64)]
    assert len(names) == 2


def test_for_blocks_reraises(two_threads_small_blocks):
    def fn(lo, hi):
        if lo > 10:
            raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        threads.for_blocks(fn, 40, per_item=4)


def test_map_blocks_splits_along_the_outermost_memory_axis(two_threads_small_blocks):
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(3, 2, 4, 5).transpose(1, 0, 2, 3)   # C-major memory
    out = np.empty((3, 2, 4, 5), np.float32).transpose(1, 0, 2, 3)
    shapes = []

    def fn(src, dst):
        shapes.append(src.shape)
        np.multiply(src, 2, out=dst)
    threads.map_blocks(fn, a, out)
    np.testing.assert_array_equal(out, 2 * a)
    assert all(s[1:] == (2, 4, 5) for s in shapes)            # blocks of the (C, N, H, W) view: split over C
    assert threads.memory_order(a) == (1, 0, 2, 3)


def test_ops_agree_on_one_and_two_threads(monkeypatch):
    """The threaded passes (pooling, activations, col2im, batch_norm's channel blocks) give the same numbers as the
    single-thread run."""
    monkeypatch.setattr(threads, "BLOCK_ELEMS", 256)
    monkeypatch.setattr(threads, "MIN_PARALLEL_ELEMS", 0)
    monkeypatch.setattr(buffers, "MIN_BYTES", 0)             # small arrays take the pooled, blocked paths too
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 12, 12)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)

    gamma, beta = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)

    def run():
        xt, wt = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
        gt, bt = tg.tensor(gamma, requires_grad=True), tg.tensor(beta, requires_grad=True)
        with tg.Tape() as tape:
            y = tg.conv2d(xt, wt, padding=1)
            y = tg.max_pool2d(tg.relu(y), 2) + tg.avg_pool2d(tg.sigmoid(y), 2)
            y = tg.batch_norm(y, gt, bt) * y - y
            loss = (y * y).sum()
        tape.backward(loss)
        return y.data, xt.grad, wt.grad, gt.grad, bt.grad

    results = []
    for n in (1, 2):
        monkeypatch.setattr(threads, "THREADS", n)
        results.append(run())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
