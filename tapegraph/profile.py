"""Read a tape: the profile table, a JSON export and a comparison of two runs.

Everything here reads only ``Tape.nodes`` (see tapegraph/tape.py); nothing hooks into the ops.

JSON schema ``tapegraph.tape/1`` (``to_json``; ``save_json`` writes it, ``load_json`` reads it back)::

    {"schema": "tapegraph.tape/1",
     "profiled": bool,                      # every node has stats (recorded with Tape(profile=True))
     "nodes": [{"index": int,               # position on the tape (execution order)
                "op": str,                  # registry name, e.g. "matmul"
                "attrs": {str: value},      # JSON-safe, see below
                "inputs": [tensor id, ...],
                "output": tensor id,
                "needs_input_grad": [bool, ...],
                "layer": str,               # dotted module name, "" outside any module
                "stats": null | {"forward_s": float, "backward_s": float | null, "saved_bytes": int}}],
     "tensors": {"<id>": {"shape": [int, ...], "dtype": str, "name": str | null, "requires_grad": bool,
                          "kind": "parameter" | "input" | "constant" | "intermediate",
                          "value": number}}}   # "value" only for constants

Tensor ids are small integers ("0", "1", ... as JSON object keys) given in order of first appearance on the tape,
so two runs of the same code give equal JSON apart from ``stats``. Kinds: a leaf that requires a gradient is a
``parameter`` when it has a name, else an ``input``; a leaf without gradient is an ``input`` (data), or a
``constant`` when 0-d; anything an op produced is ``intermediate``. Attribute values: tuples become lists, numpy
scalars Python numbers, arrays ``{"array": shape, "dtype": str}``, slices ``{"slice": [start, stop, step]}``,
``...`` ``{"ellipsis": true}``, non-finite floats the strings "inf"/"-inf"/"nan", anything else its ``repr``.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile

import numpy as np

from .tapejson_validate import SCHEMA, read, validate  # one schema tag, one validator


# -- shared helpers (the renderer uses them too) -----------------------------------------------------------------
def tensor_kind(t, produced) -> str:
    """parameter | input | constant | intermediate, from the tape's records only (``produced``: ids of outputs)."""
    if id(t) in produced or not t.is_leaf:
        return "intermediate"
    if t.requires_grad:
        return "parameter" if t.name else "input"
    return "constant" if len(t.shape) == 0 else "input"


def shape_str(t) -> str:
    """``float32[64, 10]`` (as the tape's repr writes it); ``float32 scalar`` for 0-d."""
    if len(t.shape) == 0:
        return f"{t.dtype} scalar"
    return f"{t.dtype}[{', '.join(str(s) for s in t.shape)}]"


def short_shape(t) -> str:
    """``f32[64,10]``: the compact form for tables."""
    d = np.dtype(t.dtype)
    code = {"f": "f", "i": "i", "u": "u", "b": "b", "c": "c"}.get(d.kind, d.kind)
    kind = "bool" if d.kind == "b" else f"{code}{d.itemsize * 8}"
    return f"{kind}[{','.join(str(s) for s in t.shape)}]"


def _nodes(tape, who: str) -> list:
    nodes = getattr(tape, "nodes", None)
    if not isinstance(nodes, list):
        raise TypeError(f"{who}: expected a Tape, got {type(tape).__name__}")
    return nodes


def _require_stats(nodes, who: str):
    missing = [i for i, n in enumerate(nodes) if n.stats is None]
    if missing:
        raise ValueError(f"{who}: the tape was not profiled ({len(missing)} of {len(nodes)} ops have no timings, "
                         f"first at index {missing[0]}); record it with tg.Tape(profile=True)")


def _cost(stats) -> float:
    return stats["forward_s"] + (stats["backward_s"] or 0.0)


