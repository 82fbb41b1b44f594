"""Anomaly mode: the first NaN/Inf made by a forward op or a backward rule raises FloatingPointError naming the op,
its tape index, the layer that ran it and the file:line of the user's code that called it.

Enabled per tape (``Tape(check_nan=True)``) or for every tape entered inside ``with tg.detect_anomaly():``.
Normal runs pay one flag test per recorded op.
"""
from __future__ import annotations

import contextlib
import os
import sys
from contextvars import ContextVar

import numpy as np

_enabled: ContextVar[bool] = ContextVar("tapegraph_detect_anomaly", default=False)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@contextlib.contextmanager
def detect_anomaly():
    """Every tape entered inside checks each forward output and backward gradient for NaN/Inf."""
    token = _enabled.set(True)
    try:
        yield
    finally:
        _enabled.reset(token)


def anomaly_enabled() -> bool:
    return _enabled.get()


def _user_frame() -> str:
    """file:line of the innermost caller outside the tapegraph package."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        f = f.f_back
    return "<unknown>" if f is None else f"{f.f_code.co_filename}:{f.f_lineno}"


def _bad(arr) -> bool:
    return isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and not np.isfinite(arr).all()


def _where(node, index) -> str:
    layer = f" in layer '{node.layer}'" if node.scope else ""
    origin = node.__dict__.get("_origin", "<unknown>")
    return f"op {node.op.name} (tape index {index}){layer}, called from {origin}"


def check_forward(node, out):
    node._origin = _user_frame()
    if _bad(out):
        tape_index = _index_on_tapes(node)
        from .tape import dtype_shapes
        shapes = dtype_shapes(node.inputs)
        raise FloatingPointError(f"anomaly: forward of {_where(node, tape_index)} produced "
                                 f"{_count(out)}; inputs: {shapes}")


def check_backward(node, index, in_grads):
    for pos, g in enumerate(in_grads):
        if g is not None and _bad(np.asarray(g)):
            raise FloatingPointError(f"anomaly: backward of {_where(node, index)} produced {_count(g)} in the "
                                     f"gradient of input {pos} (shape {list(np.shape(g))})")


def _count(arr) -> str:
    arr = np.asarray(arr)
    return f"{int(np.isnan(arr).sum())} NaN and {int(np.isinf(arr).sum())} Inf values"


def _index_on_tapes(node):
    from .tape import _active
    for tape in reversed(_active.get()):
        if tape.nodes and tape.nodes[-1] is node:
            return len(tape.nodes) - 1
    return "?"
