"""Train a VGG-style CNN (conv-BN-ReLU blocks) on CIFAR-100 with augmentation, momentum SGD and a cosine schedule.

    python examples/cifar100.py --data-dir ~/data/cifar-100-python --epochs 30
    python examples/cifar100.py --data-dir ~/data --limit 2000 --epochs 1      # a smoke run on 2,000 images

``--data-dir`` holds the official python version (``train``, ``test``) or the binary one (``train.bin``,
``test.bin``), directly or in ``cifar-100-python``/``cifar-100-binary`` (https://www.cs.toronto.edu/~kriz/cifar.html).
The training loop is written out with an explicit tape instead of ``model.fit``, so that each batch is augmented
(random 32x32 crop of the 4-pixel zero-padded image, random left-right flip) by a DataLoader transform.
Writes OUT/cifar100_cnn.npz (weights), OUT/cifar100_history.json (per-epoch metrics), OUT/cifar100_curves.png
(matplotlib) and OUT/cifar100_step.svg / _step_backward.svg (one training step; .dot sources without Graphviz).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

# OpenBLAS's idle threads sleep at once instead of spinning after every GEMM on the core tapegraph's own threads
# need (up to 1.3x faster steps on 2 cores; README "Performance"). Read when numpy loads OpenBLAS: set it first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import tapegraph as tg
from tapegraph import losses, nn, optim

if __package__:
    from .fashion_resnet import train_epoch
    from .mnist import render_step, save_curves
else:  # run as a script: examples/ is sys.path[0]
    from fashion_resnet import train_epoch
    from mnist import render_step, save_curves


def build_model(n_classes: int = 100, width: int = 32) -> nn.Sequential:
    """Three stages of two conv3x3-BN-ReLU blocks (width, 2*width, 4*width channels), each ending in a 2x2 max-pool;
    then dropout, dense(8*width)-BN-ReLU, dropout, dense(n_classes) logits."""
    def block(filters):
        return [nn.Conv2D(filters, 3, padding="same", use_bias=False), nn.BatchNorm(momentum=0.9), nn.ReLU()]

    layers = []
    for stage in range(3):
        layers += block(width << stage) + block(width << stage) + [nn.MaxPool2D(2)]
    layers += [nn.Flatten(), nn.Dropout(0.3), nn.Dense(8 * width, use_bias=False), nn.BatchNorm(momentum=0.9),
               nn.ReLU(), nn.Dropout(0.5), nn.Dense(n_classes)]
    return nn.Sequential(layers, input_shape=(3, 32, 32))


def augment(mean, std):
    """The training transform for uint8 NCHW batches: random crop, random flip, then per-channel standardisation."""
    return tg.data.Compose([
        functools.partial(tg.data.random_crop, size=32, padding=4),
        tg.data.random_flip,
        lambda xb: tg.data.standardize(xb, mean, std)[0],
    ])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="folder with CIFAR-100 (python or binary version)")
    ap.add_argument("--labels", choices=("fine", "coarse"), default="fine",
                    help="100 fine classes or 20 superclasses (default: fine)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--width", type=int, default=32, help="channels of the first stage (default: 32)")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N training images only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50, help="print the running loss every N steps (0: never)")
    ap.add_argument("--out", default="out", help="output folder (default: ./out)")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit <= 0:
        ap.error(f"--limit must be positive, got {args.limit}")

    tg.manual_seed(args.seed)
    try:
        (x_train, y_train), (x_test, y_test) = tg.data.load_cifar100(args.data_dir, label_mode=args.labels)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"cifar100.py: {e}")
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    n_classes = 100 if args.labels == "fine" else 20
    print(f"CIFAR-100 ({args.labels} labels, {n_classes} classes) from {args.data_dir}: {len(x_train)} training, "
          f"{len(x_test)} test images")

    # Channel statistics of (up to) the first 10,000 training images: as good as all 50,000 to three decimals, and a
    # fifth of the memory. Training batches are standardised in the loader, the test set once, with the same ones.
    _, mean, std = tg.data.standardize(x_train[:10_000])
    x_test, _, _ = tg.data.standardize(x_test, mean, std)
    loader = tg.data.DataLoader(x_train, y_train, args.batch_size, shuffle=True, transform=augment(mean, std))

    model = build_model(n_classes, args.width)
    model.summary()
    loss_fn = functools.partial(losses.categorical_crossentropy, from_logits=True)
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, nesterov=True,
                    weight_decay=args.weight_decay)
    schedule = optim.CosineAnnealingLR(opt, T_max=max(args.epochs, 1))

    os.makedirs(args.out, exist_ok=True)
    history = []
    for epoch in range(args.epochs):
        label = f"Epoch {epoch + 1}/{args.epochs}"
        lr = opt.lr
        t0 = time.perf_counter()
        loss, acc, seen = train_epoch(model, loader, loss_fn, opt, args.log_every, label)
        seconds = time.perf_counter() - t0
        schedule.step()
        test = model.evaluate(x_test, y_test, batch_size=256, loss=loss_fn)
        history.append({"epoch": epoch + 1, "lr": lr, "loss": loss, "accuracy": acc, "test_loss": test["loss"],
                        "test_accuracy": test["accuracy"], "seconds": seconds})
        print(f"{label} - loss: {loss:.4f} - accuracy: {acc:.4f} - test_loss: {test['loss']:.4f} - "
              f"test_accuracy: {test['accuracy']:.4f} - lr: {lr:.4g} - {seconds:.1f}s ({seen / seconds:,.0f} img/s)",
              flush=True)

    weights = os.path.join(args.out, "cifar100_cnn.npz")
    model.save(weights)
    with open(os.path.join(args.out, "cifar100_history.json"), "w") as f:
        json.dump({"args": vars(args), "epochs": history}, f, indent=1)
    if history:
        print(f"test accuracy {history[-1]['test_accuracy']:.2%} after {args.epochs} epochs")
    print(f"saved weights to {weights} and metrics to {os.path.join(args.out, 'cifar100_history.json')}")
    xb = tg.data.standardize(x_train[:args.batch_size], mean, std)[0]
    tape, written = render_step(model, loss_fn, xb, y_train[:args.batch_size], args.out, name="cifar100",
                                title="CIFAR-100 CNN: one training step")
    print(f"graph of one training step ({len(tape)} ops): {', '.join(written)}")
    if history:
        curves = {k: [h[src] for h in history] for k, src in (("loss", "loss"), ("accuracy", "accuracy"),
                                                              ("val_loss", "test_loss"),
                                                              ("val_accuracy", "test_accuracy"))}
        path = save_curves(curves, os.path.join(args.out, "cifar100_curves.png"))
        if path:
            print(f"training curves: {path}")
    return history


if __name__ == "__main__":
    main()
