"""Train a small ResNet on Fashion-MNIST with crop/flip augmentation and a one-cycle schedule; per-class accuracy.

    apt-get install dataset-fashion-mnist                # Debian/Ubuntu: the idx files in /usr/share/datasets
    python examples/fashion_resnet.py                    # reads them from there (or $TAPEGRAPH_DATA/fashion-mnist)
    python examples/fashion_resnet.py --data-dir DIR --width 16 --epochs 12     # ResNet-8 at 16 channels: 91.75%
    mpirun -n 8 python examples/fashion_resnet.py --epochs 15     # data parallel: 8 ranks share each batch

The network (He et al.'s CIFAR ResNet, shrunk): a 3x3 stem and a 2x2 max-pool (so the first stage runs at 14x14;
``--full-res`` keeps 28x28 at about 2.5x the time), three stages of ``--blocks`` basic residual blocks
with 32, 64 and 128 channels (``--width`` sets the first; stages 2 and 3 halve the resolution with a strided conv and a
1x1 projection shortcut), BatchNorm after every conv, global average pooling, one dense layer. AdamW with
PyTorch's OneCycleLR, stepped per batch. Each training batch is randomly shifted (zero-pad ``--pad`` pixels, crop
28x28) and mirrored left-right. The loop is written out with an explicit tape so each batch gets its own crops.

Under ``mpirun -n N`` (extra ``[distributed]``) each rank trains on its shard with ``--batch-size / N`` images per
step, gradients are averaged before every step (``tg.distributed.DistributedOptimizer``), BatchNorm statistics stay
per rank during the epoch and rank 0's are broadcast before evaluation; rank 0 prints and writes the files.

Writes OUT/fashion_resnet.npz (weights, after every epoch), OUT/fashion_resnet_curves.png (needs matplotlib) and
OUT/fashion_resnet_step.svg / _step_backward.svg (one training step; .dot sources without Graphviz).
"""
from __future__ import annotations

import argparse
import functools
import os
import time

# OpenBLAS's idle threads sleep at once instead of spinning after every GEMM on the core tapegraph's own threads
# need (up to 1.3x faster steps on 2 cores; README "Performance"). Read when numpy loads OpenBLAS: set it first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

import tapegraph as tg
from tapegraph import distributed as dist
from tapegraph import losses, nn, optim

if __package__:
    from .fashion_mnist import CLASSES, per_class_accuracy
    from .mnist import write_step_and_curves
else:  # run as a script: examples/ is sys.path[0]
    from fashion_mnist import CLASSES, per_class_accuracy
    from mnist import write_step_and_curves


class BasicBlock(nn.Module):
    """relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x)); the shortcut is a strided 1x1 conv + BN
    (``project=True``, for a block that changes the resolution or the channel count), else the identity."""

    def __init__(self, filters: int, strides: int = 1, project: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2D(filters, 3, strides=strides, padding=1, use_bias=False)
        self.bn1 = nn.BatchNorm(momentum=0.9)
        self.conv2 = nn.Conv2D(filters, 3, padding=1, use_bias=False)
        self.bn2 = nn.BatchNorm(momentum=0.9)
        self.proj = self.proj_bn = None
        if project:
            self.proj = nn.Conv2D(filters, 1, strides=strides, use_bias=False)
            self.proj_bn = nn.BatchNorm(momentum=0.9)

    def forward(self, x):
        h = tg.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        shortcut = x if self.proj is None else self.proj_bn(self.proj(x))
        return tg.relu(h + shortcut)


class ResNet(nn.Module):
    """stem conv3x3-BN-relu, 3 stages of ``blocks`` BasicBlocks (width, 2 width, 4 width channels; stages 2 and 3
    start with stride 2), global average pooling, Dense(n_classes) logits. Built on ``input_shape`` at once."""

    def __init__(self, blocks: int = 1, width: int = 32, n_classes: int = 10, input_shape=(1, 28, 28),
                 stem_pool: bool = True):
        super().__init__()
        self.stem = nn.Conv2D(width, 3, padding=1, use_bias=False)
        self.stem_bn = nn.BatchNorm(momentum=0.9)
        self.stem_pool = nn.MaxPool2D(2) if stem_pool else None
        self.blocks = [BasicBlock(width * 2 ** stage, 2 if stage and i == 0 else 1, project=bool(stage and i == 0))
                       for stage in range(3) for i in range(blocks)]
        self.pool = nn.GlobalAveragePooling2D()                        # (N, C, H, W) -> (N, C)
        self.head = nn.Dense(n_classes)
        with self.inference():
            self(np.zeros((1,) + tuple(input_shape), np.float32))   # create every parameter now

    def forward(self, x):
        x = tg.relu(self.stem_bn(self.stem(x)))
        if self.stem_pool is not None:
            x = self.stem_pool(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))


def build_model(blocks: int = 1, width: int = 32, stem_pool: bool = True) -> ResNet:
    return ResNet(blocks=blocks, width=width, stem_pool=stem_pool)


def augment(pad: int, flip: bool = True):
    """The training transform for standardised NCHW batches: random shift by up to ``pad`` pixels (zero-pad, crop
    back to the input size), then a random left-right mirror."""
    steps = [lambda xb: tg.data.random_crop(xb, size=xb.shape[2:], padding=pad)] if pad else []
    return tg.data.Compose(steps + ([tg.data.random_flip] if flip else []))


