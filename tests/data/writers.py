"""Writers for small dataset files in exactly the official layouts (idx, CIFAR python pickles, CIFAR binary)."""
from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_bytes(path, data: bytes, gz: bool):
    if gz:
        path = str(path) + ".gz"
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return path


def make_mnist(n_train=12, n_test=7, seed=0, size=28):
    rng = np.random.default_rng(seed)
    xa = rng.integers(0, 256, (n_train, size, size), dtype=np.uint8)
    xb = rng.integers(0, 256, (n_test, size, size), dtype=np.uint8)
    ya = np.arange(n_train, dtype=np.uint8) % 10
    yb = rng.integers(0, 10, n_test).astype(np.uint8)
    return xa, ya, xb, yb


def write_mnist(directory, arrays, gz=(True, False, True, False)):
    """The four idx files under their standard names; ``gz`` picks compressed or raw per file."""
    os.makedirs(directory, exist_ok=True)
    return [write_bytes(os.path.join(directory, name), idx_bytes(a), z) for name, a, z in zip(MNIST_FILES, arrays, gz)]


class Py2Pickler(pickle._Pickler):
    """Pickle protocol 2 as Python 2's cPickle wrote the official CIFAR files: every str/bytes as a BINSTRING
    and numpy 1.x's ``numpy.core.multiarray._reconstruct``."""
    dispatch = dict(pickle._Pickler.dispatch)

    def save_binstring(self, obj):
        if isinstance(obj, str):
            obj = obj.encode("latin-1")
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
                   + obj)
        self.memoize(obj)

    dispatch[bytes] = save_binstring
    dispatch[str] = save_binstring

    def save_global(self, obj, name=None):
        if obj is np.zeros(1).__reduce__()[0]:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def write_pickle(path, obj, protocol="py2"):
    with open(path, "wb") as f:
        if protocol == "py2":
            Py2Pickler(f, 2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=protocol)


def make_cifar(n, n_label_sets, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [rng.integers(0, k, n) for k in n_label_sets]
    return data, labels


def write_cifar10(directory, kind="pickle", n=(4, 3, 5, 2, 3, 6), seed=0, protocol="py2"):
    """CIFAR-10 in the python (``cifar-10-batches-py``) or binary (``cifar-10-batches-bin``) layout; returns the
    expected (x_train, y_train), (x_test, y_test)."""
    os.makedirs(directory, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    parts = []
    for i, (name, k) in enumerate(zip(names, n)):
        data, (labels,) = make_cifar(k, (10,), seed + i)
        parts.append((data, labels))
        if kind == "pickle":
            batch_label = "testing batch 1 of 1" if name == "test_batch" else f"training batch {i + 1} of 5"
            write_pickle(os.path.join(directory, name),
                         {b"batch_label": batch_label.encode(), b"labels": [int(v) for v in labels], b"data": data,
                          b"filenames": [f"img_{i}_{j}.png".encode() for j in range(k)]}, protocol)
        else:
            rec = np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)
            rec.tofile(os.path.join(directory, name + ".bin"))
    x = [p[0].reshape(-1, 3, 32, 32) for p in parts]
    y = [p[1].astype(np.int64) for p in parts]
    return (np.concatenate(x[:5]), np.concatenate(y[:5])), (x[5], y[5])


def write_cifar100(directory, kind="pickle", n=(7, 4), seed=0, protocol="py2"):
    """CIFAR-100 in the python (``cifar-100-python``) or binary (``cifar-100-binary``) layout; returns
    {"fine": ((x, y), (x, y)), "coarse": (...)} as expected."""
    os.makedirs(directory, exist_ok=True)
    out = {"fine": [], "coarse": []}
    for i, (name, k) in enumerate(zip(("train", "test"), n)):
        data, (fine, coarse) = make_cifar(k, (100, 20), seed + i)
        if kind == "pickle":
            write_pickle(os.path.join(directory, name),
                         {b"filenames": [f"f{j}.png".encode() for j in range(k)], b"batch_label": name.encode(),
                          b"fine_labels": [int(v) for v in fine], b"coarse_labels": [int(v) for v in coarse],
                          b"data": data}, protocol)
        else:
            rec = np.concatenate([coarse.astype(np.uint8)[:, None], fine.astype(np.uint8)[:, None], data], axis=1)
            rec.tofile(os.path.join(directory, name + ".bin"))
        x = data.reshape(-1, 3, 32, 32)
        out["fine"].append((x, fine.astype(np.int64)))
        out["coarse"].append((x, coarse.astype(np.int64)))
    return {k: tuple(v) for k, v in out.items()}


def traced_peak_of_refusal(fn, match: str) -> int:
    """Peak bytes tracemalloc saw while ``fn()`` raised the ValueError ``match`` describes (a refused hostile file)."""
    import tracemalloc

    import pytest
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
