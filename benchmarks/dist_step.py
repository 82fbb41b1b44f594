"""Data-parallel training step of the MNIST CNN (examples/mnist.py's build_model) at a fixed GLOBAL batch.

    # 2 ranks x 1 thread (each rank: global batch / 2)
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -n 2 \\
        python benchmarks/dist_step.py --batch 64
    # 1 process x 2 threads, the same global batch
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 python benchmarks/dist_step.py --batch 64

Prints, on rank 0: images/s over the global batch, ms per step, and per step the ms spent in the gradient
allreduce (``DistributedOptimizer.allreduce_seconds``: includes waiting for the slower rank) and the ms of the same
allreduce right after a barrier (the transfer alone). ``--model resnet20`` times a CIFAR ResNet-20 (0.27M
parameters) instead, for docs/scaling.md. Not a pytest suite (run it directly).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tapegraph as tg  # noqa: E402
from tapegraph import distributed as dist  # noqa: E402
from tapegraph import losses, nn, optim  # noqa: E402


class Block(nn.Module):
    """ResNet basic block: conv-bn-relu-conv-bn + shortcut (a 1x1 strided conv when the shape changes), relu."""

    def __init__(self, filters, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2D(filters, 3, strides=stride, padding=1, use_bias=False), nn.BatchNorm()
        self.c2, self.b2 = nn.Conv2D(filters, 3, padding=1, use_bias=False), nn.BatchNorm()
        self.proj = nn.Conv2D(filters, 1, strides=stride, use_bias=False) if stride != 1 else None

    def forward(self, x):
        h = tg.relu(self.b1(self.c1(x)))
        h = self.b2(self.c2(h))
        return tg.relu(h + (x if self.proj is None else self.proj(x)))


def resnet20(n_classes=10):
    layers = [nn.Conv2D(16, 3, padding=1, use_bias=False), nn.BatchNorm(), nn.ReLU()]
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        layers += [Block(filters, stride), Block(filters, 1), Block(filters, 1)]
    layers += [nn.AvgPool2D(8), nn.Flatten(), nn.Dense(n_classes)]
    return nn.Sequential(layers, input_shape=(3, 32, 32))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64, help="global batch (split evenly over the ranks)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--model", choices=["mnist", "resnet20"], default="mnist")
    args = ap.parse_args(argv)
    dist.init()
    n, r = dist.size(), dist.rank()
    if args.batch % n:
        raise SystemExit(f"dist_step: --batch {args.batch} is not divisible by {n} ranks")
    local = args.batch // n
    tg.manual_seed(0)
    if args.model == "mnist":
        from examples.mnist import build_model
        model, shape = build_model(), (1, 28, 28)
    else:
        model, shape = resnet20(), (3, 32, 32)
    dist.broadcast_parameters(model)
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    rng = np.random.default_rng(r)
    x, y = rng.standard_normal((local,) + shape).astype(np.float32), rng.integers(0, 10, local)
    step_s, ar_s = [], []
    for i in range(args.warmup + args.steps):
        dist.barrier()
        t0 = time.perf_counter()
        with tg.Tape() as tape:
            loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
        tape.backward(loss)
        opt.step()
        if i >= args.warmup:
            step_s.append(time.perf_counter() - t0)
            ar_s.append(opt.allreduce_seconds)
        grads = [p.grad for p in model.parameters()]
        opt.zero_grad()
    alone = []
    if n > 1:                                          # the transfer alone: everyone ready, same bucket
        for p, g in zip(model.parameters(), grads):
            p.grad = g
        for _ in range(args.steps):
            dist.barrier()
            alone.append(dist.allreduce_gradients(model.parameters()))
    ms = lambda v: 1e3 * float(np.median(v)) if v else 0.0  # noqa: E731
    step = float(np.median(step_s))
    nparams = model.count_params()
    if dist.is_primary():
        threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
        print(f"{args.model}: {nparams:,} params ({4 * nparams / 2**20:.2f} MiB float32 gradients), global batch "
              f"{args.batch} = {n} rank(s) x {local}, {threads} BLAS thread(s) per rank")
        print(f"  step {ms(step_s):.1f} ms (median of {args.steps}), {args.batch / step:,.0f} images/s; "
              f"allreduce in step {ms(ar_s):.2f} ms ({100 * ms(ar_s) / ms(step_s):.1f}%), "
              f"allreduce alone {ms(alone):.2f} ms")


if __name__ == "__main__":
    main()
