"""PyTorch side of bench_conv_more.py, run in its own process (so its allocator and threads do not share a process
with numpy's): prints one JSON object {case_id: median seconds of forward + both gradients}.

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 python benchmarks/torch_conv_more.py [case ...]
"""
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_more_cases import CASES, data  # noqa: E402


def main(argv):
    import torch
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    F = torch.nn.functional
    rounds = int(os.environ.get("BENCH_ROUNDS", "15"))
    out = {}
    for cid in (argv or list(CASES)):
        spec = CASES[cid]
        x, w, g = (torch.from_numpy(a) for a in data(cid))
        x.requires_grad_(True)
        w.requires_grad_(True)
        kw = dict(spec["kwargs"])
        fn = {"conv2d": F.conv2d, "conv1d": F.conv1d, "conv_transpose2d": F.conv_transpose2d}[spec["op"]]

        def step():
            torch.autograd.grad(fn(x, w, **kw), (x, w), g)
        for _ in range(3):
            step()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        out[cid] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
