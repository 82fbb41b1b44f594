"""MNIST and Fashion-MNIST: the four standard idx files from any directory, or the small sample shipped inside
the package."""
from __future__ import annotations

import os
from importlib import resources
from types import MappingProxyType

import numpy as np

from .idx import read_idx
from .transforms import to_float

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_MEAN = 0.1307  # pixel mean and std of the full 60,000 training images on the [0, 1] scale
MNIST_STD = 0.3081

_SAMPLE_FILE = "mnist_sample.npz"
SAMPLE_INFO = MappingProxyType({
    "file": "tapegraph/data/" + _SAMPLE_FILE,
    "source": "MNIST (Y. LeCun, C. Cortes, C.J.C. Burges), official idx files; rebuilt by tools/make_mnist_sample.py",
    "license": "CC BY-SA 3.0",
    "train": "the first 6,000 of the 60,000 official training images, in order",
    "test": "the first 1,000 of the 10,000 official test images, in order",
    "n_train": 6000,
    "n_test": 1000,
    "train_class_counts": (592, 671, 581, 608, 623, 514, 608, 651, 551, 601),
    "test_class_counts": (85, 126, 116, 107, 110, 87, 87, 99, 89, 94),
})


def _convert(x, y, dtype, who):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt == np.uint8:
        pass
    elif dt in (np.float32, np.float64):
        x = to_float(x, dt)
    else:
        raise TypeError(f"{who}: dtype must be 'uint8', 'float32' or 'float64', got {dtype!r}")
    return x, y.astype(np.int64)


def _find(directory, who, hint):
    paths = []
    for name in FILES:
        for candidate in (name, name + ".gz"):
            p = os.path.join(directory, candidate)
            if os.path.isfile(p):
                paths.append(p)
                break
        else:
            raise FileNotFoundError(f"{who}: no {name}[.gz] in {directory!s}; expected the four idx files "
                                    f"{', '.join(FILES)} (each raw or .gz){hint}")
    return paths


def _read_split(images_path, labels_path, n_classes=10):
    x, y = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(x) != len(y):
        raise ValueError(f"{os.path.basename(labels_path)}: {len(y)} labels for {len(x)} images in "
                         f"{os.path.basename(images_path)}")
    if y.size and y.max() >= n_classes:
        raise ValueError(f"{os.path.basename(labels_path)}: label {int(y.max())} out of range 0..{n_classes - 1}")
    return x[:, None], y  # (N, 1, H, W)


def _read_dir(directory, dtype, who, hint=""):
    tr_x, tr_y, te_x, te_y = _find(directory, who, hint)
    (xa, ya), (xb, yb) = _read_split(tr_x, tr_y), _read_split(te_x, te_y)
    return _convert(xa, ya, dtype, who), _convert(xb, yb, dtype, who)


def _load_sample():
    with resources.files(__package__).joinpath(_SAMPLE_FILE).open("rb") as f, \
            np.load(f, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for split in ("train", "test"):
        x, y, n = arrays["x_" + split], arrays["y_" + split], SAMPLE_INFO["n_" + split]
        if x.shape != (n, 28, 28) or y.shape != (n,) or x.dtype != np.uint8 or y.dtype != np.uint8 \
                or y.max() > 9:
            raise ValueError(f"load_mnist: the embedded sample {_SAMPLE_FILE} is damaged ({split}: images "
                             f"{x.shape} {x.dtype}, labels {y.shape} {y.dtype}); reinstall tapegraph")
    return ((arrays["x_train"][:, None], arrays["y_train"]), (arrays["x_test"][:, None], arrays["y_test"]))


def load_mnist(path=None, dtype="uint8"):
    """MNIST as ``(x_train, y_train), (x_test, y_test)``: x ``(N, 1, 28, 28)`` uint8 (or float32/float64 in
    [0, 1] with ``dtype=``), y int64.

    Reads the four standard idx files (raw or .gz) from ``path``; without it from ``$TAPEGRAPH_DATA/mnist`` when
    that variable is set; otherwise the embedded sample: the first 6,000 training and first 1,000 test images of
    the official split (see ``SAMPLE_INFO``).
    """
    if path is None and os.environ.get("TAPEGRAPH_DATA"):
        path = os.path.join(os.environ["TAPEGRAPH_DATA"], "mnist")
        return _read_dir(path, dtype, "load_mnist", " (looked there because TAPEGRAPH_DATA is set)")
    if path is None:
        (xa, ya), (xb, yb) = _load_sample()
        return _convert(xa, ya, dtype, "load_mnist"), _convert(xb, yb, dtype, "load_mnist")
    return _read_dir(os.fspath(path), dtype, "load_mnist")


def load_fashion_mnist(path=None, dtype="uint8"):
    """Fashion-MNIST, same format and output as :func:`load_mnist` (10 clothing classes).

    Reads ``path``; without it ``$TAPEGRAPH_DATA/fashion-mnist`` when that directory exists, else
    ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package ``dataset-fashion-mnist``).
    """
    if path is None:
        env = os.environ.get("TAPEGRAPH_DATA")
        path = os.path.join(env, "fashion-mnist") if env and os.path.isdir(os.path.join(env, "fashion-mnist")) \
            else FASHION_MNIST_DIR
        hint = ("; install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or pass "
                "path= a directory holding them")
        return _read_dir(path, dtype, "load_fashion_mnist", hint)
    return _read_dir(os.fspath(path), dtype, "load_fashion_mnist")
