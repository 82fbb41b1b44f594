"""Whole steps, tapegraph vs PyTorch, each engine in its own process: the numbers the README's table comes from.

    PYTHONPATH=$PWD python benchmarks/steps.py --repeats 5 --json out/steps.json > out/steps.md
    PYTHONPATH=$PWD python benchmarks/steps.py --models lenet5 --batches 256 --repeats 3
    PYTHONPATH=$PWD python benchmarks/steps.py --profile mnist_cnn:64       # tape profile by op kind, one step

Method: for every (model, batch) and every repeat, one fresh process per engine runs ``--warmup`` steps and then
times ``--steps`` steps (or as many as fit in ``--seconds``, at least 5); the engines' order alternates between
repeats, and repeats go round all configurations so a noisy spell hits both engines alike. A configuration's time
is the median over repeats of each process's median step. Both processes get the same thread budget
(``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` and ``torch.set_num_threads``), no
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, and the same glibc malloc thresholds
(``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456``) unless ``--tapegraph-malloc`` says
otherwise for tapegraph's process (``glibc``: glibc's defaults; with ``TAPEGRAPH_MALLOC_TUNING=0`` too), and
``OPENBLAS_THREAD_TIMEOUT=4`` unless ``--blas-spin default``: OpenBLAS's idle threads then sleep at once instead of
spinning ~0.1 s after every GEMM on the core that tapegraph's own threads need for the non-BLAS passes (torch runs
its ops on OpenMP and MKL; the variable is set for it too, as the same environment). Each process reports its
peak RSS and the kernels it ran: OpenBLAS's core type and threads (threadpoolctl, when installed), torch's CPU
capability, BLAS and oneDNN.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINES = ("tapegraph", "torch")
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "268435456"}
SHORT_SPIN = {"OPENBLAS_THREAD_TIMEOUT": "4"}                  # read when numpy loads OpenBLAS: set before that
DEFAULT_CONFIGS = (("mnist_cnn", 64), ("mnist_cnn", 256), ("lenet5", 256), ("resnet_small", 128),
                   ("mnist_cnn_predict", 256), ("depthwise_block", 128), ("conv_transpose_decoder", 128))


# -- the worker: one engine, one configuration, one process ----------------------------------------------------------
def _kernels(engine: str) -> dict:
    info = {"blas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "OpenBLAS default")}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                                      "threading_layer")} for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    if engine == "torch":
        import torch
        cfg = torch.__config__.show()
        blas = next((p.split("=", 1)[1] for p in cfg.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
        info.update(torch=torch.__version__, cpu_capability=torch.backends.cpu.get_cpu_capability(), blas=blas,
                    mkldnn=bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
                    threads=torch.get_num_threads())
    else:
        import numpy as np
        import tapegraph as tg
        info.update(numpy=np.__version__, malloc_tuned_on_import=bool(tg.allocator.tuned),
                    tapegraph_threads=getattr(getattr(tg, "threads", None), "THREADS", None))
    return info


def worker(engine, model, batch, steps, warmup, seconds, threads) -> dict:
    import resource
    sys.path.insert(0, HERE)
    if engine == "torch":
        import torch
        torch.set_num_threads(threads)
    from step_models import make_step
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step = make_step(engine, model, batch)
    for _ in range(warmup):
        step()
    times = []
    t_end = time.perf_counter() + seconds
    while len(times) < steps and (len(times) < 5 or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"engine": engine, "model": model, "batch": batch, "median_ms": 1e3 * statistics.median(times),
            "min_ms": 1e3 * min(times),
            "times_ms": [round(1e3 * t, 3) for t in times], "peak_rss_mb": resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_after_import_mb": rss_import, "kernels": _kernels(engine)}


# -- the driver --------------------------------------------------------------------------------------------------
def engine_env(engine: str, threads: int, tapegraph_malloc: str, root: str, blas_spin: str = "short") -> dict:
    env = dict(os.environ)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TAPEGRAPH_MALLOC_TUNING", *MALLOC_ENV, *SHORT_SPIN):
        env.pop(var, None)
    if blas_spin == "short":
        env.update(SHORT_SPIN)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if engine == "torch" or tapegraph_malloc == "same":
        env.update(MALLOC_ENV)
    elif tapegraph_malloc == "off":
        env["TAPEGRAPH_MALLOC_TUNING"] = "0"
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_one(engine, model, batch, args) -> dict:
    """One process. ``engine`` may carry a malloc mode for tapegraph's process (``tapegraph@off``) and extra
    environment (``tapegraph+TAPEGRAPH_NUM_THREADS=1``); ``base`` is tapegraph from the checkout ``--base`` names
    (before/after comparisons)."""
    engine, *extra = engine.split("+")
    engine, _, malloc = engine.partition("@")
    root = os.path.dirname(HERE)
    if engine == "base":
        engine, root = "tapegraph", os.path.abspath(args.base)
    cmd = [sys.executable, os.path.join(root, "benchmarks", "steps.py"), "--worker", engine, model, str(batch),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--seconds", str(args.seconds),
           "--threads", str(args.threads)]
    env = engine_env(engine, args.threads, malloc or args.tapegraph_malloc, root, args.blas_spin)
    env.update(kv.split("=", 1) for kv in extra)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"steps.py: {engine} {model} batch {batch} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: dict, configs) -> str:
    head = ("| model | batch | tapegraph ms | PyTorch ms | tapegraph images/s | PyTorch images/s | "
            "tapegraph / PyTorch throughput | peak RSS tapegraph / PyTorch (MB) |")
    lines = [head, "|" + "---|" * 8]
    for model, batch in configs:
        r = results.get(f"{model}:{batch}")
        if not r:
            continue
        tg, th = r["tapegraph"]["median_ms"], r["torch"]["median_ms"]
        lines.append(f"| {model} | {batch} | {tg:.1f} | {th:.1f} | {batch / tg * 1e3:,.0f} | {batch / th * 1e3:,.0f}"
                     f" | **{th / tg:.2f}x** | {r['tapegraph']['peak_rss_mb']:.0f} / {r['torch']['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=3, metavar=("ENGINE", "MODEL", "BATCH"), help=argparse.SUPPRESS)
    ap.add_argument("--models", nargs="*", help="model names (default: all that tapegraph has)")
    ap.add_argument("--batches", nargs="*", type=int, help="batch sizes (default: each model's standard ones)")
    ap.add_argument("--engines", nargs="*", default=list(ENGINES),
                    help="tapegraph, torch, base (see --base); a suffix @same|import|off sets tapegraph's malloc mode, "
                         "+VAR=VALUE adds to the process's environment")
    ap.add_argument("--base", help="another checkout; the engine 'base' runs tapegraph from it")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="stop timing a process after this long (>= 5 steps)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tapegraph-malloc", choices=("same", "import", "off"), default="same",
                    help="tapegraph's allocator: 'same' env thresholds as torch (default), 'import' (glibc "
                         "defaults; whatever import tapegraph does), 'off' (glibc defaults, TAPEGRAPH_MALLOC_TUNING=0)")
    ap.add_argument("--blas-spin", choices=("short", "default"), default="short",
                    help="'short': OPENBLAS_THREAD_TIMEOUT=4 for every engine (default); 'default': OpenBLAS's "
                         "own spin")
    ap.add_argument("--json", help="write every process's result here")
    ap.add_argument("--profile", nargs="*", metavar="MODEL:BATCH",
                    help="instead of timing, print the tape profile by op kind of one step of each")
    args = ap.parse_args(argv)

    if args.worker:
        engine, model, batch = args.worker
        print(json.dumps(worker(engine, model, int(batch), args.steps, args.warmup, args.seconds, args.threads)))
        return
    if args.profile is not None:
        if args.blas_spin == "short" and "numpy" not in sys.modules:
            os.environ.update(SHORT_SPIN)                   # this process profiles: before numpy loads OpenBLAS
        sys.path.insert(0, HERE)
        from step_models import tg_profile
        for spec in args.profile or [f"{m}:{b}" for m, b in DEFAULT_CONFIGS if not m.endswith("_predict")]:
            model, batch = spec.split(":")
            print(f"## {model}, batch {batch}\n")
            tg_profile(model, int(batch)).summary()
            print()
        return

    sys.path.insert(0, HERE)
    from step_models import available
    configs = [(m, b) for m, b in DEFAULT_CONFIGS if (not args.models or m in args.models)]
    if args.batches:
        models = list(dict.fromkeys(m for m, _ in configs))
        configs = [(m, b) for m in models for b in args.batches]
    configs = [(m, b) for m, b in configs if available(m)]
    runs: dict = {f"{m}:{b}": {e: [] for e in args.engines} for m, b in configs}
    load = [os.getloadavg()[0]]
    for rep in range(args.repeats):
        for model, batch in configs:
            order = args.engines if rep % 2 == 0 else args.engines[::-1]
            for engine in order:
                r = run_one(engine, model, batch, args)
                runs[f"{model}:{batch}"][engine].append(r)
                print(f"# rep {rep} {model} b{batch} {engine}: {r['median_ms']:.2f} ms", file=sys.stderr)
        load.append(os.getloadavg()[0])
    results = {}
    for key, per in runs.items():
        results[key] = {}
        for engine, rs in per.items():
            results[key][engine] = {"median_ms": statistics.median(r["median_ms"] for r in rs),
                                    "min_ms": min(r.get("min_ms", r["median_ms"]) for r in rs),
                                    "per_process_ms": [round(r["median_ms"], 3) for r in rs],
                                    "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
                                    "kernels": rs[0]["kernels"]}
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": args.threads,
            "repeats": args.repeats, "tapegraph_malloc": args.tapegraph_malloc,
            "load_average_1min": [round(v, 2) for v in load], "cpus": os.cpu_count()}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results, "runs": runs}, f, indent=1)
    kern = {e: next(iter(results.values()))[e]["kernels"] for e in args.engines} if results else {}
    print(f"_{meta['date']}, {args.threads} threads, {args.repeats} repeats, tapegraph malloc: "
          f"{args.tapegraph_malloc}, load average {min(load):.1f}-{max(load):.1f}_\n")
    if {"tapegraph", "torch"} <= set(args.engines):
        print(table(results, configs))
        print()
    if sorted(args.engines) != sorted(ENGINES):
        for key, per in results.items():
            print(f"- {key}: median ms", {e: round(v["median_ms"], 2) for e, v in per.items()},
                  "best ms", {e: round(v["min_ms"], 2) for e, v in per.items()},
                  "peak RSS MB", {e: round(v["peak_rss_mb"]) for e, v in per.items()})
    print()
    for e, k in kern.items():
        print(f"- {e}: {json.dumps(k)}")


if __name__ == "__main__":
    main()
