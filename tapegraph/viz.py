"""The tape as a graphviz diagram: ops with attributes and shapes, parameters by name, inputs, constants, the loss.

``to_dot(tape)`` returns a ``graphviz.Digraph``; ``render(tape_or_tensor, path)`` writes .svg/.png/.pdf through the
``dot`` program (or .dot/.gv source, which needs no program). Options:

* ``backward=True``  the backward pass too: one gradient node per op (edges reversed), a ``+`` node where a tensor's
  gradients are accumulated, dotted "saved" edges from each op to its gradient node with the saved arrays' sizes.
* ``group="layer"``  a cluster per module (nested by the dotted scope: ``layers`` holds ``layers.0``).
* ``collapse=True``  one box per layer call (op count, op kinds, output shape, parameters inside); ``collapse=n``
  groups by the first ``n`` scope parts. Ops outside any module stay single.
* ``cost=True``      colour by profiled time (needs ``Tape(profile=True)``); darker is slower (square-root scale).
* ``max_nodes``      refuse (ValueError) to draw more than this many op/layer boxes.
* ``target``         a tensor: draw only the ops it depends on, and highlight it as the loss.

Only the tape's records are read. The graphviz package is imported when a graph is built.
"""
from __future__ import annotations

import html
import os
import shutil

from .profile import _cost, _nodes, _require_stats, shape_str, tensor_kind
from .tape import TensorMeta

FONT = "Helvetica,Arial,sans-serif"
# Fill, border for each kind of node.
STYLE = {
    "op": ("#E8F0FE", "#4A6FA5"),
    "loss": ("#FCE8E6", "#D93025"),
    "box": ("#EEF3FB", "#4A6FA5"),
    "parameter": ("#FEF7E0", "#C58A10"),
    "variable": ("#E6F4EA", "#2F8A4E"),
    "data": ("#F1F3F4", "#80868B"),
    "grad": ("#F3E8FD", "#8E57C4"),
}
# ColorBrewer-like YlOrRd steps for cost=True (light = cheap).
COST_PALETTE = ("#FFFFE5", "#FFF7BC", "#FEE391", "#FEC44F", "#FE9929", "#F6772A", "#EE5A36")
MUTED = "#5F6368"


class GraphvizNotFound(RuntimeError):
    """The ``dot`` program is missing; the graph's .dot source was written instead (``dot_path``)."""

    def __init__(self, message, dot_path):
        super().__init__(message)
        self.dot_path = dot_path


def _graphviz():
    try:
        import graphviz
    except ImportError as e:  # pragma: no cover - graphviz is a declared dependency
        raise ImportError("tapegraph.viz needs the graphviz Python package: pip install graphviz") from e
    return graphviz


def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def _label(*lines) -> str:
    """An HTML-like label from already-escaped lines."""
    return "<" + "<BR/>".join(x for x in lines if x) + ">"


def _small(text, color=MUTED, size=9) -> str:
    return f'<FONT POINT-SIZE="{size}" COLOR="{color}">{text}</FONT>'


def _fmt(v, depth=0) -> str:
    """An attribute value in a few characters (arrays by dtype and shape, never their contents)."""
    import numpy as np
    if isinstance(v, np.ndarray):
        return f"{v.dtype}{list(v.shape)}"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, slice):
        parts = ["" if x is None else str(x) for x in (v.start, v.stop)]
        return ":".join(parts) + ("" if v.step is None else f":{v.step}")
    if v is Ellipsis:
        return "..."
    if isinstance(v, (tuple, list)) and depth < 3:
        inner = ("," if depth else ", ").join(_fmt(x, depth + 1) for x in v)
        inner = inner if depth or len(v) > 4 or not all(isinstance(x, (int, tuple)) for x in v) \
            else inner.replace(", ", ",")
        return f"({inner}{',' if len(v) == 1 and isinstance(v, tuple) else ''})" if isinstance(v, tuple) \
            else f"[{inner}]"
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _attr_lines(attrs, width=38) -> list:
    """'k=v' pairs, arrays skipped, wrapped at ``width`` characters."""
    import numpy as np
    pairs = [f"{k}={_fmt(v)}" for k, v in attrs.items() if not isinstance(v, np.ndarray)]
    lines, cur = [], ""
    for p in pairs:
        if cur and len(cur) + len(p) + 2 > width:
            lines.append(cur)
            cur = p
        else:
            cur = f"{cur}, {p}" if cur else p
    if cur:
        lines.append(cur)
    return lines


