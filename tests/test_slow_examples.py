"""Slow: the MNIST and Fashion-MNIST examples reach their accuracy targets on the full official data.

Deselected by default (``-m 'not slow'``); run with ``python -m pytest -m slow tests/test_slow_examples.py``.
Skipped where the data is absent. Full MNIST is read from ``$TAPEGRAPH_DATA/mnist`` or ``../shared/data/mnist``;
Fashion-MNIST from where ``tg.data.load_fashion_mnist`` looks by default.
"""
import os
from pathlib import Path

import pytest

from tapegraph.data import mnist as mnist_data

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _full_mnist_dir():
    env = os.environ.get("TAPEGRAPH_DATA")
    return Path(env) / "mnist" if env else ROOT.parent / "shared" / "data" / "mnist"


def _has_idx_files(d: Path) -> bool:
    return all((d / n).is_file() or (d / (n + ".gz")).is_file() for n in mnist_data.FILES)


def test_mnist_example_reaches_99_percent_in_3_epochs(tmp_path):
    data = _full_mnist_dir()
    if not _has_idx_files(data):
        pytest.skip(f"no full MNIST at {data}")
    from examples.mnist import main
    result = main(["--data-dir", str(data), "--epochs", "3", "--out", str(tmp_path), "--verbose", "2"])
    assert result["accuracy"] >= 0.99, result
    assert (tmp_path / "mnist_cnn.npz").is_file()


def test_fashion_mnist_example_reaches_90_percent(tmp_path):
    env = os.environ.get("TAPEGRAPH_DATA")
    data = Path(env) / "fashion-mnist" if env and (Path(env) / "fashion-mnist").is_dir() \
        else Path(mnist_data.FASHION_MNIST_DIR)
    if not _has_idx_files(data):
        pytest.skip(f"no Fashion-MNIST at {data} (apt-get install dataset-fashion-mnist)")
    from examples.fashion_mnist import main
    result = main(["--data-dir", str(data), "--out", str(tmp_path), "--verbose", "2"])   # the default epochs
    assert result["accuracy"] >= 0.90, result
    assert (tmp_path / "fashion_mnist_cnn.npz").is_file()
