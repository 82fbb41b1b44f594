"""interpolate (nearest, nearest-exact, bilinear +- align_corners), pad (constant/reflect/edge, negative widths
crop), flatten: gradient checks, values against explicit loops, bad input. PyTorch parity in
tests/test_torch_parity_poolnorm.py."""
import numpy as np
import pytest

import tapegraph as tg
from tests.ops.cases import Case, params, rand, run_case

GRAD_CASES = {
    "interpolate": [
        Case(lambda x: tg.interpolate(x, scale_factor=2), [rand(2, 2, 3, 4)], "nearest-x2"),
        Case(lambda x: tg.interpolate(x, size=(5, 3)), [rand(1, 2, 7, 6)], "nearest-down"),
        Case(lambda x: tg.interpolate(x, size=(7, 5), mode="nearest-exact"), [rand(1, 2, 3, 4)], "nearest-exact"),
        Case(lambda x: tg.interpolate(x, scale_factor=(2, 1.5), mode="bilinear"), [rand(2, 1, 3, 4)], "bilinear"),
        Case(lambda x: tg.interpolate(x, size=(6, 7), mode="bilinear", align_corners=True), [rand(1, 2, 4, 3)],
             "bilinear-align"),
        Case(lambda x: tg.interpolate(x, size=(3, 2), mode="bilinear"), [rand(1, 2, 7, 5)], "bilinear-down"),
    ],
    "pad": [
        Case(lambda x: tg.pad(x, ((1, 2), (0, 3)), "reflect"), [rand(4, 5)], "reflect"),
        Case(lambda x: tg.pad(x, ((0, 0), (2, 1), (1, 0)), "edge"), [rand(2, 3, 2)], "edge"),
        Case(lambda x: tg.pad(x, ((1, -2), (-1, 2)), value=1.5), [rand(4, 5)], "crop-constant"),
        Case(lambda x: tg.pad(x, ((-1, 2), (0, -1)), "reflect"), [rand(4, 5)], "crop-reflect"),
        Case(lambda x: tg.pad(x, (5, 4), "reflect"), [rand(3)], "reflect-wider-than-axis"),
    ],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradcheck(op, case):
    run_case(op, case)


def loop_interp(x, out, mode, align):
    """Reference by looping over output pixels (PyTorch's formulas, size given)."""
    n, c, h, w = x.shape
    y = np.zeros((n, c) + out)
    for a in range(out[0]):
        for b in range(out[1]):
            if mode == "nearest":
                y[:, :, a, b] = x[:, :, min(int(np.floor(np.float32(a) * np.float32(h / out[0]))), h - 1),
                                  min(int(np.floor(np.float32(b) * np.float32(w / out[1]))), w - 1)]
                continue
            src = []
            for d, size, o in ((a, h, out[0]), (b, w, out[1])):
                if align:
                    s = d * (size - 1) / (o - 1) if o > 1 else 0.0
                else:
                    s = max((d + .5) * size / o - .5, 0)
                i0 = min(int(s), size - 1)
                src.append((i0, min(i0 + 1, size - 1), s - i0))
            (r0, r1, lr), (c0, c1, lc) = src
            y[:, :, a, b] = ((1 - lr) * ((1 - lc) * x[:, :, r0, c0] + lc * x[:, :, r0, c1])
                             + lr * ((1 - lc) * x[:, :, r1, c0] + lc * x[:, :, r1, c1]))
    return y


@pytest.mark.parametrize("out", [(8, 6), (3, 2), (5, 5), (1, 1)])
@pytest.mark.parametrize("mode,align", [("nearest", False), ("bilinear", False), ("bilinear", True)])
def test_interpolate_matches_a_loop(out, mode, align):
    x = rand(2, 3, 4, 3)
    y = tg.interpolate(x, size=out, mode=mode, align_corners=align)
    np.testing.assert_allclose(y.data, loop_interp(x, out, mode, align), rtol=1e-12, atol=1e-12)
    y32 = tg.interpolate(x.astype(np.float32), size=out, mode=mode, align_corners=align)
    assert y32.dtype == np.float32


def test_nearest_scale_factor_repeats_and_its_gradient_sums():
    x = tg.tensor(rand(1, 1, 2, 3), requires_grad=True, dtype=np.float64)
    with tg.Tape() as tape:
        y = tg.interpolate(x, scale_factor=(2, 3))
    np.testing.assert_array_equal(y.data, np.repeat(np.repeat(x.data, 2, 2), 3, 3))
    tape.backward(y, np.ones(y.shape))
    np.testing.assert_array_equal(x.grad, np.full(x.shape, 6.0))
    assert [n.op.name for n in tape] == ["interpolate"]


def test_pad_modes_match_numpy_and_negative_widths_crop():
    x = rand(3, 4)
    for mode in ("constant", "reflect", "edge"):
        np.testing.assert_array_equal(tg.pad(x, ((1, 2), (3, 1)), mode).data, np.pad(x, ((1, 2), (3, 1)), mode))
    np.testing.assert_array_equal(tg.pad(x, 2, value=7).data, np.pad(x, 2, constant_values=7))
    np.testing.assert_array_equal(tg.pad(x, ((-1, 0), (1, -3))).data, np.pad(x[1:, :1], ((0, 0), (1, 0))))
    assert tg.pad(x, ((-3, 0), (0, 0))).shape == (0, 4)
    ints = np.arange(6).reshape(2, 3)
    assert tg.pad(ints, 1).dtype == ints.dtype


X = np.zeros((2, 3, 4, 5))


@pytest.mark.parametrize("call,kind,words", [
    (lambda: tg.pad(X, 1.5), TypeError, ["pad", "pad_width must be integers", "1.5", "(2, 3, 4, 5)"]),
    (lambda: tg.pad(X, True), TypeError, ["pad", "pad_width", "True"]),
    (lambda: tg.pad(X, ((0, 0), (0, 0), (1, 1), (True, 0))), TypeError, ["pad", "pad_width"]),
    (lambda: tg.pad(X, ((0, 0), (0, 0), (-3, -2), (0, 0))), ValueError,
     ["pad", "pad_width [-3, -2] on axis 2 crops more than its 4 cells", "(2, 3, 4, 5)"]),
    (lambda: tg.pad(X, ((1, 1), (1, 1), (1, 1))), ValueError, ["pad", "does not fit x of shape (2, 3, 4, 5)"]),
    (lambda: tg.pad(X, 1, mode="wrap"), ValueError, ["pad", "mode", "'wrap'"]),
    (lambda: tg.pad(X, 1, mode="edge", value=2), ValueError, ["pad", "value=2 only applies"]),
    (lambda: tg.pad(X, ((0, 0), (0, 0), (-4, 1), (0, 0)), "reflect"), ValueError, ["pad", "axis 2 of size 0"]),
    (lambda: tg.interpolate(X, scale_factor=2, size=3), ValueError, ["interpolate", "exactly one"]),
    (lambda: tg.interpolate(X, size=(0, 2)), ValueError, ["interpolate", "size must be > 0"]),
    (lambda: tg.interpolate(X, size=2.5), TypeError, ["interpolate", "size must be an int"]),
    (lambda: tg.interpolate(X, scale_factor=0.1), ValueError, ["interpolate", "empty output"]),
    (lambda: tg.interpolate(X, size=3, mode="bicubic"), ValueError, ["interpolate", "mode", "'bicubic'"]),
    (lambda: tg.interpolate(X, size=3, align_corners=True), ValueError, ["interpolate", "align_corners"]),
    (lambda: tg.interpolate(X[0], size=3), ValueError, ["interpolate", "4-D", "(3, 4, 5)"]),
    (lambda: tg.flatten(X, 3, 1), ValueError, ["flatten", "start_axis 3 comes after end_axis 1"]),
    (lambda: tg.flatten(X, 0, 4), ValueError, ["flatten", "end_axis 4 is out of range"]),
    (lambda: tg.flatten(X, 1.0), TypeError, ["flatten", "start_axis must be an int"]),
])
def test_bad_input(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    for w in words:
        assert w in str(info.value), str(info.value)


def test_flatten_axes_and_tensor_method_defaults():
    x = tg.tensor(rand(2, 3, 4, 5))
    assert tg.flatten(x).shape == (2, 60)                         # keeps the batch axis (Keras' Flatten)
    assert tg.flatten(x, 1, 2).shape == (2, 12, 5)
    assert tg.flatten(x, -2).shape == (2, 3, 20)
    assert tg.flatten(x, 0, 0).shape == (2, 3, 4, 5)
    assert x.flatten().shape == (120,)                            # NumPy's ndarray.flatten / torch's Tensor.flatten
    assert x.flatten(1).shape == (2, 60) and x.flatten(1, -2).shape == (2, 12, 5)


@pytest.mark.parametrize("size", [(2 ** 30, 2 ** 30), (2 ** 20, 2 ** 20)])    # 4 EiB, 4 TiB
def test_an_output_larger_than_the_machine_is_refused_before_allocating(size):
    # NumPy reserves such arrays lazily and the kernel kills the process while they are filled: refuse first
    x = tg.tensor(np.ones((1, 1, 2, 2), np.float32))
    with pytest.raises(MemoryError, match=r"^interpolate: cannot allocate the output \(N, C, H, W\) = \(1, 1, .*is more "
                                          r"than this machine's .* of memory \(inputs: float32\[1, 1, 2, 2\]\)"):
        tg.interpolate(x, size=size, mode="bilinear")
