"""From tape records to what gets drawn: which ops (``target``), grouped into boxes (``collapse``), and the
tensors between them. Reads ``Tape.nodes`` only."""
from __future__ import annotations

import numpy as np

from ..profile import _nodes, shape_str
from ..tape import TensorMeta


def _saved_bytes(node):
    """Bytes kept for backward: the saved arrays if still there, else the profile's record, else None."""
    if node.saved is not None:
        return node.saved_nbytes()
    if node.stats is not None:
        return node.stats["saved_bytes"]
    return None


def _saved_arrays(node) -> list:
    if node.saved is None:
        return []
    return [a for a in (*node.saved, *node.__dict__.values()) if isinstance(a, np.ndarray)]


def _select(tape, target):
    """The (index, node) pairs to draw and the loss tensor (or None)."""
    nodes = _nodes(tape, "to_dot")
    if target is None:
        loss = nodes[-1].output if nodes and _size(nodes[-1].output) == 1 else None
        return list(enumerate(nodes)), loss
    end = next((i for i in range(len(nodes) - 1, -1, -1) if _is(nodes[i].output, target)), None)
    if end is None:
        released = getattr(tape, "_released", False)
        hint = (" The tape was released after backward, which replaces intermediate tensors by metadata: render "
                "before backward, record with Tape(persistent=True), or render the whole tape") if released else ""
        raise ValueError(f"render: target {shape_str(target)} is not the output of any op on this tape.{hint}")
    target = nodes[end].output  # the record's own stand-in after a release, so ids below match the records
    needed = {id(target)}
    keep = []
    for i in range(end, -1, -1):
        n = nodes[i]
        if id(n.output) in needed:
            keep.append((i, n))
            needed.update(id(t) for t in n.inputs)
    return keep[::-1], target


def _is(recorded, tensor) -> bool:
    """``recorded`` (a node's tensor or its TensorMeta after a release) is ``tensor``."""
    return recorded is tensor or (isinstance(recorded, TensorMeta) and recorded.refers_to(tensor))


def _size(t) -> int:
    s = 1
    for d in t.shape:
        s *= d
    return s


def loss_value(loss):
    """The loss as a float while someone still holds it (after a release: the user's tensor), else None."""
    if loss is None:
        return None
    held = loss.ref() if isinstance(loss, TensorMeta) else loss
    return float(held.data.item()) if held is not None and _size(held) == 1 else None


class _Unit:
    """What one forward box draws: a single op, or a run of ops of one layer (collapse)."""

    __slots__ = ("name", "nodes", "scope", "box", "call")

    def __init__(self, name, nodes, scope, box, call=1):
        self.name, self.nodes, self.scope, self.box, self.call = name, nodes, scope, box, call


def _units(selected, depth) -> list:
    if depth is None:
        return [_Unit(f"op{i}", [(i, n)], n.scope, False) for i, n in selected]
    units, calls = [], {}
    for i, n in selected:
        key = n.scope if depth is True else n.scope[:depth]
        if not key:
            units.append(_Unit(f"op{i}", [(i, n)], n.scope, False))
        elif units and units[-1].box and units[-1].scope == key:
            units[-1].nodes.append((i, n))
        else:
            calls[key] = calls.get(key, 0) + 1
            units.append(_Unit(f"layer{len(units)}", [(i, n)], key, True, calls[key]))
    return units


def _common(paths) -> tuple:
    first = paths[0]
    k = 0
    while k < len(first) and all(len(p) > k and p[k] == first[k] for p in paths):
        k += 1
    return first[:k]


def _depth(collapse):
    """``collapse`` as a scope depth: None (no boxes), True (whole scope) or a positive int."""
    if collapse is True:
        return True
    if collapse is False or collapse is None or collapse == 0:
        return None
    if isinstance(collapse, int) and collapse > 0:
        return collapse
    raise ValueError(f"to_dot: collapse must be a bool or a positive int (scope depth), got {collapse!r}")


class Wiring:
    """Who produces and who uses each tensor among the units: ``producer`` (id -> unit index), ``uses``
    (id -> [(unit index, node, input position)]), ``leaves`` (id -> tensor, first appearance order) and ``small``
    (id -> a small, deterministic number for node names)."""

    def __init__(self, units):
        self.producer = {}
        for u_idx, u in enumerate(units):
            for _, n in u.nodes:
                self.producer[id(n.output)] = u_idx
        self.produced = set(self.producer)
        self.uses: dict = {}
        self.leaves: dict = {}
        for u_idx, u in enumerate(units):
            for _, n in u.nodes:
                for pos, t in enumerate(n.inputs):
                    self.uses.setdefault(id(t), []).append((u_idx, n, pos))
                    if id(t) not in self.produced:
                        self.leaves.setdefault(id(t), t)
        self.small = {k: j for j, k in enumerate(self.leaves)}

    def data_name(self, k, t) -> str:
        """A data leaf's label: its name, else ``labels``/``targets`` when it is a loss op's second input, else
        ``input``."""
        if t.name:
            return t.name
        for _, n, pos in self.uses.get(k, ()):
            if pos > 0 and n.op.__module__.endswith(".loss"):
                return "labels" if np.dtype(t.dtype).kind in "iub" else "targets"
        return "input"