def _mb(nbytes) -> str:
    if nbytes >= 1e6:
        return f"{nbytes / 1e6:.1f} MB"
    if nbytes >= 1e3:
        return f"{nbytes / 1e3:.1f} kB"
    return f"{nbytes} B"


def _saved_bytes(node):
    """Bytes kept for backward: the saved arrays if still there, else the profile's record, else None."""
    if node.saved is not None:
        return node.saved_nbytes()
    if node.stats is not None:
        return node.stats["saved_bytes"]
    return None


def _saved_arrays(node) -> list:
    import numpy as np
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


def to_dot(tape, *, backward=False, group=None, collapse=False, cost=False, max_nodes=None, title=None,
           target=None):
    """The tape (or the part ``target`` depends on) as a ``graphviz.Digraph``; options in the module docstring."""
    graphviz = _graphviz()
    if group not in (None, "layer"):
        raise ValueError(f"to_dot: group must be None or 'layer', got {group!r}")
    if collapse is True:
        depth = True
    elif collapse is False or collapse is None or collapse == 0:
        depth = None
    elif isinstance(collapse, int) and collapse > 0:
        depth = collapse
    else:
        raise ValueError(f"to_dot: collapse must be a bool or a positive int (scope depth), got {collapse!r}")
    selected, loss = _select(tape, target)
    if cost:
        _require_stats([n for _, n in selected], "to_dot(cost=True)")
    units = _units(selected, depth)
    if max_nodes is not None and len(units) > max_nodes:
        raise ValueError(f"to_dot: {len(units)} op boxes to draw, more than max_nodes={max_nodes}; pass "
                         f"collapse=True (one box per layer), a target tensor, or a larger max_nodes")

    producer = {}          # id(tensor) -> unit index
    for u_idx, u in enumerate(units):
        for _, n in u.nodes:
            producer[id(n.output)] = u_idx
    produced = set(producer)
    uses: dict = {}        # id(tensor) -> [(unit index, node, input position)]
    leaves: dict = {}      # id(tensor) -> tensor, first appearance order
    for u_idx, u in enumerate(units):
        for _, n in u.nodes:
            for pos, t in enumerate(n.inputs):
                uses.setdefault(id(t), []).append((u_idx, n, pos))
                if id(t) not in produced:
                    leaves.setdefault(id(t), t)
    small = {k: j for j, k in enumerate(leaves)}   # deterministic node names for leaves

    total_cost = sum(_cost(n.stats) for _, n in selected) if cost else 0.0
    unit_cost = []
    if cost:
        for u in units:
            f = sum(n.stats["forward_s"] for _, n in u.nodes)
            b = sum(n.stats["backward_s"] or 0.0 for _, n in u.nodes)
            unit_cost.append((f, b))
    costs = [f if backward else f + b for f, b in unit_cost]
    if backward and cost:
        costs += [b for _, b in unit_cost]
    max_cost = max(costs, default=0.0) or 1.0

    def fill_for(seconds, default):
        if not cost:
            return default
        step = min(len(COST_PALETTE) - 1, int((seconds / max_cost) ** 0.5 * (len(COST_PALETTE) - 1) + 0.5))
        return COST_PALETTE[step]

    def cost_line(seconds):
        share = 100 * seconds / total_cost if total_cost else 0.0
        return _small(f"{seconds * 1e3:.3f} ms · {share:.1f}%", "#202124")

    def cluster_path(u) -> tuple:
        if group != "layer":
            return ()
        scope = u.scope
        n = len(scope) - 1 if u.box else len(scope)
        return tuple(scope[:k] for k in range(1, n + 1))

    decls = []          # (cluster path, name, attrs)
    edges = []          # (src, dst, attrs)

    # -- leaves: parameters, inputs, constants --------------------------------------------------------------
    absorbed: dict = {}  # unit index -> [parameter tensors listed inside a collapsed box]
    leaf_names = {}
    for k, t in leaves.items():
        kind = tensor_kind(t, produced)
        consumers = sorted({u for u, _, _ in uses[k]})
        if depth is not None and kind in ("parameter", "constant") and len(consumers) == 1 and units[consumers[0]].box:
            if kind == "parameter":
                absorbed.setdefault(consumers[0], []).append(t)
            continue
        name = f"t{small[k]}"
        leaf_names[k] = name
        where = ()
        if kind in ("parameter", "constant"):
            where = _common([cluster_path(units[u]) for u in consumers])
        if kind == "parameter":
            fill, line = STYLE["parameter"]
            attrs = dict(label=_label(f"<B>{_esc(t.name)}</B>", _small(_esc(shape_str(t)))), shape="box",
                         style="filled", fillcolor=fill, color=line)
        elif kind == "constant":
            value = t.data.item() if hasattr(t, "data") else "?"
            attrs = dict(label=_esc(_fmt(value)), shape="plaintext", style="solid", fontsize="9", fontcolor=MUTED,
                         height="0.2", width="0.3", margin="0.02")
        elif kind == "input" and t.requires_grad:
            fill, line = STYLE["variable"]
            attrs = dict(label=_label(f"<B>{_esc(t.name or 'input')}</B>",
                                      _small(_esc(shape_str(t)) + " · requires grad")),
                         shape="ellipse", style="filled", fillcolor=fill, color=line)
        elif kind == "input":
            fill, line = STYLE["data"]
            attrs = dict(label=_label(f"<B>{_esc(t.name or 'data')}</B>", _small(_esc(shape_str(t)))),
                         shape="ellipse", style="filled", fillcolor=fill, color=line)
        else:  # produced by an op that is not on this tape (nested tapes, or outside the target's sub-graph)
            fill, line = STYLE["data"]
            attrs = dict(label=_label(f"<I>{_esc(t.name or 'from outside this tape')}</I>",
                                      _small(_esc(shape_str(t)))),
                         shape="ellipse", style="filled,dashed", fillcolor=fill, color=line)
        decls.append((where, name, attrs))

    # -- forward boxes ---------------------------------------------------------------------------------------
    def outputs_of(u_idx):
        u = units[u_idx]
        outs = []
        for _, n in u.nodes:
            k = id(n.output)
            if n.output is loss or any(c != u_idx for c, _, _ in uses.get(k, ())) or k not in uses:
                outs.append(n.output)
        return outs

    for u_idx, u in enumerate(units):
        has_loss = any(n.output is loss for _, n in u.nodes)
        fill, line = STYLE["loss" if has_loss else ("box" if u.box else "op")]
        fill = fill_for(costs[u_idx], fill) if cost else fill
        lines = []
        if u.box:
            title_ = _esc(".".join(u.scope)) + (f" (call {u.call})" if u.call > 1 else "")
            names = list(dict.fromkeys(n.op.name for _, n in u.nodes))
            kinds = ", ".join(names) if len(names) <= 4 else ", ".join(names[:4]) + ", ..."
            lines += [f"<B>{title_}</B>", _small(f"{len(u.nodes)} op{'s' if len(u.nodes) > 1 else ''}: "
                                               f"{_esc(kinds)}")]
            for p in absorbed.get(u_idx, []):
                lines.append(_small(f"{_esc(p.name)} {_esc(shape_str(p))}", STYLE["parameter"][1]))
            outs = outputs_of(u_idx)
            for o in outs[:2]:
                lines.append(_esc("→ " + shape_str(o)))
            if len(outs) > 2:
                lines.append(_small(f"+{len(outs) - 2} more outputs"))
        else:
            (i, n), = u.nodes
            lines.append(f"<B>{_esc(n.op.name)}</B>")
            lines += [_small(_esc(s)) for s in _attr_lines(n.attrs)]
            lines.append(_esc(shape_str(n.output)))
        if has_loss:
            held = loss.ref() if isinstance(loss, TensorMeta) else loss  # after a release: the user's tensor
            value = held.data.item() if held is not None and _size(held) == 1 else None
            lines.append(f'<FONT COLOR="{STYLE["loss"][1]}"><B>loss</B>'
                         + (f" = {_esc(_fmt(float(value)))}" if value is not None else "") + "</FONT>")
        if cost:
            lines.append(cost_line(costs[u_idx]))
        label = _label(*lines)
        if fill in COST_PALETTE[4:]:   # darker fills: darker small print
            label = label.replace(MUTED, "#202124").replace(STYLE["parameter"][1], "#202124")
        attrs = dict(label=label, fillcolor=fill, color=line, group="ops")
        if has_loss:
            attrs["penwidth"] = "2"
        decls.append((cluster_path(u), u.name, attrs))

    seen = set()
    for u_idx, u in enumerate(units):
        for _, n in u.nodes:
            for t in n.inputs:
                k = id(t)
                if k in producer:
                    if producer[k] == u_idx:
                        continue
                    src = units[producer[k]].name
                elif k in leaf_names:
                    src = leaf_names[k]
                else:
                    continue
                if depth is not None:
                    if (src, u.name) in seen:
                        continue
                    seen.add((src, u.name))
                edges.append((src, u.name, {}))

    # -- backward ----------------------------------------------------------------------------------------------
    if backward:
        same_rank = _backward(units, selected, loss, uses, producer, leaves, leaf_names, small, decls, edges,
                              cost and (fill_for, cost_line), unit_cost)
    else:
        same_rank = []

    # -- assemble ----------------------------------------------------------------------------------------------
    g = graphviz.Digraph("tape", graph_attr=dict(rankdir="TB", fontname=FONT, fontsize="11", nodesep="0.3",
                                                 ranksep="0.35", bgcolor="white", pad="0.2", labelloc="t",
                                                 labeljust="c", newrank="true", ordering="in"),
                         node_attr=dict(fontname=FONT, fontsize="11", shape="box", style="rounded,filled",
                                        penwidth="1.2", margin="0.14,0.06", color=STYLE["op"][1]),
                         edge_attr=dict(color="#80868B", arrowsize="0.7", penwidth="1.1", fontname=FONT,
                                        fontsize="9", fontcolor=MUTED))
    n_params = [t for t in leaves.values() if tensor_kind(t, produced) == "parameter"]
    facts = (f"{len(selected)} ops · {len(n_params)} parameter tensors "
             f"({sum(_size(p) for p in n_params):,} values)")
    if cost:
        facts += f" · {total_cost * 1e3:.2f} ms profiled (darker = slower)"
    head = [f'<FONT POINT-SIZE="15"><B>{_esc(title)}</B></FONT>'] if title else []
    g.attr(label=_label(*head, _small(_esc(facts), size=10)))

    tree: dict = {(): ([], [])}  # path -> (declarations, child paths)
    for path, name, attrs in decls:
        for k in range(len(path)):
            p = path[: k + 1]
            if p not in tree:
                tree[p] = ([], [])
                tree[path[:k]][1].append(p)
        tree[path][0].append((name, attrs))

    def emit(graph, path, level):
        own, children = tree[path]
        for name, attrs in own:
            graph.node(name, **attrs)
        for child in children:
            if child[-1] == ("__backward__",):
                cname, label = "cluster_backward", "backward pass"
                style = dict(style="rounded,dashed", color=STYLE["grad"][1], fillcolor="white")
            else:
                cname = "cluster_" + ".".join(child[-1])
                label = ".".join(child[-1])
                style = dict(style="rounded,filled", color="#BDC1C6",
                             fillcolor=("#F8F9FA", "#F1F3F4", "#E8EAED")[min(level, 2)])
            with graph.subgraph(name=cname) as c:
                c.attr(label=label, fontname=FONT, fontsize="10", fontcolor=MUTED, labeljust="l", **style)
                emit(c, child, level + 1)

    emit(g, (), 0)
    for a, b in same_rank:   # each gradient node beside its forward op (names are plain identifiers)
        g.body.append(f"\t{{rank=same; {a}; {b}}}\n")
    for src, dst, attrs in edges:
        g.edge(src, dst, **attrs)
    return g


