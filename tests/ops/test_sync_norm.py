"""sync_batch_norm in a one-rank world: gradient checks, and equal to training-mode batch_norm in values,
gradients and reported statistics (the multi-rank equivalence is proved in tests/distributed)."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph.ops.sync_norm import sync_batch_norm
from tests.ops.cases import Case, params, rand, run_case

R = rand

GRAD_CASES = {
    "sync_batch_norm": [
        Case(lambda x, g, b: sync_batch_norm(x, g, b), [R(5, 4), R(4, seed=1), R(4, seed=2)], "2d"),
        Case(lambda x, g, b: sync_batch_norm(x, g, b, epsilon=1e-5), [R(3, 2, 3, 2), R(2, seed=1), R(2, seed=2)],
             "4d"),
        Case(lambda x: sync_batch_norm(x, np.ones(4), np.zeros(4)) * rand(6, 4, seed=3), [R(6, 4)], "x-only"),
    ],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradient(op, case):
    run_case(op, case)


@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 5, 2)])
def test_matches_batch_norm_alone(shape):
    x = rand(*shape, seed=5) * 3 + 7
    up = rand(*shape, seed=6)
    out = []
    for fn in (tg.batch_norm, sync_batch_norm):
        xs = [tg.tensor(a, requires_grad=True, dtype=np.float64) for a in (x, rand(3, seed=1), rand(3, seed=2))]
        stats = {}
        with tg.Tape() as tape:
            y = fn(*xs, 1e-3, batch_stats=stats)
        tape.backward(y, up)
        out.append((y.data, [t.grad for t in xs], stats))
    (y0, g0, s0), (y1, g1, s1) = out
    np.testing.assert_allclose(y1, y0, rtol=1e-10, atol=1e-12)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s1["mean"], s0["mean"], rtol=1e-12)
    np.testing.assert_allclose(s1["var"], s0["var"], rtol=1e-10)
    assert s1["count"] == s0["count"]


def test_bad_input_names_the_op():
    with pytest.raises(ValueError, match="sync_batch_norm.*gamma"):
        sync_batch_norm(np.zeros((4, 3)), np.ones(2), np.zeros(3))
    with pytest.raises(ValueError, match="sync_batch_norm.*more than one value"):
        sync_batch_norm(np.zeros((1, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="sync_batch_norm.*\\(N, F\\)"):
        sync_batch_norm(np.zeros((4, 3, 2)), np.ones(3), np.zeros(3))