def train_epoch(model, loader, loss_fn, opt, log_every, epoch_label, schedule=None):
    """One pass over ``loader``, an explicit tape per step, ``schedule`` (if any) stepped per batch;
    (mean loss, accuracy, images). cifar100.py uses it too."""
    model.train()
    seen, loss_sum, right = 0, 0.0, 0
    t0 = time.perf_counter()
    for step, (xb, yb) in enumerate(loader, 1):
        with tg.Tape() as tape:
            logits = model(xb)
            loss = loss_fn(logits, yb)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()
        if schedule is not None:
            schedule.step()
        seen += len(yb)
        loss_sum += float(loss.data) * len(yb)
        right += int(np.count_nonzero(logits.data.argmax(axis=1) == yb))
        if log_every and (step % log_every == 0 or step == len(loader)):
            dist.print_primary(f"{epoch_label} step {step}/{len(loader)} - loss: {loss_sum / seen:.4f} - accuracy: "
                  f"{right / seen:.4f} - {seen / (time.perf_counter() - t0):.0f} img/s", flush=True)
    return loss_sum / seen, right / seen, seen


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST idx files (.gz or raw); "
                                                     "default: /usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--blocks", type=int, default=1, help="residual blocks per stage (1: ResNet-8, 3: ResNet-20)")
    ap.add_argument("--width", type=int, default=32, help="channels of the first stage (then x2, x4)")
    ap.add_argument("--full-res", action="store_true", help="no max-pool after the stem: the first stage runs at "
                                                          "28x28 instead of 14x14 (about 2.5x the time)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--weight-decay", type=float, default=1e-2, help="AdamW's decoupled weight decay")
    ap.add_argument("--pad", type=int, default=2, help="random shift: zero-pad this many pixels, crop 28x28")
    ap.add_argument("--no-flip", action="store_true", help="no random left-right mirroring")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out", help="output folder (default: ./out)")
    ap.add_argument("--log-every", type=int, default=100, help="print progress every N steps (0: once per epoch)")
    args = ap.parse_args(argv)

    dist.init(timeout=600)                      # a one-rank world without mpirun
    tg.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = tg.data.load_fashion_mnist(args.data_dir)
    x_train, mean, std = tg.data.standardize(x_train)
    x_test, _, _ = tg.data.standardize(x_test, mean, std)
    say = dist.print_primary
    say(f"Fashion-MNIST from {args.data_dir or 'the default location'}: {len(x_train)} training, {len(x_test)} "
        f"test images" + (f"; {dist.size()} ranks" if dist.size() > 1 else ""))

    model = build_model(args.blocks, args.width, stem_pool=not args.full_res)
    n_params = sum(p.data.size for p in model.parameters())
    dist.broadcast_parameters(model)
    say(f"ResNet-{6 * args.blocks + 2}, widths {args.width}/{2 * args.width}/{4 * args.width}, first stage at "
        f"{28 if args.full_res else 14}x{28 if args.full_res else 14}: {n_params:,} parameters")
    loss_fn = functools.partial(losses.categorical_crossentropy, from_logits=True)
    per_rank = max(args.batch_size // dist.size(), 1)
    loader = tg.data.DataLoader(x_train, y_train, per_rank, shuffle=True, seed=args.seed,
                                shard="auto" if dist.size() > 1 else None,
                                transform=augment(args.pad, not args.no_flip))
    opt = dist.DistributedOptimizer(optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay))
    schedule = optim.OneCycleLR(opt, max_lr=args.lr, epochs=max(args.epochs, 1), steps_per_epoch=len(loader))

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "fashion_resnet.npz")
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    times = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        loss, acc, _ = train_epoch(model, loader, loss_fn, opt, args.log_every, f"Epoch {epoch + 1}/{args.epochs}",
                                   schedule)
        times.append(time.perf_counter() - t0)
        loss, acc = (dist.average_logs({"loss": loss, "accuracy": acc})[k] for k in ("loss", "accuracy"))
        dist.broadcast_buffers(model)           # rank 0's BatchNorm statistics everywhere: identical models
        val = model.evaluate(x_test, y_test, batch_size=500, loss=loss_fn)
        for k, v in (("loss", loss), ("accuracy", acc), ("val_loss", val["loss"]),
                     ("val_accuracy", val["accuracy"])):
            history[k].append(v)
        dist.primary_only(model.save)(weights)
        say(f"Epoch {epoch + 1}/{args.epochs} - {times[-1]:.1f}s - loss: {loss:.4f} - accuracy: {acc:.4f} - "
            f"val_loss: {val['loss']:.4f} - val_accuracy: {val['accuracy']:.4f}", flush=True)

    pred = model.predict(x_test, batch_size=500).argmax(axis=1)
    accuracy = float(np.mean(pred == y_test))
    seconds = sum(times)
    say(f"test accuracy {accuracy:.2%} ({args.epochs} epochs, {seconds:.1f} s, "
        f"{seconds / max(args.epochs, 1):.1f} s/epoch)")
    per_class = per_class_accuracy(pred, y_test)
    for name, a in zip(CLASSES, per_class):
        say(f"  {name:<12} {a:.1%}")
    result = {"accuracy": accuracy, "per_class": dict(zip(CLASSES, per_class.tolist())),
              "seconds_per_epoch": seconds / max(args.epochs, 1), "history": history}
    if not dist.is_primary():
        return result

    write_step_and_curves(model, loss_fn, x_train[:args.batch_size], y_train[:args.batch_size], args.out,
                          history if args.epochs else None, "fashion_resnet",
                          "Fashion-MNIST ResNet: one training step", weights)
    return result


if __name__ == "__main__":
    main()