# -- the profile table ---------------------------------------------------------------------------------------------
def summary(tape, file=None, top=None) -> str:
    """Print (to ``file``, default stdout) and return the profile of a ``Tape(profile=True)``.

    One row per op, most expensive first (forward + backward time): op, layer, input and output shapes, forward ms,
    backward ms, saved MB, share of the total; a total line; then the same aggregated per op kind. ``top`` keeps the
    ``top`` most expensive rows of the first table.
    """
    nodes = _nodes(tape, "summary")
    if top is not None and (not isinstance(top, int) or top < 1):
        raise ValueError(f"summary: top must be a positive int or None, got {top!r}")
    if not nodes:
        text = "tape profile: 0 ops"
        print(text, file=file or sys.stdout)
        return text
    _require_stats(nodes, "summary")
    fwd = sum(n.stats["forward_s"] for n in nodes)
    bwd = sum(n.stats["backward_s"] or 0.0 for n in nodes)
    saved = sum(n.stats["saved_bytes"] for n in nodes)
    total = fwd + bwd or 1.0

    def ms(s):
        return "-" if s is None else f"{s * 1e3:.3f}"

    def clip(s, width=44):
        return s if len(s) <= width else s[: width - 3] + "..."

    order = sorted(range(len(nodes)), key=lambda i: -_cost(nodes[i].stats))
    shown = order if top is None else order[:top]
    rows = [("#", "op", "layer", "inputs", "output", "fwd ms", "bwd ms", "saved MB", "share")]
    for i in shown:
        n = nodes[i]
        st = n.stats
        rows.append((str(i), n.op.name, n.layer or "-", clip(" ".join(short_shape(t) for t in n.inputs)),
                     short_shape(n.output), ms(st["forward_s"]), ms(st["backward_s"]),
                     f"{st['saved_bytes'] / 1e6:.3f}", f"{100 * _cost(st) / total:.1f}%"))
    rest = order[len(shown):]
    if rest:
        rc = sum(_cost(nodes[i].stats) for i in rest)
        rows.append(("", f"... {len(rest)} more ops", "", "", "", "", "", "", f"{100 * rc / total:.1f}%"))
    rows.append(("", f"total ({len(nodes)} ops)", "", "", "", ms(fwd), ms(bwd), f"{saved / 1e6:.3f}", "100.0%"))

    kinds: dict = {}
    for n in nodes:
        k = kinds.setdefault(n.op.name, [0, 0.0, 0.0, 0])
        k[0] += 1
        k[1] += n.stats["forward_s"]
        k[2] += n.stats["backward_s"] or 0.0
        k[3] += n.stats["saved_bytes"]
    krows = [("op", "count", "fwd ms", "bwd ms", "saved MB", "share")]
    for name, (c, f, b, s) in sorted(kinds.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
        krows.append((name, str(c), ms(f), ms(b), f"{s / 1e6:.3f}", f"{100 * (f + b) / total:.1f}%"))

    head = (f"tape profile: {len(nodes)} ops, forward {fwd * 1e3:.3f} ms, backward {bwd * 1e3:.3f} ms, "
            f"saved {saved / 1e6:.3f} MB")
    text = "\n".join([head, "", _table(rows, numeric_from=5, rule_before_last=True), "",
                      "by op kind:", _table(krows, numeric_from=1)])
    print(text, file=file or sys.stdout)
    return text


def _table(rows, numeric_from: int, rule_before_last: bool = False) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]

    def line(r):
        cells = [r[c].rjust(widths[c]) if c >= numeric_from else r[c].ljust(widths[c]) for c in range(len(r))]
        return "  ".join(cells).rstrip()

    out = [line(rows[0]), "-" * len(line(rows[0]))]
    out += [line(r) for r in rows[1:-1]]
    if rule_before_last:
        out.append("-" * len(out[0]))
    out.append(line(rows[-1]))
    return "\n".join(out)


