"""PyTorch side of bench_conv_more.py, in its own process (its allocator and threads never share one with numpy's).

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 python benchmarks/torch_conv_more.py [case ...]
        prints {case: median seconds of forward + both gradients} as JSON
    python benchmarks/torch_conv_more.py --serve
        reads one case id per stdin line, runs one forward + both gradients, answers "ok" (bench_conv_more times
        these round trips; a pipe round trip costs tens of microseconds)

Threads: TORCH_THREADS (default 2, the reference machine's cores).
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_more_cases import CASES, data  # noqa: E402


def _steps(torch):
    F = torch.nn.functional
    fns = {"conv2d": F.conv2d, "conv1d": F.conv1d, "conv_transpose2d": F.conv_transpose2d}
    cache = {}

    def step(cid):
        if cid not in cache:
            x, w, g = (torch.from_numpy(a) for a in data(cid))
            x.requires_grad_(True)
            w.requires_grad_(True)
            cache[cid] = (fns[CASES[cid]["op"]], x, w, g, CASES[cid]["kwargs"])
        fn, x, w, g, kw = cache[cid]
        torch.autograd.grad(fn(x, w, **kw), (x, w), g)
    return step


def main(argv):
    import torch
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    step = _steps(torch)
    if argv[:1] == ["--serve"]:
        for line in sys.stdin:
            step(line.strip())
            sys.stdout.write("ok\n")
            sys.stdout.flush()
        return
    rounds = int(os.environ.get("BENCH_ROUNDS", "15"))
    out = {}
    for cid in (argv or list(CASES)):
        for _ in range(3):
            step(cid)
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            step(cid)
            times.append(time.perf_counter() - t0)
        out[cid] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
