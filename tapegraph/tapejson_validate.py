"""Reading and checking a tape JSON export (schema ``tapegraph.tape/1``, written by ``save_json``).

A file from elsewhere can be anything: not UTF-8, not JSON, empty, nested thousands deep, or JSON of the wrong
shape. ``read`` and ``validate`` turn every such defect into a ValueError that names the file (or the caller) and
the JSON path of the first bad field, so ``load_json``/``diff`` never fail later with a KeyError or a TypeError.
"""
from __future__ import annotations

import json
import os

SCHEMA = "tapegraph.tape/1"
MAX_BYTES = 1 << 30          # a tape export of a million ops is ~300 MB
_KINDS = {"parameter", "input", "constant", "intermediate"}


def read(path, who: str = "load_json") -> dict:
    """Parse and validate the file at ``path``; ValueError naming it on any defect."""
    where = f"{who}: {os.fspath(path)}"
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{where} is larger than {MAX_BYTES} bytes; not a tape export")
    if not raw.strip():
        raise ValueError(f"{where} is empty; expected a tape export (schema {SCHEMA!r})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where} is not UTF-8 text (byte {e.start}); expected a tape export") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise ValueError(f"{where} nests JSON too deeply to be a tape export") from None
    return validate(data, where)


def validate(data, where: str) -> dict:
    """Check ``data`` against the schema (see tapegraph/profile.py); returns it, or raises ValueError."""
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("tapegraph.tape/"):
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{where} is not a tapegraph tape export (schema {got!r}, expected {SCHEMA!r})")
    if data["schema"] != SCHEMA:
        raise ValueError(f"{where} has schema {data['schema']!r}; this version reads {SCHEMA!r}")
    _need(data, "profiled", bool, where, "")
    tensors = _need(data, "tensors", dict, where, "")
    nodes = _need(data, "nodes", list, where, "")
    for k, t in tensors.items():
        at = f"tensors[{k!r}]"
        if not k.isdigit():
            _bad(where, at, "tensor ids are non-negative integers as strings")
        if not isinstance(t, dict):
            _bad(where, at, f"expected an object, got {type(t).__name__}")
        shape = _need(t, "shape", list, where, at)
        if not all(_is_int(s) and s >= 0 for s in shape):
            _bad(where, at + ".shape", f"expected a list of non-negative ints, got {_short(shape)}")
        _need(t, "dtype", str, where, at)
        _need(t, "requires_grad", bool, where, at)
        if t.get("name") is not None and not isinstance(t.get("name"), str):
            _bad(where, at + ".name", "expected a string or null")
        if _need(t, "kind", str, where, at) not in _KINDS:
            _bad(where, at + ".kind", f"expected one of {sorted(_KINDS)}, got {_short(t['kind'])}")
    for i, n in enumerate(nodes):
        at = f"nodes[{i}]"
        if not isinstance(n, dict):
            _bad(where, at, f"expected an object, got {type(n).__name__}")
        if not _is_int(_need(n, "index", int, where, at)):
            _bad(where, at + ".index", "expected an int")
        _need(n, "op", str, where, at)
        _need(n, "attrs", dict, where, at)
        _need(n, "layer", str, where, at)
        ins = _need(n, "inputs", list, where, at)
        flags = _need(n, "needs_input_grad", list, where, at)
        for j, tid in enumerate(ins + [_need(n, "output", int, where, at)]):
            name = f"{at}.inputs[{j}]" if j < len(ins) else f"{at}.output"
            if not _is_int(tid) or str(tid) not in tensors:
                _bad(where, name, f"tensor id {_short(tid)} is not in 'tensors'")
        if len(flags) != len(ins) or not all(isinstance(b, bool) for b in flags):
            _bad(where, at + ".needs_input_grad", f"expected {len(ins)} booleans, got {_short(flags)}")
        st = n.get("stats")
        if st is not None:
            if not isinstance(st, dict):
                _bad(where, at + ".stats", "expected an object or null")
            if not _is_num(st.get("forward_s")):
                _bad(where, at + ".stats.forward_s", "expected a number")
            if st.get("backward_s") is not None and not _is_num(st.get("backward_s")):
                _bad(where, at + ".stats.backward_s", "expected a number or null")
            if not _is_int(st.get("saved_bytes")):
                _bad(where, at + ".stats.saved_bytes", "expected an int")
        elif data["profiled"]:
            _bad(where, at + ".stats", "is null but the export says profiled: true")
    return data


def _need(d, key, typ, where, at):
    if key not in d:
        _bad(where, f"{at}.{key}" if at else key, "missing")
    v = d[key]
    ok = _is_int(v) if typ is int else isinstance(v, typ)
    if not ok:
        _bad(where, f"{at}.{key}" if at else key, f"expected {typ.__name__}, got {type(v).__name__}")
    return v


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _short(v, n=40) -> str:
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


def _bad(where, at, what):
    raise ValueError(f"{where}: {at}: {what}")
