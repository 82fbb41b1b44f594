"""idx reading, MNIST/Fashion-MNIST loaders, the embedded sample and the real-data check (slow)."""
import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import tapegraph as tg
from tapegraph.data import mnist as mnist_mod

from .writers import MNIST_FILES, idx_bytes, make_mnist, write_bytes, write_mnist

REAL_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


@pytest.mark.parametrize("gz", [(True, True, True, True), (False, False, False, False), (True, False, False, True)])
def test_load_mnist_reads_raw_and_gzip_idx(tmp_path, gz):
    xa, ya, xb, yb = make_mnist()
    write_mnist(tmp_path, (xa, ya, xb, yb), gz)
    (x_train, y_train), (x_test, y_test) = tg.data.load_mnist(tmp_path)
    assert x_train.shape == (12, 1, 28, 28) and x_test.shape == (7, 1, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and y_test.dtype == np.int64
    np.testing.assert_array_equal(x_train[:, 0], xa)
    np.testing.assert_array_equal(x_test[:, 0], xb)
    np.testing.assert_array_equal(y_train, ya)
    np.testing.assert_array_equal(y_test, yb)
    assert x_train.flags.writeable


@pytest.mark.parametrize("dtype", ["float32", np.float64])
def test_load_mnist_float_scales_to_unit_range(tmp_path, dtype):
    xa, ya, xb, yb = make_mnist()
    xa[0, 0, 0], xa[0, 0, 1] = 0, 255
    write_mnist(tmp_path, (xa, ya, xb, yb))
    (x, _), (xt, _) = tg.data.load_mnist(str(tmp_path), dtype=dtype)
    assert x.dtype == np.dtype(dtype) and xt.dtype == np.dtype(dtype)
    assert x[0, 0, 0, 0] == 0.0 and x[0, 0, 0, 1] == 1.0
    np.testing.assert_allclose(x[:, 0], xa / 255.0, rtol=1e-6)


def test_load_mnist_rejects_bad_dtype(tmp_path):
    write_mnist(tmp_path, make_mnist())
    with pytest.raises(TypeError, match="load_mnist: dtype must be"):
        tg.data.load_mnist(tmp_path, dtype="int16")


def test_read_idx_header_and_shapes(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = write_bytes(tmp_path / "a-idx3-ubyte", idx_bytes(arr), gz=True)
    np.testing.assert_array_equal(tg.data.read_idx(p), arr)
    with pytest.raises(ValueError, match=r"a-idx3-ubyte.gz: holds images .*expected labels"):
        tg.data.read_idx(p, ndim=1)


def _write_header(path, magic, dims, payload=b""):
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload)
    return path


@pytest.mark.parametrize("magic", [0x00000802, 0x00000903, 0x01000803, 0x00000804, 0x08030000])
def test_bad_magic_number(tmp_path, magic):
    p = _write_header(tmp_path / "train-images-idx3-ubyte", magic, (1, 2, 2), b"\0" * 4)
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte: bad idx magic number 0x{magic:08x}"):
        tg.data.read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_and_overlong_files_name_sizes(tmp_path, gz):
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    p = write_bytes(tmp_path / "train-images-idx3-ubyte", data[:1000], gz)
    name = os.path.basename(p)
    with pytest.raises(ValueError, match=rf"{name}: expected 3936 bytes for 5x28x28 images, got 1000 \(truncated\)"):
        tg.data.read_idx(p)
    p = write_bytes(tmp_path / "train-images-idx3-ubyte", data + b"\0" * 3, gz)
    with pytest.raises(ValueError, match=rf"{name}: expected 3936 bytes for 5x28x28 images, got 3939 \(trailing"):
        tg.data.read_idx(p)
    p = write_bytes(tmp_path / "train-labels-idx1-ubyte", data[:6], gz)
    with pytest.raises(ValueError, match="ends inside the idx header"):
        tg.data.read_idx(p)
    p = write_bytes(tmp_path / "empty", b"", gz)
    with pytest.raises(ValueError, match="too short for an idx header"):
        tg.data.read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_huge_claimed_size_is_an_error_not_an_allocation(tmp_path, gz):
    p = write_bytes(tmp_path / "x-idx3-ubyte", struct.pack(">I3I", 0x803, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF) + b"\0" * 9,
                    gz)
    with pytest.raises(ValueError, match=r"expected \d+ bytes for 4294967295x4294967295x65535 images, got 25"):
        tg.data.read_idx(p)


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    blob = gzip.compress(idx_bytes(np.arange(4000, dtype=np.uint32).astype(np.uint8).reshape(10, 20, 20)))
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0xFF
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: corrupt gzip file"):
        tg.data.read_idx(p)
    p.write_bytes(blob[: len(blob) // 2])  # cut off mid-stream
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: corrupt gzip file"):
        tg.data.read_idx(p)
    bad = bytearray(blob)
    bad[-8] ^= 0x01  # CRC of the trailer
    p.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: corrupt gzip file"):
        tg.data.read_idx(p)


def test_label_count_and_range_are_checked(tmp_path):
    xa, ya, xb, yb = make_mnist()
    write_mnist(tmp_path, (xa, ya[:-1], xb, yb))
    with pytest.raises(ValueError,
                       match=r"train-labels-idx1-ubyte: 11 labels for 12 images in train-images-idx3-ubyte.gz"):
        tg.data.load_mnist(tmp_path)
    yb = yb.copy()
    yb[3] = 10
    write_mnist(tmp_path, (xa, ya, xb, yb))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: label 10 out of range 0..9"):
        tg.data.load_mnist(tmp_path)


def test_missing_files_list_expected_names(tmp_path):
    xa, ya, xb, yb = make_mnist()
    write_mnist(tmp_path, (xa, ya, xb, yb))
    os.remove(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(FileNotFoundError) as e:
        tg.data.load_mnist(tmp_path)
    msg = str(e.value)
    assert msg.startswith("load_mnist: no t10k-images-idx3-ubyte[.gz] in " + str(tmp_path))
    assert all(name in msg for name in MNIST_FILES)


def test_tapegraph_data_env_var(tmp_path, monkeypatch):
    xa, ya, xb, yb = make_mnist(n_train=3, n_test=2)
    write_mnist(tmp_path / "mnist", (xa, ya, xb, yb))
    monkeypatch.setenv("TAPEGRAPH_DATA", str(tmp_path))
    (x, y), (xt, yt) = tg.data.load_mnist()
    assert x.shape == (3, 1, 28, 28) and xt.shape == (2, 1, 28, 28)
    np.testing.assert_array_equal(x[:, 0], xa)
    monkeypatch.setenv("TAPEGRAPH_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="TAPEGRAPH_DATA"):
        tg.data.load_mnist()
    monkeypatch.delenv("TAPEGRAPH_DATA")
    assert tg.data.load_mnist()[0][0].shape == (6000, 1, 28, 28)


def test_embedded_sample(monkeypatch):
    monkeypatch.delenv("TAPEGRAPH_DATA", raising=False)
    info = tg.data.SAMPLE_INFO
    (x, y), (xt, yt) = tg.data.load_mnist()
    assert x.shape == (info["n_train"], 1, 28, 28) and xt.shape == (info["n_test"], 1, 28, 28)
    assert x.dtype == np.uint8 and xt.dtype == np.uint8
    assert y.dtype == np.int64 and yt.dtype == np.int64
    assert list(y[:5]) == [5, 0, 4, 1, 9] and list(yt[:5]) == [7, 2, 1, 0, 4]
    for labels, key in ((y, "train_class_counts"), (yt, "test_class_counts")):
        counts = np.bincount(labels, minlength=10)
        assert len(counts) == 10 and tuple(counts) == info[key]
        assert counts.min() > 0.7 * counts.mean() and counts.max() < 1.3 * counts.mean()
    assert x.max() == 255 and x.min() == 0
    assert (x.reshape(len(x), -1).max(axis=1) > 100).all()  # no blank images
    assert abs(x.mean() / 255 - tg.data.MNIST_MEAN) < 0.01


def test_load_mnist_sample_float(monkeypatch):
    monkeypatch.delenv("TAPEGRAPH_DATA", raising=False)
    (x, y), (xt, _) = tg.data.load_mnist(dtype="float32")
    assert x.dtype == np.float32 and xt.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0


def test_fashion_mnist_path_and_missing_default(tmp_path, monkeypatch):
    xa, ya, xb, yb = make_mnist(n_train=4, n_test=3, seed=5)
    write_mnist(tmp_path / "f", (xa, ya, xb, yb), gz=(True,) * 4)
    (x, y), (xt, yt) = tg.data.load_fashion_mnist(tmp_path / "f", dtype="float32")
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and yt.dtype == np.int64
    np.testing.assert_array_equal(yt, yb)
    monkeypatch.delenv("TAPEGRAPH_DATA", raising=False)
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match=r"load_fashion_mnist: .*apt-get install dataset-fashion-mnist.*path="):
        tg.data.load_fashion_mnist()
    monkeypatch.setenv("TAPEGRAPH_DATA", str(tmp_path))
    os.rename(tmp_path / "f", tmp_path / "fashion-mnist")
    assert tg.data.load_fashion_mnist()[0][0].shape == (4, 1, 28, 28)


@pytest.mark.slow
def test_real_mnist_matches_readme_figures():
    if not REAL_MNIST.is_dir():
        pytest.skip(f"no real MNIST at {REAL_MNIST}")
    (x, y), (xt, yt) = tg.data.load_mnist(REAL_MNIST)
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert list(y[:5]) == [5, 0, 4, 1, 9] and list(yt[:5]) == [7, 2, 1, 0, 4]
    (sx, sy), (sxt, syt) = mnist_mod._load_sample()
    np.testing.assert_array_equal(sx, x[:len(sx)])
    np.testing.assert_array_equal(sxt, xt[:len(sxt)])
    np.testing.assert_array_equal(sy, y[:len(sy)])
    xf = x.astype(np.float64) / 255
    assert round(xf.mean(), 4) == tg.data.MNIST_MEAN and round(xf.std(), 4) == tg.data.MNIST_STD


@pytest.mark.slow
def test_real_fashion_mnist_at_default_location(monkeypatch):
    if not os.path.isdir(mnist_mod.FASHION_MNIST_DIR):
        pytest.skip("dataset-fashion-mnist is not installed")
    monkeypatch.delenv("TAPEGRAPH_DATA", raising=False)
    (x, y), (xt, yt) = tg.data.load_fashion_mnist()
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
