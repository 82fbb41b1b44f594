"""Train a convolutional autoencoder on MNIST (or Fashion-MNIST) and compare its reconstructions with PCA's.

    python examples/autoencoder.py                                  # the embedded MNIST sample
    python examples/autoencoder.py --data-dir ../shared/data/mnist --epochs 5 --code 32
    python examples/autoencoder.py --dataset fashion --denoise 0.3  # denoising: noisy in, clean out

Encoder: two stride-2 3x3 convs (28 -> 14 -> 7, 16 and 32 channels, ReLU), Dense(--code). Decoder: Dense back to
32x7x7, then two upsampling steps to 28x28 (``--decoder transpose``: stride-2 ``Conv2DTranspose`` layers, the
default where tapegraph has them; ``upsample``: ``UpSampling2D`` + 3x3 conv), a sigmoid on the last one. Pixels
are in [0, 1], the loss is the mean squared error. The baseline is PCA with the same code size, computed here
from the training images with numpy's SVD; both test MSEs are printed (the autoencoder should be lower).

Writes OUT/autoencoder.npz (weights), OUT/autoencoder_recon.png (rows: test originals, [noisy inputs,]
autoencoder and PCA reconstructions; matplotlib if installed, else a plain grey PNG written with zlib),
OUT/autoencoder_curves.png (matplotlib) and OUT/autoencoder_step.svg (one training step; .dot without Graphviz).
"""
from __future__ import annotations

import argparse
import os
import struct
import time
import zlib

# OpenBLAS's idle threads sleep at once instead of spinning after every GEMM on the core tapegraph's own threads
# need (up to 1.3x faster steps on 2 cores; README "Performance"). Read when numpy loads OpenBLAS: set it first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

import tapegraph as tg
from tapegraph import nn, optim

if __package__:
    from .mnist import write_step_and_curves
else:  # run as a script: examples/ is sys.path[0]
    from mnist import write_step_and_curves

HAS_TRANSPOSE = hasattr(nn, "Conv2DTranspose")
DEFAULT_DECODER = "transpose" if HAS_TRANSPOSE else "upsample"


class Autoencoder(nn.Module):
    """(N, 1, 28, 28) in [0, 1] -> code (N, ``code``) -> (N, 1, 28, 28) in (0, 1)."""

    def __init__(self, code: int = 32, decoder: str = DEFAULT_DECODER):
        super().__init__()
        if decoder not in ("transpose", "upsample"):
            raise ValueError(f"Autoencoder: decoder must be 'transpose' or 'upsample', got {decoder!r}")
        if decoder == "transpose" and not HAS_TRANSPOSE:
            raise ValueError("Autoencoder: this tapegraph has no nn.Conv2DTranspose; use decoder='upsample'")
        self.encoder = nn.Sequential([
            nn.Conv2D(16, 3, strides=2, padding=1), nn.ReLU(),          # 28 -> 14
            nn.Conv2D(32, 3, strides=2, padding=1), nn.ReLU(),          # 14 -> 7
            nn.Flatten(), nn.Dense(code),
        ])
        self.expand = nn.Dense(32 * 7 * 7)
        if decoder == "transpose":
            up = [nn.Conv2DTranspose(16, 3, strides=2, padding="same"), nn.ReLU(),      # 7 -> 14
                  nn.Conv2DTranspose(1, 3, strides=2, padding="same"), nn.Sigmoid()]    # 14 -> 28
        else:
            up = [nn.UpSampling2D(2), nn.Conv2D(16, 3, padding="same"), nn.ReLU(),
                  nn.UpSampling2D(2), nn.Conv2D(1, 3, padding="same"), nn.Sigmoid()]
        self.decoder = nn.Sequential(up)
        with self.inference():
            self(np.zeros((1, 1, 28, 28), np.float32))                  # create every parameter now

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        h = tg.relu(self.expand(z))
        return self.decoder(h.reshape(-1, 32, 7, 7))

    def forward(self, x):
        return self.decode(self.encode(x))


class NoisyBatches:
    """Re-iterable (noisy x, clean x) batches: every pass over ``loader`` (batches of (x, x)) adds fresh noise."""

    def __init__(self, loader, add_noise):
        self.loader, self.add_noise = loader, add_noise

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for xb, yb in self.loader:
            yield self.add_noise(xb), yb


def pca_reconstruct(x_train: np.ndarray, x_test: np.ndarray, k: int) -> np.ndarray:
    """Project ``x_test`` on the top ``k`` principal components of ``x_train`` (mean-centred, numpy's SVD) and back;
    images are flattened for the fit and returned in ``x_test``'s shape."""
    a = x_train.reshape(len(x_train), -1).astype(np.float64)
    mean = a.mean(axis=0)
    _, _, vt = np.linalg.svd(a - mean, full_matrices=False)        # rows of vt: principal directions
    basis = vt[:k]                                                  # (k, 784)
    b = x_test.reshape(len(x_test), -1).astype(np.float64) - mean
    return ((b @ basis.T) @ basis + mean).reshape(x_test.shape).astype(x_test.dtype)