def _backward(units, selected, loss, uses, producer, leaves, leaf_names, small, decls, edges, cost,
              unit_cost) -> list:
    """Gradient nodes (reversed edges), accumulation nodes and saved-tensor edges, in a 'backward pass' cluster.

    Returns the (forward node, gradient node) pairs to draw side by side."""
    where = (("__backward__",),)
    same_rank = []
    ran = any(n.stats is not None and n.stats["backward_s"] is not None for _, n in selected)
    # Which tensors receive a gradient: the loss (or every unused output), then back through needs_input_grad.
    if loss is not None:
        grads = {id(loss)}
    else:
        grads = {id(n.output) for _, n in selected if id(n.output) not in uses}
    active = set()
    for _, n in reversed(selected):
        if id(n.output) in grads:
            active.add(id(n))
            grads.update(id(t) for t, need in zip(n.inputs, n.needs_input_grad) if need)
    unit_of = {}
    for u_idx, u in enumerate(units):
        for _, n in u.nodes:
            unit_of[id(n)] = u_idx
    gfill, gline = STYLE["grad"]
    for u_idx, u in enumerate(units):
        mine = [n for _, n in u.nodes if id(n) in active]
        if not mine:
            continue
        if u.box:
            lines = [f"<B>∇ {_esc('.'.join(u.scope))}</B>" + (f" (call {u.call})" if u.call > 1 else ""),
                     _small(f"{len(mine)} op{'s' if len(mine) > 1 else ''}")]
        else:
            lines = [f"<B>∇ {_esc(mine[0].op.name)}</B>"]
            arrays = _saved_arrays(mine[0])
            for a in arrays[:3]:
                lines.append(_small(f"saved {_esc(shape_str(a))} {_mb(a.nbytes)}"))
            if len(arrays) > 3:
                lines.append(_small(f"+{len(arrays) - 3} more saved arrays"))
        fill = gfill
        if cost:
            fill_for, cost_line = cost
            if ran:
                fill = fill_for(unit_cost[u_idx][1], gfill)
                lines.append(cost_line(unit_cost[u_idx][1]))
            else:
                lines.append(_small("backward not run yet"))
        label = _label(*lines)
        if fill in COST_PALETTE[4:]:
            label = label.replace(MUTED, "#202124")
        decls.append((where, f"g_{u.name}", dict(label=label, fillcolor=fill, color=gline)))
        sizes = [_saved_bytes(n) for n in mine]
        known = [s for s in sizes if s is not None]
        eattrs = dict(style="dotted", color=gline, arrowhead="none", fontcolor=gline)
        if known and sum(known):
            eattrs["label"] = f"saved {_mb(sum(known))}"
        edges.append((u.name, f"g_{u.name}", eattrs))
        same_rank.append((u.name, f"g_{u.name}"))
    # Gradient edges, consumer -> producer; several contributions meet in a '+' node.
    made_leaf = set()
    order = list(leaves) + [id(n.output) for _, n in selected]
    for k in order:
        if k not in grads:
            continue
        contrib = [(c, n) for c, n, pos in uses.get(k, ()) if id(n) in active and n.needs_input_grad[pos]
                   and producer.get(k) != c]
        if not contrib:
            continue
        if k in producer:
            dst = f"g_{units[producer[k]].name}"
        elif k in leaves and leaves[k].requires_grad:
            t = leaves[k]
            dst = f"d_t{small[k]}"
            if dst not in made_leaf:
                made_leaf.add(dst)
                fill, line = STYLE["parameter"] if t.name else STYLE["variable"]
                decls.append((where, dst, dict(label=_label(f"<B>{_esc(t.name or 'input')}.grad</B>",
                                                            _small(_esc(shape_str(t)))),
                                               shape="box", style="filled", fillcolor=fill, color=line)))
                same_rank.append((leaf_names.get(k), dst))
        else:
            continue
        if len(contrib) > 1:
            acc = f"acc_{dst}_{len(edges)}"
            decls.append((where, acc, dict(label="+", shape="circle", width="0.3", height="0.3", fixedsize="true",
                                           style="filled", fillcolor="white", color=gline, fontcolor=gline,
                                           fontsize="14", tooltip=f"adds {len(contrib)} gradients")))
            for c, _ in contrib:
                edges.append((f"g_{units[c].name}", acc, dict(color=gline)))
            edges.append((acc, dst, dict(color=gline)))
        else:
            edges.append((f"g_{units[contrib[0][0]].name}", dst, dict(color=gline)))
    return [(a, b) for a, b in same_rank if a]


