"""Issue 13: each thread draws from its own generator, derived from manual_seed's seed and the thread's name, so
two threads training two models get the same weights on every run whatever the scheduling."""
import threading

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn


def _init_weights(out, key):
    model = nn.Sequential([nn.Dense(8), nn.Dense(3)])
    model(tg.tensor(np.ones((1, 5), np.float32)))
    out[key] = [p.data.copy() for p in model.parameters()]


def _run(order):
    tg.manual_seed(0)
    out = {}
    for name in order:                       # one after the other: a shared generator would hand the second
        t = threading.Thread(target=_init_weights, args=(out, name), name=name)   # thread the later draws
        t.start()
        t.join()
    return out


def test_threads_get_their_own_deterministic_streams():
    a = _run(["worker-a", "worker-b"])
    b = _run(["worker-b", "worker-a"])
    for name in ("worker-a", "worker-b"):
        for x, y in zip(a[name], b[name]):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a["worker-a"][0], a["worker-b"][0])


def test_concurrent_threads_are_reproducible():
    def run():
        tg.manual_seed(1)
        out = {}
        threads = [threading.Thread(target=lambda k=k: [_init_weights(out, (k, i)) for i in range(20)],
                                    name=f"w{k}") for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out
    a, b = run(), run()
    for key in a:
        for x, y in zip(a[key], b[key]):
            np.testing.assert_array_equal(x, y)


def test_main_thread_stream_is_unchanged_and_seed_is_checked():
    tg.manual_seed(3)
    x = tg.random.get_rng().standard_normal(4)
    np.testing.assert_array_equal(x, np.random.default_rng(3).standard_normal(4))
    for bad in ("abc", -1, 1.5, True, None):
        with pytest.raises(TypeError, match="^manual_seed: seed must be a non-negative int"):
            tg.manual_seed(bad)
