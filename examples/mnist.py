"""Train a small CNN on MNIST, report test accuracy, save the weights, and render one training step's graph.

    python examples/mnist.py                                   # the sample inside the package (6,000 / 1,000 images)
    python examples/mnist.py --data-dir ../shared/data/mnist --epochs 3    # the full official split: >= 99%
    mpirun -n 2 python examples/mnist.py --distributed --data-dir ../shared/data/mnist   # 2 ranks, same recipe

The recipe: BatchNorm after each convolution, AdamW under a one-cycle schedule stepped per batch, batch 128,
trained with ``compile``/``fit``; on full MNIST it gives 99.21 / 99.09 / 99.14% for seeds 0 / 1 / 2 in 3 epochs.

Writes OUT/mnist_cnn.npz (weights), OUT/mnist_step.svg (the graph of one training step, by layer),
OUT/mnist_step_backward.svg (the same step with its backward pass) and OUT/mnist_curves.png (loss and accuracy per
epoch, train vs validation; needs matplotlib). Without Graphviz's `dot` program it writes the
.dot sources instead and says how to install it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# OpenBLAS's idle threads sleep at once instead of spinning after every GEMM on the core tapegraph's own threads
# need (up to 1.3x faster steps on 2 cores; README "Performance"). Read when numpy loads OpenBLAS: set it first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import tapegraph as tg
from tapegraph import nn, optim


def build_model() -> nn.Sequential:
    """A LeNet-class CNN with batch normalisation: conv32-BN-relu-pool, conv64-BN-relu-pool,
    dense128-relu-dropout, dense10 (logits). The convolutions need no bias: BatchNorm's beta is one."""
    return nn.Sequential([
        nn.Conv2D(32, 3, padding="same", use_bias=False), nn.BatchNorm(momentum=0.9), nn.ReLU(), nn.MaxPool2D(2),
        nn.Conv2D(64, 3, use_bias=False), nn.BatchNorm(momentum=0.9), nn.ReLU(), nn.MaxPool2D(2),
        nn.Flatten(), nn.Dense(128), nn.ReLU(), nn.Dropout(0.25), nn.Dense(10),
    ], input_shape=(1, 28, 28))


def load(data_dir):
    (x_train, y_train), (x_test, y_test) = tg.data.load_mnist(data_dir, dtype="float32")
    normalise = lambda x: (x - tg.data.MNIST_MEAN) / tg.data.MNIST_STD  # noqa: E731
    return (normalise(x_train), y_train), (normalise(x_test), y_test)


def save_curves(history, path):
    """Loss/accuracy curves, train vs validation, from a History or a dict of per-epoch lists (needs matplotlib:
    pip install "tapegraph[plot]"); returns the path written, or None with a note on stderr without matplotlib."""
    try:
        tg.viz.plot_history(history, path)
    except ImportError as e:
        print(f"no training curves: {e}", file=sys.stderr)
        return None
    return path


def write_step_and_curves(model, loss_fn, x, y, out_dir, history, name, title, weights=None):
    """render_step and save_curves (when there is history), printing what was written; returns the step's tape."""
    tape, written = render_step(model, loss_fn, x, y, out_dir, name=name, title=title)
    saved = f"saved weights to {weights}; " if weights else ""
    print(f"{saved}graph of one training step ({len(tape)} ops): {', '.join(written)}")
    curves = save_curves(history, os.path.join(out_dir, f"{name}_curves.png")) if history else None
    if curves:
        print(f"training curves: {curves}")
    return tape


def render_step(model, loss_fn, x, y, out_dir, name="mnist", title="MNIST CNN: one training step"):
    """Record one training step on its own tape and draw it (forward by layer, then with the backward pass) as
    OUT_DIR/NAME_step.svg and NAME_step_backward.svg; without Graphviz, the .dot sources (named on stderr)."""
    x, y = tg.tensor(x, name="images"), tg.tensor(y, name="labels")   # the graph shows these names
    with tg.Tape(profile=True) as tape:
        loss = loss_fn(model(x), y)
    tape.backward(loss)
    written = []
    for file, options in ((f"{name}_step.svg", dict(group="layer")),
                          (f"{name}_step_backward.svg", dict(backward=True, cost=True))):
        try:
            written.append(tape.render(os.path.join(out_dir, file), title=title, **options))
        except tg.GraphvizNotFound as e:
            print(e, file=sys.stderr)
            written.append(e.dot_path)
    return tape, written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the four MNIST idx files (.gz or raw); "
                                                     "default: the sample shipped with tapegraph")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW's decoupled weight decay")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out", help="output folder (default: ./out)")
    ap.add_argument("--verbose", type=int, default=1)
    ap.add_argument("--distributed", action="store_true", help="data-parallel over the MPI world (launch with "
                    "mpirun -n N); --batch-size stays the global batch, N x batch-size/N; only rank 0 prints/writes")
    args = ap.parse_args(argv)
    world = tg.distributed.init().size if args.distributed else 1
    primary = tg.distributed.is_primary() if args.distributed else True
    if not primary:
        sys.stdout = open(os.devnull, "w")                            # only rank 0 prints

    tg.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load(args.data_dir)
    source = args.data_dir or "the embedded sample"
    print(f"MNIST from {source}: {len(x_train)} training, {len(x_test)} test images")

    model = build_model()
    model.summary()
    loss_fn = nn.SparseCategoricalCrossentropy(from_logits=True)      # the model ends in Dense(10): logits
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    model.compile(optimizer=opt, loss=loss_fn, metrics=["accuracy"])
    steps = -(-(len(x_train) // world) // (args.batch_size // world))  # one-cycle: stepped after every batch
    schedule = optim.OneCycleLR(opt, max_lr=args.lr, epochs=max(args.epochs, 1), steps_per_epoch=steps)

    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size // world,
                        validation_data=(x_test, y_test), callbacks=[schedule], verbose=args.verbose,
                        distributed=args.distributed)
    seconds = time.perf_counter() - start
    result = model.evaluate(x_test, y_test, batch_size=256)
    print(f"test accuracy {result['accuracy']:.2%}, test loss {result['loss']:.4f} "
          f"({args.epochs} epochs, {seconds:.1f} s, {seconds / max(args.epochs, 1):.1f} s/epoch)")
    if not primary:
        return result                                                 # only rank 0 saves and renders

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "mnist_cnn.npz")
    model.save(weights)
    tape = write_step_and_curves(model, loss_fn, x_train[:args.batch_size], y_train[:args.batch_size], args.out,
                                 history, "mnist", "MNIST CNN: one training step", weights)
    tape.summary(top=8)
    return result


if __name__ == "__main__":
    main()
