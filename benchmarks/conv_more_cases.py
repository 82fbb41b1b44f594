"""Shapes shared by bench_conv_more.py and torch_conv_more.py (float32, no bias, forward + both gradients)."""
import numpy as np

# id -> op, input shape, weight shape, keyword arguments (PyTorch's names, which tapegraph's ops share)
CASES = {
    "depthwise3x3-b32-32x56x56": dict(op="conv2d", x=(32, 32, 56, 56), w=(32, 1, 3, 3),
                                      kwargs=dict(padding=1, groups=32)),
    "grouped4-b32-64x28x28-64-k3": dict(op="conv2d", x=(32, 64, 28, 28), w=(64, 16, 3, 3),
                                        kwargs=dict(padding=1, groups=4)),
    "transpose-b32-64x16x16-32-k2s2": dict(op="conv_transpose2d", x=(32, 64, 16, 16), w=(64, 32, 2, 2),
                                           kwargs=dict(stride=2)),
    "transpose-b32-64x16x16-32-k4s2p1": dict(op="conv_transpose2d", x=(32, 64, 16, 16), w=(64, 32, 4, 4),
                                             kwargs=dict(stride=2, padding=1)),
    "conv1d-b32-64xL1000-64-k5": dict(op="conv1d", x=(32, 64, 1000), w=(64, 64, 5), kwargs=dict(padding=2)),
}


def out_shape(cid):
    spec = CASES[cid]
    x, w, kw = spec["x"], spec["w"], spec["kwargs"]
    s, p = kw.get("stride", 1), kw.get("padding", 0)
    if spec["op"] == "conv_transpose2d":
        return (x[0], w[1] * kw.get("groups", 1)) + tuple((n - 1) * s - 2 * p + k for n, k in zip(x[2:], w[2:]))
    return (x[0], w[0]) + tuple((n + 2 * p - k) // s + 1 for n, k in zip(x[2:], w[2:]))


def data(cid):
    """x, weight and an upstream gradient, float32, seeded."""
    spec = CASES[cid]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec["x"], dtype=np.float32)
    w = rng.standard_normal(spec["w"], dtype=np.float32) * np.float32(np.prod(spec["w"][1:]) ** -0.5)
    g = rng.standard_normal(out_shape(cid), dtype=np.float32)
    return x, w, g
