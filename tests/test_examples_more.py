"""The Fashion-MNIST, CIFAR-100 and graph-rendering examples run end to end in a fresh process on small files."""
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import tapegraph as tg
from tests.data.writers import make_mnist, write_cifar100, write_mnist

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
VIEWS = ("mnist_forward_layers", "mnist_backward_cost", "mnist_collapsed")


def run(script, *args, path=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if path is not None:
        env["PATH"] = path
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)
    return proc


def loss_values(stdout, key="loss: "):
    return [float(ln.split(key, 1)[1].split()[0]) for ln in stdout.splitlines() if key in ln]


def test_cifar100_trains_a_few_steps_on_official_pickle_files(tmp_path):
    data = tmp_path / "data"
    expected = write_cifar100(data / "cifar-100-python", n=(40, 12), seed=3)
    out = tmp_path / "out"
    proc = run("cifar100.py", "--data-dir", data, "--epochs", 2, "--batch-size", 16, "--width", 4, "--limit", 32,
               "--log-every", 1, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "32 training, 12 test images" in proc.stdout          # --limit cut the 40 training images
    losses = loss_values(proc.stdout)
    assert len(losses) >= 2 * 2 + 2 and all(np.isfinite(losses)) and max(losses) > 1.0, proc.stdout[-2000:]
    history = json.loads((out / "cifar100_history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2]
    assert history["epochs"][1]["lr"] < history["epochs"][0]["lr"]   # the cosine schedule stepped
    assert history["args"]["limit"] == 32
    assert (out / "cifar100_step.svg").exists() or (out / "cifar100_step.dot").exists()   # one step drawn
    from examples.cifar100 import build_model
    model = build_model(100, width=4)
    model.load_weights(out / "cifar100_cnn.npz")
    x_test = tg.data.standardize(expected["fine"][1][0])[0]
    assert model.predict(x_test).shape == (12, 100)


def test_cifar100_reports_missing_files_without_a_traceback(tmp_path):
    proc = run("cifar100.py", "--data-dir", tmp_path, "--epochs", 1, "--out", tmp_path / "out")
    assert proc.returncode != 0
    assert "CIFAR-100" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_cifar100_augmentation_crops_flips_and_standardises():
    from examples.cifar100 import augment
    rng = np.random.default_rng(0)
    xb = rng.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    _, mean, std = tg.data.standardize(xb)
    tg.manual_seed(1)
    out = augment(mean, std)(xb)
    assert out.shape == xb.shape and out.dtype == np.float32
    plain = tg.data.standardize(xb, mean, std)[0]
    assert not np.array_equal(out, plain)
    # every sample is a 32x32 window of its zero-padded image (padding standardised too), maybe mirrored
    padded = tg.data.standardize(np.pad(xb, ((0, 0), (0, 0), (4, 4), (4, 4))), mean, std)[0]
    for i in range(len(xb)):
        windows = [padded[i, :, a:a + 32, b:b + 32] for a in range(9) for b in range(9)]
        assert any(np.array_equal(out[i], w) or np.array_equal(out[i], w[..., ::-1]) for w in windows), i


def test_fashion_mnist_trains_on_idx_files_and_saves(tmp_path):
    data = tmp_path / "fashion"
    write_mnist(data, make_mnist(n_train=96, n_test=20, seed=5))
    out = tmp_path / "out"
    proc = run("fashion_mnist.py", "--data-dir", data, "--epochs", 1, "--batch-size", 32, "--out", out,
               "--verbose", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "96 training, 20 test images" in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("test accuracy"))
    accuracy = float(line.split()[2].rstrip("%,")) / 100
    assert 0.0 <= accuracy <= 1.0
    assert all(name in proc.stdout for name in ("Trouser", "Ankle boot"))   # the per-class table
    from examples.fashion_mnist import build_model
    model = build_model()
    model.load_weights(out / "fashion_mnist_cnn.npz")
    assert float(np.abs(model[1].running_mean).sum()) > 0          # BatchNorm statistics were saved too


def test_fashion_per_class_accuracy():
    from examples.fashion_mnist import per_class_accuracy
    y = np.array([0, 0, 1, 1, 1, 3])
    pred = np.array([0, 1, 1, 1, 0, 3])
    acc = per_class_accuracy(pred, y, 4)
    np.testing.assert_allclose(acc[[0, 1, 3]], [0.5, 2 / 3, 1.0])
    assert np.isnan(acc[2])


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot program")
def test_render_graph_writes_svg_and_png(tmp_path):
    proc = run("render_graph.py", "--out", tmp_path, "--png", "--batch-size", 8)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in VIEWS:
        svg = tmp_path / f"{name}.svg"
        root = ET.parse(svg).getroot()                            # well-formed XML
        assert root.tag.endswith("svg"), root.tag
        text = svg.read_text()
        assert "layers.0" in text and "conv2d" in text
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(svg) in proc.stdout
    assert "backward pass" in (tmp_path / "mnist_backward_cost.svg").read_text()
    assert not list(tmp_path.glob("*.dot"))


def test_render_graph_falls_back_to_dot_sources_without_graphviz(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "out"
    proc = run("render_graph.py", "--out", out, "--png", "--batch-size", 8, path=str(empty))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dot" in proc.stderr and "Graphviz" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{v}.dot" for v in VIEWS)
    from examples.mnist import build_model
    second_conv = [i for i, layer in enumerate(build_model()) if isinstance(layer, tg.nn.Conv2D)][1]
    for name in VIEWS:
        source = (out / f"{name}.dot").read_text()
        assert source.lstrip().startswith("digraph") and f"layers.{second_conv}" in source
