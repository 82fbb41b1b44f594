"""Tape overhead per op (plain NumPy, ops without a tape, recorded + backward, the same profiled) and the cost of
reading a 3,000-op tape (DOT source collapsed and full, JSON export, profile table).

    python -m pytest benchmarks/bench_tape.py --benchmark-only --benchmark-group-by=group

Each chain is ``N_OPS`` multiplications of a 16-element float32 array: divide a time by ``extra_info["ops"]`` for
the cost per op.
"""
import io

import numpy as np
import pytest

import tapegraph as tg
from tapegraph.tape import scope

N_OPS = 1000


def _leaf():
    return tg.tensor(np.ones(16, dtype=np.float32), requires_grad=True)


def _chain(x):
    for _ in range(N_OPS):
        x = x * 1.0001
    return x


def _bench(benchmark, fn, label):
    benchmark.group = f"tape overhead, chain of {N_OPS} mul ops on float32[16]"
    benchmark.extra_info.update(label=label, ops=N_OPS)
    benchmark.pedantic(fn, rounds=20, warmup_rounds=2)


def test_numpy_only(benchmark):
    a = np.ones(16, dtype=np.float32)
    c = np.float32(1.0001)

    def run():
        y = a
        for _ in range(N_OPS):
            y = y * c
        return y

    _bench(benchmark, run, "numpy, no graph")


class _BareTensor:
    __slots__ = ("data", "requires_grad")

    def __init__(self, data, requires_grad=False):
        self.data, self.requires_grad = data, requires_grad


def test_bare_python_autograd(benchmark):
    """For scale: the least a define-by-run tape in Python does per op (a result object, one record appended,
    one backward call and a gradient dict entry per input in the walk), with no mutation guard, no graph kept after
    backward, no dtype or shape checks, no profile or hooks. tapegraph's Tape() does all of those."""
    x, c = _BareTensor(np.ones(16, dtype=np.float32), True), _BareTensor(np.float32(1.0001))
    tape = []

    def mul(a, b):
        out = _BareTensor(a.data * b.data, a.requires_grad or b.requires_grad)
        if out.requires_grad:
            tape.append((a, b, out))
        return out

    def run():
        y = x
        for _ in range(N_OPS):
            y = mul(y, c)
        grads = {id(y): np.ones_like(y.data)}
        for a, b, out in reversed(tape):
            g = grads.pop(id(out), None)
            if g is None:
                continue
            for t, other in ((a, b), (b, a)):
                if t.requires_grad:
                    gi, prev = g * other.data, grads.get(id(t))
                    grads[id(t)] = gi if prev is None else prev + gi
        tape.clear()
        return grads[id(x)]

    _bench(benchmark, run, "bare Python autograd (no guard, no kept graph, no checks)")


def test_ops_without_tape(benchmark):
    x = _leaf()
    _bench(benchmark, lambda: _chain(x), "tapegraph ops, no tape")


def test_tape_forward_backward(benchmark):
    x = _leaf()

    def run():
        with tg.Tape() as tape:
            y = _chain(x).sum()
        tape.backward(y)

    _bench(benchmark, run, "Tape(): record + backward")


def test_tape_profiled_forward_backward(benchmark):
    x = _leaf()

    def run():
        with tg.Tape(profile=True) as tape:
            y = _chain(x).sum()
        tape.backward(y)

    _bench(benchmark, run, "Tape(profile=True): record + backward")


@pytest.fixture(scope="module")
def big_tape():
    """3,000 recorded ops in 600 scoped layers, profiled, persistent."""
    rng = np.random.default_rng(0)
    h = tg.tensor(rng.standard_normal((2, 4), dtype=np.float32), name="x")
    ws = [tg.tensor(rng.standard_normal((4, 4), dtype=np.float32), requires_grad=True, name=f"layers.{i}.weight")
          for i in range(600)]
    with tg.Tape(profile=True, persistent=True) as tape:
        for i, w in enumerate(ws):
            with scope("layers"), scope(str(i)):
                h = tg.tanh(tg.tanh(tg.tanh(h @ w))) * 0.5
        loss = h.sum()
    tape.backward(loss)
    return tape


@pytest.mark.parametrize("what", ["dot collapsed", "dot full", "dot full + backward", "json", "summary"])
def test_reading_a_3000_op_tape(benchmark, big_tape, what):
    fn = {
        "dot collapsed": lambda: big_tape.to_dot(collapse=True).source,
        "dot full": lambda: big_tape.to_dot().source,
        "dot full + backward": lambda: big_tape.to_dot(backward=True).source,
        "json": big_tape.to_json,
        "summary": lambda: big_tape.summary(file=io.StringIO()),
    }[what]
    benchmark.group = f"reading a {len(big_tape)}-op tape"
    benchmark.extra_info.update(label=what, ops=len(big_tape))
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
