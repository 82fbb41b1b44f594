"""Long runs: flat memory over hundreds of steps, no reference cycles keeping tapes alive, bit-identical reruns."""
import functools
import gc
import tracemalloc
import weakref

import numpy as np

import tapegraph as tg
from tapegraph import losses, nn, optim


def small_cnn():
    return nn.Sequential([nn.Conv2D(4, 3, padding="same"), nn.BatchNorm(), nn.ReLU(), nn.MaxPool2D(2),
                          nn.Flatten(), nn.Dropout(0.2), nn.Dense(3)], input_shape=(1, 8, 8))


def _fill_tuple_free_lists():
    """Fill CPython's free lists of small tuples (2,000 per length; tracemalloc counts a free-listed tuple as
    held), which steps would otherwise fill over a few thousand steps: nodes hold their ops' argument tuples."""
    junk = [tuple(range(i, i + k)) for k in range(1, 8) for i in range(2100)]
    del junk


def test_memory_stays_flat_and_tapes_die_without_the_cycle_collector():
    tg.manual_seed(0)
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    tapes = []

    def step():
        with tg.Tape() as tape:
            loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()
        return tape

    gc.disable()
    tracemalloc.start()
    try:
        # Warm-up: optimizer buffers, caches, and Python's own free lists (which tracemalloc counts as held until
        # they are full: ~300 KB over the first ~1,000 steps here, then flat).
        for _ in range(1200):
            step()
        _fill_tuple_free_lists()
        base, _ = tracemalloc.get_traced_memory()
        for i in range(300):
            tape = step()
            if i % 50 == 0:
                tapes.append(weakref.ref(tape))
        del tape
        end, _ = tracemalloc.get_traced_memory()
        assert all(t() is None for t in tapes), "a tape outlived its step: something holds it or a cycle does"
    finally:
        tracemalloc.stop()
        gc.enable()
    assert end - base < 16 * 1024, f"retained memory grew by {end - base} bytes over 300 steps"


def test_same_seed_gives_bit_identical_weights():
    from examples.mnist import build_model

    (x, y), _ = tg.data.load_mnist(dtype="float32")
    x, y = x[:256], y[:256]

    def train():
        tg.manual_seed(7)
        model = build_model()
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        model.fit(x, y, loss=functools.partial(losses.categorical_crossentropy, from_logits=True), optimizer=opt,
                  epochs=1, batch_size=64, verbose=0)
        return model.state_dict()

    a, b = train(), train()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    tg.manual_seed(8)
    c = build_model().state_dict()
    assert any(not np.array_equal(a[k], c[k]) for k in a if k.endswith("weight"))
