"""The ring-allreduce scaling model of docs/scaling.md: prints its tables (markdown).

    python benchmarks/scaling_model.py [--mnist 69.5,6.5] [--resnet 1549,58.9]

Per step: t(p) = compute(b) + 2 (p - 1) / p * bytes / bandwidth + 2 (p - 1) * latency (ring allreduce of float32
gradients, no overlap with backward). compute(b) = s1 + (b - 1) (s64 - s1) / 63 interpolates the 1-thread steps
measured at batch 64 and batch 1 (benchmarks/dist_step.py; s1 is the per-step overhead that does not shrink with
the batch), at b = 64 / p for a fixed global batch of 64 (strong scaling) or b = 64 per node (weak scaling).
"""
from __future__ import annotations

import argparse

MODELS = {"MNIST CNN": 315_146, "ResNet-20": 272_282}
LINKS = {"10 Gb/s": (10e9 / 8, 50e-6), "100 Gb/s": (100e9 / 8, 5e-6)}     # bytes/s, per-hop latency
NODES = (1, 2, 4, 8, 16, 32, 64)


def allreduce_s(p, nbytes, bw, lat):
    return 0.0 if p == 1 else 2 * (p - 1) / p * nbytes / bw + 2 * (p - 1) * lat


def compute_s(b, s64, s1):
    return s1 + (b - 1) * (s64 - s1) / 63


def table(name, params, steps, strong):
    nbytes = 4 * params
    head = "| nodes | " + " | ".join(f"{k}: allreduce ms / step ms / speedup" for k in LINKS) + " |"
    rows = [head, "|" + "---|" * (1 + len(LINKS))]
    best = {k: (0, 0.0) for k in LINKS}
    s64 = steps[0]
    for p in NODES:
        cells = []
        for link, (bw, lat) in LINKS.items():
            comp = compute_s(64 / p if strong else 64, *steps)
            ar = allreduce_s(p, nbytes, bw, lat)
            t = comp + ar
            speedup = s64 / t if strong else p * s64 / t
            best[link] = max(best[link], (speedup, p))
            cells.append(f"{1e3 * ar:.2f} / {1e3 * t:.1f} / {speedup:.1f}x ({100 * speedup / p:.0f}%)")
        rows.append(f"| {p} | " + " | ".join(cells) + " |")
    if strong:
        rows.append("\nBest speedup: " + "; ".join(f"{k}: {v[0]:.1f}x at {v[1]} nodes" for k, v in best.items()))
    kind = "global batch 64 split over the nodes" if strong else "64 images per node"
    return f"**{name}** ({params:,} params, {nbytes / 1e6:.2f} MB of gradients; {kind})\n\n" + "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    pair = lambda v: tuple(float(t) / 1e3 for t in v.split(","))  # noqa: E731
    ap.add_argument("--mnist", type=pair, default="69.5,6.5", help="measured 1-thread steps at batch 64,1 (ms)")
    ap.add_argument("--resnet", type=pair, default="1549,58.9", help="measured 1-thread steps at batch 64,1 (ms)")
    a = ap.parse_args(argv)
    steps = {"MNIST CNN": a.mnist, "ResNet-20": a.resnet}
    for strong in (True, False):
        for name, params in MODELS.items():
            print(table(name, params, steps[name], strong), end="\n\n")


if __name__ == "__main__":
    main()