# -- JSON export -----------------------------------------------------------------------------------------------------
def json_safe(v):
    """An attribute value as plain JSON data (see the module docstring)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, np.ndarray):
        return {"array": list(v.shape), "dtype": str(v.dtype)}
    if isinstance(v, np.generic):
        return json_safe(v.item())
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (tuple, list)):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, slice):
        return {"slice": [json_safe(v.start), json_safe(v.stop), json_safe(v.step)]}
    if v is Ellipsis:
        return {"ellipsis": True}
    if isinstance(v, (np.dtype, type)):
        return str(np.dtype(v)) if isinstance(v, np.dtype) or issubclass(v, np.generic) else v.__name__
    return repr(v)


def to_json(tape) -> dict:
    """The tape as plain data: ops, attributes, tensors by small id, layers, profile stats (schema above)."""
    nodes = _nodes(tape, "to_json")
    produced = {id(n.output) for n in nodes}
    ids: dict = {}
    tensors: dict = {}

    def tid(t) -> int:
        k = id(t)
        if k not in ids:
            ids[k] = len(ids)
            kind = tensor_kind(t, produced)
            rec = {"shape": [int(s) for s in t.shape], "dtype": str(t.dtype), "name": t.name,
                   "requires_grad": bool(t.requires_grad), "kind": kind}
            if kind == "constant" and hasattr(t, "data"):
                rec["value"] = json_safe(t.data.item())
            tensors[str(ids[k])] = rec
        return ids[k]

    out_nodes = []
    for i, n in enumerate(nodes):
        ins = [tid(t) for t in n.inputs]
        st = n.stats
        out_nodes.append({
            "index": i, "op": n.op.name, "attrs": json_safe(dict(n.attrs)), "inputs": ins, "output": tid(n.output),
            "needs_input_grad": [bool(b) for b in n.needs_input_grad], "layer": n.layer,
            "stats": None if st is None else {"forward_s": float(st["forward_s"]),
                                              "backward_s": None if st["backward_s"] is None
                                              else float(st["backward_s"]),
                                              "saved_bytes": int(st["saved_bytes"])},
        })
    return {"schema": SCHEMA, "profiled": bool(nodes) and all(n.stats is not None for n in nodes),
            "nodes": out_nodes, "tensors": tensors}


def save_json(tape, path):
    """Write ``to_json(tape)`` to ``path`` atomically (a temporary file in the same folder, then os.replace)."""
    data = to_json(tape)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tape-", suffix=".json.tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load_json(path) -> dict:
    """Read a file written by ``save_json``; validates the whole schema (ValueError naming the file and field)."""
    return read(path, "load_json")


# -- comparing two runs --------------------------------------------------------------------------------------------
def diff(a, b) -> str:
    """Compare two runs (Tapes, ``to_json`` dicts or saved JSON paths): where the op sequence first differs, then
    per op kind the counts and, when both were profiled, forward/backward ms and the ratio b/a. Returns the text."""
    da, db = (_as_json(x) for x in (a, b))
    na, nb = da["nodes"], db["nodes"]

    def sig(d, n):
        return (n["op"], [d["tensors"][str(t)]["shape"] for t in n["inputs"]], n["layer"])

    first = next((i for i, (x, y) in enumerate(zip(na, nb)) if sig(da, x) != sig(db, y)), None)
    if first is None and len(na) == len(nb):
        lines = [f"structure: same {len(na)} ops"]
    elif first is None:
        lines = [f"structure: a has {len(na)} ops, b has {len(nb)}; the first {min(len(na), len(nb))} agree"]
    else:
        def desc(d, n):
            ins = ", ".join(str(d["tensors"][str(t)]["shape"]) for t in n["inputs"])
            return f"{n['op']}({ins})" + (f" in {n['layer']}" if n["layer"] else "")
        lines = [f"structure: differs at node {first}: a {desc(da, na[first])} vs b {desc(db, nb[first])}"]

    timed = da["profiled"] and db["profiled"]
    agg: dict = {}
    for side, nodes in ((0, na), (1, nb)):
        for n in nodes:
            k = agg.setdefault(n["op"], [[0, 0.0, 0.0], [0, 0.0, 0.0]])[side]
            k[0] += 1
            if n["stats"]:
                k[1] += n["stats"]["forward_s"]
                k[2] += n["stats"]["backward_s"] or 0.0
    head = ("op", "count a", "count b") + (("fwd ms a", "fwd ms b", "bwd ms a", "bwd ms b", "b/a") if timed else ())
    rows = [head]
    tot = [[0, 0.0, 0.0], [0, 0.0, 0.0]]
    for name, (x, y) in sorted(agg.items(), key=lambda kv: -(kv[1][0][1] + kv[1][0][2] + kv[1][1][1] + kv[1][1][2])):
        for t, s in zip(tot, (x, y)):
            for j in range(3):
                t[j] += s[j]
        rows.append(_diff_row(name, x, y, timed))
    rows.append(_diff_row("total", *tot, timed))
    lines += ["", _table(rows, numeric_from=1, rule_before_last=True)]
    return "\n".join(lines)


def _diff_row(name, x, y, timed):
    row = (name, str(x[0]), str(y[0]))
    if timed:
        ca, cb = x[1] + x[2], y[1] + y[2]
        ratio = f"{cb / ca:.2f}" if ca > 0 else "-"
        row += (f"{x[1] * 1e3:.3f}", f"{y[1] * 1e3:.3f}", f"{x[2] * 1e3:.3f}", f"{y[2] * 1e3:.3f}", ratio)
    return row


def _as_json(x) -> dict:
    if isinstance(x, dict):
        return validate(x, "diff: the dict")
    if isinstance(x, (str, os.PathLike)):
        return load_json(x)
    if isinstance(getattr(x, "nodes", None), list):
        return to_json(x)
    raise TypeError(f"diff: expected a Tape, a to_json dict or a JSON path, got {type(x).__name__}")
