"""Grouped, depthwise, transposed and 1-D convolution, forward + both gradients (float32, no bias), tapegraph
against PyTorch. PyTorch runs in a separate process (benchmarks/torch_conv_more.py --serve, 2 threads, glibc malloc
thresholds raised as tapegraph's import does); its rows time a round trip to that process.

    python -m pytest benchmarks/bench_conv_more.py --benchmark-only --benchmark-group-by=group \\
        --benchmark-json=out/conv_more.json && python benchmarks/report.py out/conv_more.json

Shapes are in benchmarks/conv_more_cases.py; the chosen algorithm is in each tapegraph row's extra_info.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

import tapegraph as tg
from conv_more_cases import CASES, data

HERE = os.path.dirname(os.path.abspath(__file__))
IDS = list(CASES)
ROUNDS = dict(rounds=15, warmup_rounds=3)


def _group(benchmark, cid, impl, label):
    benchmark.group = f"{cid} fwd+both"
    benchmark.extra_info.update(impl=impl, label=label, shape=cid, pass_="fwd+both", batch=CASES[cid]["x"][0])


@pytest.mark.parametrize("cid", IDS)
def test_conv_more_tapegraph(benchmark, cid):
    spec = CASES[cid]
    x, w, g = data(cid)
    tx, tw = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
    fn = getattr(tg, spec["op"])

    def step():
        with tg.Tape() as tape:
            y = fn(tx, tw, **spec["kwargs"])
        tape.backward(y, g)
        return tape

    tape = step()
    _group(benchmark, cid, "tapegraph", "tapegraph")
    benchmark.extra_info["algorithm"] = tape[0].attrs["algorithm"] if len(tape) else None
    benchmark.pedantic(step, **ROUNDS)


@pytest.fixture(scope="module")
def torch_worker():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed")
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="268435456",
               TORCH_THREADS=os.environ.get("TORCH_THREADS", "2"))
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "torch_conv_more.py"), "--serve"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


@pytest.mark.parametrize("cid", IDS)
def test_conv_more_torch(benchmark, torch_worker, cid):
    def step():
        torch_worker.stdin.write(cid + "\n")
        torch_worker.stdin.flush()
        if torch_worker.stdout.readline() != "ok\n":
            raise RuntimeError(f"torch_conv_more.py --serve failed on {cid}")

    _group(benchmark, cid, "torch", f"torch (separate process, {os.environ.get('TORCH_THREADS', '2')} threads)")
    benchmark.pedantic(step, **ROUNDS)
