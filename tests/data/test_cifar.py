"""CIFAR-10/100 readers on small files in the official python-pickle and binary layouts; the restricted unpickler."""
import os
import pickle

import numpy as np
import pytest

import tapegraph as tg

from .writers import write_cifar10, write_cifar100, write_pickle


def _assert_split(got, expected):
    (x, y), (xt, yt) = got
    (ex, ey), (ext, eyt) = expected
    assert x.dtype == np.uint8 and xt.dtype == np.uint8 and y.dtype == np.int64 and yt.dtype == np.int64
    assert x.shape == ex.shape and xt.shape == ext.shape
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(xt, ext)
    np.testing.assert_array_equal(yt, eyt)


@pytest.mark.parametrize("kind,protocol", [("pickle", "py2"), ("pickle", 2), ("pickle", 4), ("pickle", 5),
                                           ("binary", None)])
def test_cifar10_layouts(tmp_path, kind, protocol):
    folder = "cifar-10-batches-py" if kind == "pickle" else "cifar-10-batches-bin"
    expected = write_cifar10(tmp_path / folder, kind, protocol=protocol)
    got = tg.data.load_cifar10(tmp_path / folder)
    assert got[0][0].shape == (17, 3, 32, 32) and got[1][0].shape == (6, 3, 32, 32)
    _assert_split(got, expected)
    _assert_split(tg.data.load_cifar10(str(tmp_path)), expected)  # the parent of the official folder works too


def test_cifar10_channel_layout(tmp_path):
    """Rows are 1024 red, 1024 green, 1024 blue bytes, each plane row-major."""
    expected = write_cifar10(tmp_path, "binary", n=(1, 1, 1, 1, 1, 1))
    (x, _), _ = tg.data.load_cifar10(tmp_path)
    raw = np.fromfile(tmp_path / "data_batch_1.bin", np.uint8)
    assert x[0, 1, 2, 3] == raw[1 + 1024 + 2 * 32 + 3] and x[0, 2, 31, 0] == raw[1 + 2048 + 31 * 32]
    np.testing.assert_array_equal(x, expected[0][0])


@pytest.mark.parametrize("kind,protocol", [("pickle", "py2"), ("pickle", 3), ("binary", None)])
@pytest.mark.parametrize("mode", ["fine", "coarse"])
def test_cifar100_layouts(tmp_path, kind, protocol, mode):
    folder = "cifar-100-python" if kind == "pickle" else "cifar-100-binary"
    expected = write_cifar100(tmp_path / folder, kind, protocol=protocol)
    _assert_split(tg.data.load_cifar100(tmp_path / folder, label_mode=mode), expected[mode])
    _assert_split(tg.data.load_cifar100(tmp_path, label_mode=mode), expected[mode])


def test_cifar_float_dtype(tmp_path):
    write_cifar100(tmp_path, "binary")
    (x, y), (xt, _) = tg.data.load_cifar100(tmp_path, dtype="float32")
    assert x.dtype == np.float32 and xt.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    with pytest.raises(ValueError, match="load_cifar100: label_mode must be 'fine' or 'coarse', got 'both'"):
        tg.data.load_cifar100(tmp_path, label_mode="both")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > marker",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_restricted_unpickler_refuses_os_system(tmp_path, monkeypatch, protocol):
    write_cifar10(tmp_path, "pickle")
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f, protocol=protocol)
    with pytest.raises(tg.data.UnsafePickleError, match=r"data_batch_3: refused to load global (posix|os)\.system"):
        tg.data.load_cifar10(tmp_path)
    assert not (tmp_path / "marker").exists()
    with open(tmp_path / "data_batch_3", "wb") as f:  # and it is a ValueError like any other bad file
        pickle.dump(eval, f)
    with pytest.raises(ValueError, match=r"data_batch_3: refused to load global builtins\.eval"):
        tg.data.load_cifar10(tmp_path)


def test_protocol2_codecs_encode_only_latin1(tmp_path):
    write_cifar100(tmp_path, "pickle")
    # _codecs.encode("...", "rot13") is not how pickle writes bytes: refused
    (tmp_path / "test").write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(ValueError, match=r"test: not a readable CIFAR pickle \(UnpicklingError: _codecs.encode"):
        tg.data.load_cifar100(tmp_path)


@pytest.mark.parametrize("obj,match", [
    ([1, 2], "expected a dict of arrays, got list"),
    ({b"labels": [0]}, r"missing key b'data'; found b'labels'"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, r"missing key b'labels'"),
    ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"b'data' must be a uint8 array of shape \(N, "
                                                                     r"3072\), got uint8 \(2, 3071\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, r"b.data. must be .*got float32"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"1 entries in b'labels' for 2 images"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels label 10 out of range 0..9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, -1]}, "labels label -1 out of range 0..9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, r"b'labels' is not a list of integer"),
])
def test_bad_pickle_contents_name_the_file(tmp_path, obj, match):
    write_cifar10(tmp_path, "pickle")
    write_pickle(tmp_path / "test_batch", obj, protocol=4)
    with pytest.raises(ValueError, match="test_batch: " + match):
        tg.data.load_cifar10(tmp_path)


def test_truncated_pickle_names_the_file(tmp_path):
    write_cifar10(tmp_path, "pickle")
    blob = (tmp_path / "data_batch_2").read_bytes()
    (tmp_path / "data_batch_2").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="data_batch_2: not a readable CIFAR pickle"):
        tg.data.load_cifar10(tmp_path)


def test_binary_wrong_length_and_labels(tmp_path):
    write_cifar10(tmp_path, "binary")
    with open(tmp_path / "data_batch_4.bin", "ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(ValueError, match=r"data_batch_4.bin: 6156 bytes is not a whole number of 3073-byte records "
                                         r"\(1 label byte \+ 3072 pixel bytes\)"):
        tg.data.load_cifar10(tmp_path)
    write_cifar100(tmp_path / "c100", "binary")
    rec = np.fromfile(tmp_path / "c100" / "test.bin", np.uint8)
    rec[0] = 20  # coarse label of the first record
    rec.tofile(tmp_path / "c100" / "test.bin")
    with pytest.raises(ValueError, match="test.bin: coarse label 20 out of range 0..19"):
        tg.data.load_cifar100(tmp_path / "c100")
    (tmp_path / "c100" / "test.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"test.bin: 0 bytes .* 3074-byte records \(2 label bytes"):
        tg.data.load_cifar100(tmp_path / "c100")


def test_missing_and_mixed_up_directories(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"load_cifar10: no CIFAR-10 files in .*data_batch_1, .*test_batch\.bin"):
        tg.data.load_cifar10(tmp_path)
    write_cifar10(tmp_path / "c10", "pickle")
    os.remove(tmp_path / "c10" / "data_batch_5")
    with pytest.raises(FileNotFoundError, match="load_cifar10: .*c10 holds data_batch_1 but not data_batch_5"):
        tg.data.load_cifar10(tmp_path / "c10")
    with pytest.raises(FileNotFoundError, match="load_cifar100: .*holds CIFAR-10 files; use load_cifar10"):
        tg.data.load_cifar100(tmp_path / "c10")
    write_cifar100(tmp_path / "c100", "binary")
    with pytest.raises(FileNotFoundError, match="load_cifar10: .*holds CIFAR-100 files; use load_cifar100"):
        tg.data.load_cifar10(tmp_path / "c100")