def render(tape_or_tensor, path, *, tape=None, **options):
    """Draw a tape, or the ops a tensor depends on, to ``path`` (.svg, .png, .pdf; .dot/.gv write the source).

    ``render(tape, path)`` draws the whole tape; ``render(tensor, path, tape=tape)`` the sub-graph of ``tape``
    that ``tensor`` depends on, with ``tensor`` highlighted as the loss (inside a ``with Tape()`` block the
    innermost recording tape is used when ``tape`` is omitted). Other options go to ``to_dot``. Without the ``dot``
    program the .dot source is written next to ``path`` and ``GraphvizNotFound`` is raised. Returns ``path``.
    """
    from .tensor import Tensor

    if isinstance(tape_or_tensor, Tensor):
        if tape is None:
            from .tape import _active
            active = _active.get()
            if not active:
                raise TypeError("render: a tensor does not know its tape; pass tape=... (render(loss, path, "
                                "tape=tape)) or call tape.render(path)")
            tape = active[-1]
        options["target"] = tape_or_tensor
        src = tape
    else:
        if tape is not None:
            raise TypeError("render: tape= is only for rendering a tensor; got a tape and tape=")
        src = tape_or_tensor
    fspath = os.fspath(path)
    suffix = os.path.splitext(fspath)[1].lower().lstrip(".")
    if suffix not in ("svg", "png", "pdf", "dot", "gv"):
        raise ValueError(f"render: cannot tell the format from {fspath!r}; use a .svg, .png, .pdf or .dot path")
    graph = to_dot(src, **options)
    if suffix in ("dot", "gv"):
        _write(fspath, graph.source.encode())
        return path
    graphviz = _graphviz()
    if shutil.which("dot") is None:
        _missing_dot(graph, fspath)
    try:
        data = graph.pipe(format=suffix, quiet=True)
    except graphviz.ExecutableNotFound:
        _missing_dot(graph, fspath)
    _write(fspath, data)
    return path


def _missing_dot(graph, fspath):
    dot_path = os.path.splitext(fspath)[0] + ".dot"
    _write(dot_path, graph.source.encode())
    raise GraphvizNotFound(
        f"render: the Graphviz 'dot' program was not found on PATH, so {fspath!r} was not drawn; the graph's source "
        f"was written to {dot_path!r}. Install Graphviz (apt-get install graphviz / brew install graphviz / "
        f"https://graphviz.org/download/) and run: dot -T{os.path.splitext(fspath)[1].lstrip('.') or 'svg'} "
        f"{dot_path} -o {fspath}", dot_path)


def _write(path, data: bytes):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
