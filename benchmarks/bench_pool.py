"""max_pool2d: tapegraph (argmax of each window cached in forward, scattered in backward) vs a reshape-based
max-pool in plain NumPy vs PyTorch, forward and forward + backward, float32.

    python -m pytest benchmarks/bench_pool.py --benchmark-only --benchmark-group-by=param
"""
import numpy as np
import pytest

import tapegraph as tg

# id -> (input shape, pool, stride)
SHAPES = {
    "b64-32x26x26-2x2s2": ((64, 32, 26, 26), 2, 2),
    "b64-64x11x11-2x2s2": ((64, 64, 11, 11), 2, 2),
    "b64-32x27x27-3x3s2": ((64, 32, 27, 27), 3, 2),
}
PASSES = ("forward", "fwd+bwd")
CASES = [pytest.param(s, p, id=f"{s}-{p}") for s in SHAPES for p in PASSES]


def _data(shape_id):
    shape, k, s = SHAPES[shape_id]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    ho, wo = (shape[2] - k) // s + 1, (shape[3] - k) // s + 1
    return x, rng.standard_normal(shape[:2] + (ho, wo), dtype=np.float32), k, s


def _bench(benchmark, shape_id, pass_, fn, label, impl):
    benchmark.group = f"max_pool2d {shape_id} {pass_}"
    benchmark.extra_info.update(impl=impl, label=label, shape=shape_id, pass_=pass_, batch=SHAPES[shape_id][0][0])
    benchmark(fn)


@pytest.mark.parametrize("shape_id,pass_", CASES)
def test_pool_tapegraph(benchmark, shape_id, pass_):
    x, g, k, s = _data(shape_id)
    tx = tg.tensor(x, requires_grad=True)

    def run():
        with tg.Tape() as tape:
            y = tg.max_pool2d(tx, k, s)
        if pass_ == "fwd+bwd":
            tape.backward(y, g)
    _bench(benchmark, shape_id, pass_, run, "tapegraph argmax-cached", "tapegraph")


@pytest.mark.parametrize("shape_id,pass_", CASES)
def test_pool_numpy_reshape(benchmark, shape_id, pass_):
    """The textbook NumPy max-pool: reshape into windows, max, and a mask of the maxima for the gradient."""
    x, g, k, s = _data(shape_id)
    if k != s:
        pytest.skip("reshape pooling needs non-overlapping windows")
    n, c, h, w = x.shape
    ho, wo = h // k, w // k

    def run():
        xc = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k)
        y = xc.max(axis=(3, 5))
        if pass_ == "fwd+bwd":
            mask = xc == y[:, :, :, None, :, None]
            dx = np.zeros_like(x)
            dx[:, :, :ho * k, :wo * k] = (mask * g[:, :, :, None, :, None]).reshape(n, c, ho * k, wo * k)
    _bench(benchmark, shape_id, pass_, run, "numpy reshape", "numpy")


@pytest.mark.parametrize("shape_id,pass_", CASES)
def test_pool_torch(benchmark, torch, shape_id, pass_):
    x, g, k, s = _data(shape_id)
    tx = torch.from_numpy(x).requires_grad_(True)
    tgrad = torch.from_numpy(g)

    def run():
        y = torch.nn.functional.max_pool2d(tx, k, s)
        if pass_ == "fwd+bwd":
            torch.autograd.grad(y, tx, tgrad)
    _bench(benchmark, shape_id, pass_, run, "torch", "torch")
