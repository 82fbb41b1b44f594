"""The model examples: fashion_resnet.py and autoencoder.py end to end on tiny generated idx files, their parts
(residual block, augmentation, PCA baseline, PNG writer), and the full-data targets as ``slow`` tests."""
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import tapegraph as tg
from tapegraph.data import mnist as mnist_data
from tests.data.writers import make_mnist, write_mnist

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(script, *args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def line_starting(stdout, prefix):
    return next(ln for ln in stdout.splitlines() if ln.startswith(prefix))


def graph_written(out: Path, name: str, stderr: str):
    svg = out / f"{name}_step.svg"
    if svg.exists():
        return svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    return (out / f"{name}_step.dot").exists() and "Graphviz" in stderr     # no `dot`: the source instead


def read_png_gray(path) -> np.ndarray:
    """Decode the 8-bit greyscale, filter-0 PNGs that autoencoder.write_png_gray writes."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, w + 1)
    assert not rows[:, 0].any()                                          # filter type 0 on every row
    return rows[:, 1:]


# -- fashion_resnet.py ------------------------------------------------------------------------------------------

def test_fashion_resnet_trains_on_idx_files_and_saves(tmp_path):
    data, out = tmp_path / "fashion", tmp_path / "out"
    write_mnist(data, make_mnist(n_train=64, n_test=20, seed=3))
    proc = run("fashion_resnet.py", "--data-dir", data, "--epochs", 2, "--batch-size", 32, "--out", out,
               "--log-every", 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "64 training, 20 test images" in proc.stdout
    assert "ResNet-8, widths 32/64/128, first stage at 14x14" in proc.stdout
    assert "Epoch 2/2 step 2/2" in proc.stdout                            # 64 images / 32 per step
    accuracy = float(line_starting(proc.stdout, "test accuracy").split()[2].rstrip("%")) / 100
    assert 0.0 <= accuracy <= 1.0
    assert all(name in proc.stdout for name in ("T-shirt/top", "Ankle boot"))   # the per-class table
    assert graph_written(out, "fashion_resnet", proc.stderr)
    from examples.fashion_resnet import build_model
    model = build_model()
    model.load_weights(out / "fashion_resnet.npz")
    assert float(np.abs(model.stem_bn.running_mean).sum()) > 0            # BatchNorm statistics were saved too


def test_resnet_shapes_stages_and_shortcuts():
    from examples.fashion_resnet import BasicBlock, build_model
    model = build_model(blocks=2, width=8)
    assert [b.conv2.weight.shape[0] for b in model.blocks] == [8, 8, 16, 16, 32, 32]
    assert [b.proj is not None for b in model.blocks] == [False, False, True, False, True, False]
    with model.inference():
        assert model(np.zeros((3, 1, 28, 28), np.float32)).shape == (3, 10)
    with tg.Tape() as tape:
        model(np.zeros((2, 1, 28, 28), np.float32))
    pooled = [n for n in tape.nodes if n.scope == ("pool",)]               # global average pooling: 4x4 -> 1x1
    assert pooled and pooled[0].inputs[0].shape == (2, 32, 4, 4) and pooled[-1].output.shape == (2, 32)
    # With its second BatchNorm scaled to zero, an identity block passes relu(x) through the shortcut.
    block = BasicBlock(4)
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    with block.inference():
        block(x)
        block.bn2.gamma.data[:] = 0
        block.bn2.beta.data[:] = 0
        np.testing.assert_allclose(block(x).data, np.maximum(x, 0), atol=1e-6)


def test_resnet_projecting_block_halves_resolution():
    from examples.fashion_resnet import BasicBlock
    block = BasicBlock(6, strides=2, project=True)
    y = block(np.ones((2, 3, 8, 8), np.float32))
    assert y.shape == (2, 6, 4, 4)
    assert {name for name, _ in block.named_parameters()} >= {"proj.weight", "proj_bn.gamma"}


def test_resnet_augmentation_shifts_and_mirrors():
    from examples.fashion_resnet import augment
    tg.manual_seed(0)
    x = np.zeros((64, 1, 28, 28), np.float32)
    x[:, 0, 10, 5] = 1.0                                                  # one bright pixel, left of centre
    out = augment(2)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    rows, cols = np.nonzero(out[:, 0].sum(axis=0))
    assert set(rows) <= set(range(8, 13))                                 # shifted by at most 2 rows
    assert set(cols) & set(range(3, 8)) and set(cols) & set(range(20, 25))   # shifted, and some mirrored
    assert np.array_equal(augment(0, flip=False)(x), x)


# -- autoencoder.py ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [(), ("--denoise", "0.3", "--decoder", "upsample")])
def test_autoencoder_trains_compares_with_pca_and_draws(tmp_path, extra):
    data, out = tmp_path / "mnist", tmp_path / "out"
    write_mnist(data, make_mnist(n_train=96, n_test=24, seed=4))
    proc = run("autoencoder.py", "--data-dir", data, "--epochs", 1, "--batch-size", 32, "--code", 8, "--out", out,
               "--verbose", 2, *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = line_starting(proc.stdout, "test MSE")
    words = line.replace(",", "").replace(";", "").split()
    ae, pca = float(words[3]), float(words[7])
    assert "PCA (8 components)" in line and 0 < ae < 1 and 0 < pca < 1
    grid = out / "autoencoder_recon.png"
    assert grid.exists() and grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert graph_written(out, "autoencoder", proc.stderr)
    from examples.autoencoder import Autoencoder
    model = Autoencoder(8, "upsample") if extra else Autoencoder(8)
    model.load_weights(out / "autoencoder.npz")                           # the default decoder was trained


def test_pca_reconstruct_is_exact_on_rank_k_data_and_optimal():
    from examples.autoencoder import pca_reconstruct
    rng = np.random.default_rng(1)
    basis = rng.standard_normal((3, 16))
    x = (rng.standard_normal((50, 3)) @ basis + 5.0).reshape(50, 1, 4, 4)
    np.testing.assert_allclose(pca_reconstruct(x, x, 3), x, atol=1e-9)    # rank 3 after centring
    y = rng.standard_normal((40, 1, 4, 4))
    err = [np.mean((pca_reconstruct(y, y, k) - y) ** 2) for k in (1, 4, 16)]
    assert err[0] > err[1] > err[2] and err[2] < 1e-12                    # k = all 16 dimensions: exact
    s = np.linalg.svd(y.reshape(40, -1) - y.reshape(40, -1).mean(0), compute_uv=False)
    np.testing.assert_allclose(err[1] * y.size, np.sum(s[4:] ** 2), rtol=1e-9)   # Eckart-Young residual


def test_write_png_gray_round_trips(tmp_path):
    from examples.autoencoder import write_png_gray
    img = np.linspace(0, 1, 7 * 5).reshape(7, 5)
    path = write_png_gray(tmp_path / "g.png", img)
    np.testing.assert_array_equal(read_png_gray(path), (img * 255 + 0.5).astype(np.uint8))


def test_autoencoder_grid_without_matplotlib(tmp_path, monkeypatch):
    from examples import autoencoder
    monkeypatch.setitem(sys.modules, "matplotlib", None)                  # import matplotlib -> ImportError
    rows = [np.zeros((3, 28, 28)), np.ones((3, 28, 28))]
    px = read_png_gray(autoencoder.save_grid(rows, ["a", "b"], tmp_path / "grid.png"))
    assert px.shape == (60, 90)
    assert px[1:29, 1:29].max() == 0 and px[31:59, 1:29].min() == 255     # row 0 black, row 1 white


def test_autoencoder_rejects_an_unknown_decoder():
    from examples.autoencoder import Autoencoder
    with pytest.raises(ValueError, match="decoder"):
        Autoencoder(8, "pixelshuffle")


# -- full data (slow) -------------------------------------------------------------------------------------------

def _dir(name, default):
    env = os.environ.get("TAPEGRAPH_DATA")
    d = Path(env) / name if env else Path(default)
    if not all((d / n).is_file() or (d / (n + ".gz")).is_file() for n in mnist_data.FILES):
        pytest.skip(f"no {name} idx files at {d}")
    return d


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])          # seed 0: tests/test_slow_examples.py
def test_mnist_reaches_99_percent_for_other_seeds(tmp_path, seed):
    from examples.mnist import main
    result = main(["--data-dir", str(_dir("mnist", ROOT.parent / "shared" / "data" / "mnist")), "--epochs", "3",
                   "--seed", str(seed), "--out", str(tmp_path), "--verbose", "2"])
    assert result["accuracy"] >= 0.99, result


@pytest.mark.slow
def test_autoencoder_beats_pca_on_full_mnist(tmp_path):
    from examples.autoencoder import main
    result = main(["--data-dir", str(_dir("mnist", ROOT.parent / "shared" / "data" / "mnist")), "--epochs", "3",
                   "--out", str(tmp_path), "--verbose", "2"])
    assert result["ae_mse"] < result["pca_mse"], result


@pytest.mark.slow
def test_fashion_resnet_reaches_93_percent(tmp_path):
    """The default run (ResNet-8 with 32/64/128 channels, first stage at 14x14, 20 epochs) measured 93.55%, the
    issue's target is 93.0%; shirt is the weakest class (79.6%)."""
    from examples.fashion_resnet import main
    data = _dir("fashion-mnist", mnist_data.FASHION_MNIST_DIR)
    result = main(["--data-dir", str(data), "--out", str(tmp_path), "--log-every", "0"])
    assert result["accuracy"] >= 0.93, result
    assert min(result["per_class"].values()) > 0.75, result["per_class"]
