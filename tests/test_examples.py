"""The main demo runs end to end on the embedded sample in a fresh process: trains, saves, renders."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import tapegraph as tg

ROOT = Path(__file__).resolve().parents[1]


def test_mnist_demo_trains_saves_and_renders(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "mnist.py"), "--epochs", "1", "--out",
                           str(tmp_path), "--verbose", "2"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("test accuracy"))
    accuracy = float(line.split()[2].rstrip("%,")) / 100
    assert accuracy > 0.85, line                         # one epoch on 6,000 images
    graph = tmp_path / "mnist_step.svg"
    if graph.exists():
        assert graph.read_text().lstrip().startswith(("<?xml", "<svg")) and graph.stat().st_size > 5_000
    else:                                                 # no Graphviz on this machine: the .dot source instead
        assert (tmp_path / "mnist_step.dot").exists() and "Graphviz" in proc.stderr
    from examples.mnist import build_model
    model = build_model()
    model.load_weights(tmp_path / "mnist_cnn.npz")
    (_, _), (x_test, y_test) = tg.data.load_mnist(dtype="float32")
    pred = model.predict((x_test[:200] - tg.data.MNIST_MEAN) / tg.data.MNIST_STD).argmax(axis=1)
    assert (pred == y_test[:200]).mean() > 0.8           # the saved weights are the trained ones
    np.testing.assert_equal(pred.shape, (200,))
