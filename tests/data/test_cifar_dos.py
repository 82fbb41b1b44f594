"""Issue 13: CIFAR pickles built from shared references are refused cheaply; labels must be integers."""
import pickle

import numpy as np
import pytest

import tapegraph as tg
from tests.data.writers import traced_peak_of_refusal, write_cifar10, write_pickle


def _shared_labels(width, depth):
    inner = [0] * width
    for _ in range(depth - 1):
        inner = [inner] * width          # the same list object `width` times: pickled once, then memo reads
    return inner


def _write_batch(path, labels, n=1):
    blob = pickle.dumps({b"data": np.zeros((n, 3072), np.uint8), b"labels": labels}, protocol=2)
    path.write_bytes(blob)
    return len(blob)


def test_shared_reference_labels_a_billion_elements_refused_cheaply(tmp_path):
    write_cifar10(tmp_path, "pickle")
    size = _write_batch(tmp_path / "test_batch", _shared_labels(1000, 3))   # 10**9 labels when expanded
    assert size < 64 << 10
    peak = traced_peak_of_refusal(lambda: tg.data.load_cifar10(tmp_path),
                                  r"test_batch: b'labels' is not a list of integer labels \(entry 0 is list")
    assert peak < 64 << 20


def test_many_memo_reads_are_refused_before_unpickling(tmp_path):
    write_cifar10(tmp_path, "pickle")
    _write_batch(tmp_path / "test_batch", [[0] * 1000] * 20000)     # 20,000 reads of one shared list
    with pytest.raises(ValueError, match=r"test_batch: pickle reuses shared objects more than 10000 times"):
        tg.data.load_cifar10(tmp_path)


def test_deep_nesting_is_refused(tmp_path):
    write_cifar10(tmp_path, "pickle")
    deep = 0
    for _ in range(40):
        deep = [deep, deep]
    _write_batch(tmp_path / "test_batch", deep)
    with pytest.raises(ValueError, match=r"test_batch: pickle nests deeper than 16 levels"):
        tg.data.load_cifar10(tmp_path)


@pytest.mark.parametrize("bad,what", [(1.7, "float 1.7"), ("3", "str '3'"), (True, "bool True"),
                                      (b"3", "bytes b'3'")])
def test_non_integer_labels_are_refused(tmp_path, bad, what):
    write_cifar10(tmp_path, "pickle")
    write_pickle(tmp_path / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, bad]}, protocol=4)
    with pytest.raises(ValueError, match=rf"test_batch: b'labels' is not a list of integer labels \(entry 1 is "
                                         rf"{what}"):
        tg.data.load_cifar10(tmp_path)


def test_float_label_array_and_huge_label_are_refused(tmp_path):
    write_cifar10(tmp_path, "pickle")
    write_pickle(tmp_path / "test_batch", {b"data": np.zeros((2, 3072), np.uint8),
                                           b"labels": np.array([0.0, 1.5])}, protocol=4)
    with pytest.raises(ValueError, match=r"test_batch: b'labels' is not a list of integer labels \(array float64"):
        tg.data.load_cifar10(tmp_path)
    write_pickle(tmp_path / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 2 ** 70]},
                 protocol=4)
    with pytest.raises(ValueError, match=r"test_batch: labels label 1180591620717411303424 out of range 0\.\.9"):
        tg.data.load_cifar10(tmp_path)
    write_pickle(tmp_path / "test_batch", {b"data": np.zeros((2, 3072), np.uint8),
                                           b"labels": np.array([0, 3], np.uint8)}, protocol=4)
    (_, _), (_, y) = tg.data.load_cifar10(tmp_path)           # integer arrays are fine
    assert y.tolist() == [0, 3] and y.dtype == np.int64
