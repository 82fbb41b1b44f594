"""Train a CNN with batch normalisation on Fashion-MNIST, report test accuracy per class, save the weights.

    apt-get install dataset-fashion-mnist            # Debian/Ubuntu: the four idx files in /usr/share/datasets
    python examples/fashion_mnist.py                 # reads them from there (or from $TAPEGRAPH_DATA/fashion-mnist)
    python examples/fashion_mnist.py --data-dir DIR --epochs 5

The MNIST demo's network with a BatchNorm after each convolution and a little more dropout; clothes are harder
than digits, and normalised activations let SGD take larger steps. Writes OUT/fashion_mnist_cnn.npz.
"""
from __future__ import annotations

import argparse
import os
import time

# OpenBLAS's idle threads sleep at once instead of spinning after every GEMM on the core tapegraph's own threads
# need (up to 1.3x faster steps on 2 cores; README "Performance"). Read when numpy loads OpenBLAS: set it first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

import tapegraph as tg
from tapegraph import nn, optim

if __package__:
    from .mnist import save_curves
else:  # run as a script: examples/ is sys.path[0]
    from mnist import save_curves

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def build_model() -> nn.Sequential:
    """conv32-BN-relu-pool, conv64-BN-relu-pool, dense128-relu-dropout, dense10 (logits)."""
    return nn.Sequential([
        nn.Conv2D(32, 3, padding="same", use_bias=False), nn.BatchNorm(), nn.ReLU(), nn.MaxPool2D(2),
        nn.Conv2D(64, 3, use_bias=False), nn.BatchNorm(), nn.ReLU(), nn.MaxPool2D(2),
        nn.Flatten(), nn.Dense(128), nn.ReLU(), nn.Dropout(0.4), nn.Dense(10),
    ], input_shape=(1, 28, 28))


def load(data_dir):
    """Standardised float32 images (statistics of the training set) and int64 labels, plus (mean, std)."""
    (x_train, y_train), (x_test, y_test) = tg.data.load_fashion_mnist(data_dir)
    x_train, mean, std = tg.data.standardize(x_train)
    x_test, _, _ = tg.data.standardize(x_test, mean, std)
    return (x_train, y_train), (x_test, y_test), (mean, std)


def per_class_accuracy(pred: np.ndarray, y: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Fraction right for each true class (NaN for a class absent from ``y``)."""
    right = np.bincount(y, weights=pred == y, minlength=n_classes)
    total = np.bincount(y, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return right / total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST idx files (.gz or raw); "
                                                     "default: /usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out", help="output folder (default: ./out)")
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    tg.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test), (mean, std) = load(args.data_dir)
    print(f"Fashion-MNIST from {args.data_dir or 'the default location'}: {len(x_train)} training, {len(x_test)} "
          f"test images (pixel mean {float(mean[0]):.4f}, std {float(std[0]):.4f})")

    model = build_model()
    model.summary()
    loss_fn = nn.SparseCategoricalCrossentropy(from_logits=True)      # the model ends in Dense(10): logits
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    model.compile(optimizer=opt, loss=loss_fn, metrics=["accuracy"])
    schedule = optim.CosineAnnealingLR(opt, T_max=max(args.epochs, 1))

    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(x_test, y_test), callbacks=[schedule], verbose=args.verbose)
    seconds = time.perf_counter() - start
    result = model.evaluate(x_test, y_test, batch_size=256)
    print(f"test accuracy {result['accuracy']:.2%}, test loss {result['loss']:.4f} "
          f"({args.epochs} epochs, {seconds:.1f} s, {seconds / max(args.epochs, 1):.1f} s/epoch)")
    pred = model.predict(x_test, batch_size=256).argmax(axis=1)
    for name, acc in zip(CLASSES, per_class_accuracy(pred, y_test)):
        print(f"  {name:<12} {acc:7.2%}")

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "fashion_mnist_cnn.npz")
    model.save(weights)
    print(f"saved weights to {weights}")
    curves = save_curves(history, os.path.join(args.out, "fashion_mnist_curves.png"))
    if curves:
        print(f"training curves: {curves}")
    return result


if __name__ == "__main__":
    main()
