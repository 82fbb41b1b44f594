"""to_float, standardize and the vectorised augmentations."""
import numpy as np
import pytest

import tapegraph as tg


def test_to_float():
    x = np.array([[0, 1, 128, 255]], np.uint8)
    out = tg.data.to_float(x)
    assert out.dtype == np.float32 and out[0, 0] == 0.0 and out[0, -1] == 1.0
    np.testing.assert_allclose(out, x / 255.0, rtol=1e-7)
    assert tg.data.to_float(x, np.float64).dtype == np.float64
    with pytest.raises(TypeError, match=r"to_float: expected uint8 pixels \(0..255\), got float32 with shape \(1, 4\)"):
        tg.data.to_float(out)
    with pytest.raises(TypeError, match="to_float: dtype must be float32 or float64"):
        tg.data.to_float(x, np.int32)


def test_standardize_per_channel_and_reuse():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((20, 3, 4, 5)) * np.array([2.0, 0.5, 3.0])[None, :, None, None]
         + np.array([1.0, -2.0, 5.0])[None, :, None, None]).astype(np.float32)
    out, mean, std = tg.data.standardize(x)
    assert out.dtype == np.float32 and mean.shape == (3,) and std.shape == (3,)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, rtol=1e-4)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, x.std(axis=(0, 2, 3)), rtol=1e-5)
    test = x[:5] + 1
    out2, m2, s2 = tg.data.standardize(test, mean, std)
    np.testing.assert_allclose(out2, (test - mean[:, None, None]) / std[:, None, None], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(m2, mean)
    assert not np.shares_memory(out, x)


def test_standardize_uint8_scalar_stats_and_mean_only():
    x = np.arange(2 * 1 * 3 * 3, dtype=np.uint8).reshape(2, 1, 3, 3) * 10
    out, m, s = tg.data.standardize(x, tg.data.MNIST_MEAN, tg.data.MNIST_STD)
    np.testing.assert_allclose(out, (x / 255.0 - 0.1307) / 0.3081, rtol=1e-5)
    assert out.dtype == np.float32 and m.shape == ()
    xf = x.astype(np.float64) / 255
    out, m, s = tg.data.standardize(xf, mean=0.5)  # std of the data itself, not about the given mean
    assert out.dtype == np.float64
    np.testing.assert_allclose(s, xf.std(axis=(0, 2, 3)), rtol=1e-10)
    out, m, s = tg.data.standardize(xf, axis=None)
    assert m.shape == () and abs(out.mean()) < 1e-12


def test_standardize_constant_channel_and_errors():
    x = np.ones((4, 2, 3, 3), np.float32)
    out, _, std = tg.data.standardize(x)
    assert np.all(out == 0) and np.all(std == 1)
    with pytest.raises(ValueError, match=r"standardize: mean has shape \(3,\); expected a scalar, \(2,\) or "
                                         r"\(1, 2, 1, 1\)"):
        tg.data.standardize(x, mean=np.zeros(3))
    with pytest.raises(ValueError, match="standardize: std must be positive"):
        tg.data.standardize(x, mean=0.0, std=0.0)
    with pytest.raises(TypeError, match="standardize: expected uint8 or float data, got int16"):
        tg.data.standardize(x.astype(np.int16))
    with pytest.raises(ValueError, match="standardize: axis 4 is out of range"):
        tg.data.standardize(x, axis=4)


def _windows(img, size):
    c, h, w = img.shape
    return [img[:, i:i + size, j:j + size] for i in range(h - size + 1) for j in range(w - size + 1)]


def test_random_crop_takes_a_window_of_the_padded_image():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, (40, 3, 6, 6), dtype=np.uint8)  # no zeros: padding is recognisable
    out = tg.data.random_crop(x, size=6, padding=2, rng=np.random.default_rng(5))
    assert out.shape == x.shape and out.dtype == np.uint8
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(len(x)):
        hits = [k for k, win in enumerate(_windows(padded[i], 6)) if np.array_equal(win, out[i])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 10  # offsets vary per sample
    same = tg.data.random_crop(x, 6, 2, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(out, same)
    assert not np.array_equal(out, tg.data.random_crop(x, 6, 2, rng=np.random.default_rng(6)))


def test_random_crop_sizes_and_errors():
    x = np.arange(2 * 1 * 4 * 5, dtype=np.float32).reshape(2, 1, 4, 5)
    np.testing.assert_array_equal(tg.data.random_crop(x, (4, 5), padding=0), x)
    assert tg.data.random_crop(x, (2, 3), padding=1, rng=0).shape == (2, 1, 2, 3)
    with pytest.raises(ValueError, match=r"random_crop: cannot cut 7x7 windows from 4x5 images padded by 1"):
        tg.data.random_crop(x, 7, 1)
    with pytest.raises(ValueError, match=r"random_crop: expected an NCHW batch \(4 dimensions\), got shape \(4, 5\)"):
        tg.data.random_crop(x[0, 0], 2)
    with pytest.raises(TypeError, match="random_crop: size must be an int or a pair of ints, got 2.5"):
        tg.data.random_crop(x, 2.5)


def test_random_flip():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 3, 4, 5)).astype(np.float32)
    out = tg.data.random_flip(x, rng=np.random.default_rng(2))
    assert out.shape == x.shape and out.dtype == x.dtype
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept) and 60 < flipped.sum() < 140
    np.testing.assert_array_equal(out, tg.data.random_flip(x, rng=np.random.default_rng(2)))
    np.testing.assert_array_equal(tg.data.random_flip(x, p=0.0), x)
    np.testing.assert_array_equal(tg.data.random_flip(x, p=1.0), x[..., ::-1])
    with pytest.raises(ValueError, match="random_flip: p must be in"):
        tg.data.random_flip(x, p=2)
    with pytest.raises(ValueError, match="random_flip: expected an NCHW batch"):
        tg.data.random_flip(x[0])


def test_compose():
    gen = np.random.default_rng(0)
    t = tg.data.Compose([tg.data.to_float, lambda b: tg.data.random_flip(b, rng=gen, p=1.0)])
    x = np.arange(8, dtype=np.uint8).reshape(1, 1, 2, 4)
    np.testing.assert_allclose(t(x), x[..., ::-1] / 255.0, rtol=1e-6)
    assert "to_float" in repr(t)
    with pytest.raises(TypeError, match="Compose: every transform must be callable"):
        tg.data.Compose([tg.data.to_float, 3])
