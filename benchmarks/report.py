"""Turn a pytest-benchmark JSON file into the Markdown tables the README shows.

    python -m pytest benchmarks/ --benchmark-only --benchmark-json=out/bench.json
    python benchmarks/report.py out/bench.json > out/bench.md

One table per benchmark group: median ms per method, ratio to the PyTorch entry of the same group (an entry whose
``extra_info["impl"]`` is "torch", or whose name mentions torch), and images/s where ``extra_info["batch"]`` is set.
The header names the machine (cores, CPU, BLAS, numpy/torch versions) and the date of the run.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict


def _is_torch(b: dict) -> bool:
    impl = (b.get("extra_info") or {}).get("impl")
    return impl == "torch" if impl else "torch" in b["name"].lower()


def _label(b: dict) -> str:
    """The method's name: the test name without the group's parameters."""
    extra = b.get("extra_info") or {}
    if extra.get("label"):
        return str(extra["label"])
    name = b["name"]
    return name.split("[", 1)[0].removeprefix("test_")


def _machine(data: dict) -> str:
    m = data.get("machine_info") or {}
    cpu = m.get("cpu") or {}
    parts = [f"date {data.get('datetime', '?')[:19]}"]
    cores = m.get("cores") or cpu.get("count")
    if cores:
        parts.append(f"{cores} cores")
    if cpu.get("brand_raw"):
        parts.append(cpu["brand_raw"])
    for key in ("blas", "numpy", "torch", "python_version"):
        if m.get(key):
            parts.append(f"{key.replace('_version', '')} {m[key]}")
    return ", ".join(parts)


def report(data: dict) -> str:
    groups: dict[str, list] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b.get("group") or b["name"].split("[", 1)[0]].append(b)
    lines = [f"_Machine: {_machine(data)}_", ""]
    for group in sorted(groups):
        rows = sorted(groups[group], key=lambda b: b["stats"]["median"])
        torch_ms = next((b["stats"]["median"] * 1e3 for b in rows if _is_torch(b)), None)
        has_batch = any((b.get("extra_info") or {}).get("batch") for b in rows)
        head = "| method | median ms | min ms |" + (" x torch |" if torch_ms else "") + (" images/s |" if has_batch else "")
        lines += [f"**{group}**", "", head, "|" + "---|" * (head.count("|") - 1)]
        for b in rows:
            med = b["stats"]["median"] * 1e3
            row = f"| {_label(b)} | {med:.2f} | {b['stats']['min'] * 1e3:.2f} |"
            if torch_ms:
                row += f" {med / torch_ms:.2f} |"
            if has_batch:
                batch = (b.get("extra_info") or {}).get("batch")
                row += f" {batch / (med / 1e3):,.0f} |" if batch else " |"
            lines.append(row)
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json_file")
    args = ap.parse_args(argv)
    with open(args.json_file) as f:
        data = json.load(f)
    if "benchmarks" not in data:
        sys.exit(f"report.py: {args.json_file} is not a pytest-benchmark JSON file (no 'benchmarks' key)")
    print(report(data))


if __name__ == "__main__":
    main()