def write_png_gray(path, img: np.ndarray):
    """A 2-D array in [0, 1] as an 8-bit greyscale PNG (zlib and struct only, no image library)."""
    px = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    h, w = px.shape
    raw = b"".join(b"\x00" + px[r].tobytes() for r in range(h))    # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return path


def save_grid(rows, labels, path):
    """Rows of (n, 28, 28) images in [0, 1] as one picture: matplotlib with row labels when installed, else a
    plain PNG with 2-pixel gaps."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        n = len(rows[0])
        grid = np.ones((len(rows) * 30, n * 30))
        for r, imgs in enumerate(rows):
            for c, img in enumerate(imgs):
                grid[r * 30 + 1:r * 30 + 29, c * 30 + 1:c * 30 + 29] = img
        return write_png_gray(path, grid)
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.8, len(rows) * 0.9), squeeze=False)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.12, right=0.99, top=0.99, bottom=0.01)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def load(dataset, data_dir):
    loader = tg.data.load_fashion_mnist if dataset == "fashion" else tg.data.load_mnist
    if dataset == "fashion" and data_dir is None:
        return loader(dtype="float32")
    return loader(data_dir, dtype="float32")                         # float32 in [0, 1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the four idx files (.gz or raw); default: the "
                                                     "embedded MNIST sample, or Fashion-MNIST's default folder")
    ap.add_argument("--dataset", choices=("mnist", "fashion"), default="mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--code", type=int, default=32, help="size of the code (and of the PCA baseline)")
    ap.add_argument("--decoder", choices=("transpose", "upsample"), default=DEFAULT_DECODER)
    ap.add_argument("--denoise", type=float, default=0.0, metavar="STD",
                    help="train on inputs with Gaussian noise of this std (clipped to [0, 1]), clean targets")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out", help="output folder (default: ./out)")
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    (x_train, _), (x_test, _) = load(args.dataset, args.data_dir)
    source = args.data_dir or ("the default location" if args.dataset == "fashion" else "the embedded sample")
    print(f"{args.dataset} from {source}: {len(x_train)} training, "
          f"{len(x_test)} test images; code size {args.code}, {args.decoder} decoder"
          + (f", denoising (noise std {args.denoise})" if args.denoise else ""))

    def noisy(x):
        if not args.denoise:
            return x
        return np.clip(x + args.denoise * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)

    model = Autoencoder(args.code, args.decoder)
    print(f"{sum(p.data.size for p in model.parameters()):,} parameters")
    loss_fn = nn.MeanSquaredError()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    model.compile(optimizer=opt, loss=loss_fn)
    steps = -(-len(x_train) // args.batch_size)
    schedule = optim.OneCycleLR(opt, max_lr=args.lr, epochs=max(args.epochs, 1), steps_per_epoch=steps)
    x_test_in = noisy(x_test)                                       # fixed noise for the test set

    start = time.perf_counter()
    if args.denoise:   # batches of (noisy, clean), fresh noise every epoch
        loader = tg.data.DataLoader(x_train, x_train, args.batch_size, shuffle=True)
        history = model.fit(NoisyBatches(loader, noisy), epochs=args.epochs, validation_data=(x_test_in, x_test),
                            callbacks=[schedule], verbose=args.verbose)
    else:
        history = model.fit(x_train, x_train, epochs=args.epochs, batch_size=args.batch_size,
                            validation_data=(x_test, x_test), callbacks=[schedule], verbose=args.verbose)
    seconds = time.perf_counter() - start

    recon = model.predict(x_test_in, batch_size=500)
    ae_mse = float(np.mean((recon - x_test) ** 2))
    pca = np.clip(pca_reconstruct(x_train, x_test_in, args.code), 0, 1)
    pca_mse = float(np.mean((pca - x_test) ** 2))
    better = "autoencoder" if ae_mse < pca_mse else "PCA"
    print(f"test MSE: autoencoder {ae_mse:.5f}, PCA ({args.code} components) {pca_mse:.5f}; {better} is lower by "
          f"{abs(pca_mse - ae_mse) / max(ae_mse, pca_mse):.1%} ({args.epochs} epochs, {seconds:.1f} s, "
          f"{seconds / max(args.epochs, 1):.1f} s/epoch)")

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "autoencoder.npz")
    model.save(weights)
    pick = rng.choice(len(x_test), size=min(10, len(x_test)), replace=False)
    rows = [x_test[pick, 0]] + ([x_test_in[pick, 0]] if args.denoise else []) + [recon[pick, 0], pca[pick, 0]]
    labels = ["original"] + (["noisy input"] if args.denoise else []) + ["autoencoder", f"PCA-{args.code}"]
    grid = save_grid(rows, labels, os.path.join(args.out, "autoencoder_recon.png"))
    print(f"reconstructions: {grid}")
    write_step_and_curves(model, loss_fn, x_train[:args.batch_size], x_train[:args.batch_size], args.out,
                          history if args.epochs else None, "autoencoder",
                          "Convolutional autoencoder: one training step", weights)
    return {"ae_mse": ae_mse, "pca_mse": pca_mse, "seconds_per_epoch": seconds / max(args.epochs, 1)}


if __name__ == "__main__":
    main()
