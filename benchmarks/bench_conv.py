"""conv2d per shape, per pass (forward, input gradient, weight gradient, forward + both gradients) and per method
(tapegraph's "sliding", "sliding" with the FFT weight gradient, "im2col", full "fft" and "auto"; PyTorch's autograd
conv2d where installed).

    python -m pytest benchmarks/bench_conv.py --benchmark-only --benchmark-group-by=param

Each group is one shape and pass; its rows are the methods. float32 throughout, no bias.
"""
import numpy as np
import pytest

import tapegraph as tg

# id -> (N, C, H, W, F, K, padding)
SHAPES = {
    "b64-1x28x28-32-k3": (64, 1, 28, 28, 32, 3, 0),
    "b64-32x13x13-64-k3": (64, 32, 13, 13, 64, 3, 0),
    "b64-3x32x32-64-k3-pad1": (64, 3, 32, 32, 64, 3, 1),
    "b64-64x16x16-128-k3-pad1": (64, 64, 16, 16, 128, 3, 1),
    "b16-16x64x64-32-k7": (16, 16, 64, 64, 32, 7, 0),
    "b16-16x64x64-32-k11": (16, 16, 64, 64, 32, 11, 0),
}
PASSES = ("forward", "input_grad", "weight_grad", "fwd+both")
CASES = [pytest.param(s, p, id=f"{s}-{p}") for s in SHAPES for p in PASSES]


def _data(shape_id):
    n, c, h, w, f, k, pad = SHAPES[shape_id]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((f, c, k, k), dtype=np.float32) * np.float32((c * k * k) ** -0.5)
    ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    g = rng.standard_normal((n, f, ho, wo), dtype=np.float32)
    return x, wt, g, pad


def _tapegraph_fn(shape_id, pass_, algorithm, weight_grad=None):
    x, w, g, pad = _data(shape_id)
    tx = tg.tensor(x, requires_grad=pass_ != "weight_grad")
    tw = tg.tensor(w, requires_grad=pass_ != "input_grad")
    conv = lambda: tg.conv2d(tx, tw, padding=pad, algorithm=algorithm, weight_grad=weight_grad)  # noqa: E731
    if pass_ == "forward":
        def run():
            with tg.Tape():
                conv()
    elif pass_ == "fwd+both":
        def run():
            with tg.Tape() as tape:
                y = conv()
            tape.backward(y, g)
    else:
        with tg.Tape(persistent=True) as tape:
            y = conv()
        src = tx if pass_ == "input_grad" else tw

        def run():
            tape.gradient(y, src, output_gradients=g)
    return run


def _bench(benchmark, shape_id, pass_, fn, label, impl="tapegraph"):
    benchmark.group = f"conv2d {shape_id} {pass_}"
    benchmark.extra_info.update(impl=impl, label=label, shape=shape_id, pass_=pass_, batch=SHAPES[shape_id][0])
    benchmark(fn)


def _make(algorithm, weight_grad=None):
    label = algorithm + (f"+{weight_grad}-dW" if weight_grad else "")

    @pytest.mark.parametrize("shape_id,pass_", CASES)
    def bench(benchmark, shape_id, pass_):
        fn = _tapegraph_fn(shape_id, pass_, algorithm, weight_grad)
        _bench(benchmark, shape_id, pass_, fn, label)
        if algorithm == "auto":
            with tg.Tape() as tape:
                fn_x, fn_w, _, pad = _data(shape_id)
                tg.conv2d(tg.tensor(fn_x, requires_grad=True), fn_w, padding=pad)
            benchmark.extra_info["chosen"] = f"{tape[0].attrs['algorithm']}/{tape[0].attrs['weight_grad']}"
    bench.__name__ = f"test_conv_{label.replace('+', '_').replace('-', '_')}"
    return bench


test_conv_sliding = _make("sliding")
test_conv_sliding_fft_dW = _make("sliding", "fft")
test_conv_im2col = _make("im2col")
test_conv_fft = _make("fft")
test_conv_auto = _make("auto")


@pytest.mark.parametrize("shape_id,pass_", CASES)
def test_conv_torch(benchmark, torch, shape_id, pass_):
    x, w, g, pad = _data(shape_id)
    tx = torch.from_numpy(x).requires_grad_(pass_ != "weight_grad")
    tw = torch.from_numpy(w).requires_grad_(pass_ != "input_grad")
    tgrad = torch.from_numpy(g)
    conv = lambda: torch.nn.functional.conv2d(tx, tw, padding=pad)          # noqa: E731
    if pass_ == "forward":
        run = conv
    elif pass_ == "fwd+both":
        def run():
            torch.autograd.grad(conv(), (tx, tw), tgrad)
    else:
        y = conv()
        src = tx if pass_ == "input_grad" else tw

        def run():
            torch.autograd.grad(y, src, tgrad, retain_graph=True)
    _bench(benchmark, shape_id, pass_, run, "torch", impl="torch")


SCIPY_SHAPES = ["b64-1x28x28-32-k3", "b64-32x13x13-64-k3"]


@pytest.mark.parametrize("shape_id", SCIPY_SHAPES)
@pytest.mark.parametrize("method", ["correlate", "fftconvolve"])
def test_conv_scipy_signal(benchmark, shape_id, method):
    """The textbook reference: scipy.signal per (image, filter, channel), summed. Forward only; it is 100-1000x
    slower than a layer can afford, which is the point of measuring it."""
    signal = pytest.importorskip("scipy.signal")
    x, w, _, pad = _data(shape_id)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if method == "correlate":
        one = lambda a, k: signal.correlate(a, k, mode="valid")                     # noqa: E731
    else:
        one = lambda a, k: signal.fftconvolve(a, k[::-1, ::-1], mode="valid")       # noqa: E731

    def run():
        return np.stack([np.stack([sum(one(xp[n, c], w[f, c]) for c in range(x.shape[1]))
                                   for f in range(w.shape[0])]) for n in range(x.shape[0])])

    benchmark.group = f"conv2d {shape_id} forward"
    benchmark.extra_info.update(impl="scipy", label=f"scipy.signal.{method}", shape=shape_id, pass_="forward",
                                batch=SHAPES[shape_id][0])
    benchmark.pedantic(run, rounds=1, iterations=1)
