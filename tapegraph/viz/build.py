"""``to_dot``: the records as graphviz declarations (nodes by cluster path, then edges), then one Digraph.

A ``Drawing`` collects ``decls`` (cluster path, node name, attributes) and ``edges``; the forward part is drawn
here, the backward part in ``backward.py``; ``assemble`` nests the clusters and returns a ``TapeGraph``.
"""
from __future__ import annotations

import numbers

from ..profile import _cost, _require_stats, shape_str, tensor_kind
from .gradients import _no_grads_error, grad_stats
from .records import Wiring, _common, _depth, _select, _size, _units, loss_value
from .style import (CLUSTER_FILLS, COST_PALETTE, DARK, FONT, GRAD_HEALTH, MUTED, STYLE, _attr_lines, _esc, _fmt,
                    _label, _sci, _small, graph_attrs, scope_title)


class Drawing:
    """Everything one ``to_dot`` call draws, and the options it draws it with."""

    def __init__(self, selected, loss, units, depth, group, cost, backward, grads):
        self.selected, self.loss, self.units, self.depth = selected, loss, units, depth
        self.group, self.cost, self.backward = group, cost, backward
        self.wiring = Wiring(units)
        self.decls = []          # (cluster path, name, attrs)
        self.edges = []          # (src, dst, attrs)
        self.same_rank = []      # (a, b): drawn side by side
        self.leaf_names = {}     # id(tensor) -> node name, for leaves drawn on their own
        self.leaf_where = {}     # id(tensor) -> cluster path of that node
        self.absorbed = {}       # unit index -> parameters listed inside a collapsed box
        self.grads = grads       # id(leaf) -> grad_stats dict (grad_stats=True), else None
        self.unit_cost = []
        if cost:
            for u in units:
                f = sum(n.stats["forward_s"] for _, n in u.nodes)
                b = sum(n.stats["backward_s"] or 0.0 for _, n in u.nodes)
                self.unit_cost.append((f, b))
        self.costs = [f if backward else f + b for f, b in self.unit_cost]
        self.total_cost = sum(_cost(n.stats) for _, n in selected) if cost else 0.0
        self.max_cost = max(self.costs + ([b for _, b in self.unit_cost] if backward else []), default=0.0) or 1.0

    # -- cost colouring ----------------------------------------------------------------------------------------
    def fill_for(self, seconds, default):
        if not self.cost:
            return default
        step = min(len(COST_PALETTE) - 1, int((seconds / self.max_cost) ** 0.5 * (len(COST_PALETTE) - 1) + 0.5))
        return COST_PALETTE[step]

    def cost_line(self, seconds):
        share = 100 * seconds / self.total_cost if self.total_cost else 0.0
        return _small(f"{seconds * 1e3:.3f} ms · {share:.1f}%", DARK)

    def cluster_path(self, u) -> tuple:
        """The nested clusters a unit sits in (group='layer'): ('layers',), ('layers', 'layers.0'), ..."""
        if self.group != "layer":
            return ()
        n = len(u.scope) - 1 if u.box else len(u.scope)
        return tuple(u.scope[:k] for k in range(1, n + 1))

    def grad_line(self, k):
        """'‖g‖ 1.2e-05 · |g|/|w| 3e-06' for a leaf under grad_stats, coloured by its health; '' otherwise."""
        if self.grads is None:
            return ""
        s = self.grads.get(k)
        if s is None:
            return _small("no .grad", GRAD_HEALTH["missing"][1])
        color = GRAD_HEALTH[s["health"]][1] if s["health"] != "ok" else DARK
        ratio = "|w| = 0" if s["ratio"] == float("inf") else f"|g|/|w| {_sci(s['ratio'])}"
        text = f"‖g‖ {_sci(s['norm'])} · {ratio}"
        if s["health"] != "ok":
            text += f" · {s['health']}"
        return _small(_esc(text), color)


def to_dot(tape, *, backward=False, group=None, collapse=False, cost=False, max_nodes=None, title=None,
           target=None, grad_stats=False):
    """The tape (or the part ``target`` depends on) as a ``TapeGraph`` (a ``graphviz.Digraph`` that displays
    itself in Jupyter); options in the ``tapegraph.viz`` docstring."""
    from .digraph import TapeGraph   # imports graphviz

    if group not in (None, "layer"):
        raise ValueError(f"to_dot: group must be None or 'layer', got {group!r}")
    depth = _depth(collapse)
    selected, loss = _select(tape, target)
    if cost:
        _require_stats([n for _, n in selected], "to_dot(cost=True)")
    units = _units(selected, depth)
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral)):
        raise TypeError(f"to_dot: max_nodes must be None or an int, got {max_nodes!r}")
    if max_nodes is not None and len(units) > max_nodes:
        raise ValueError(f"to_dot: {len(units)} op boxes to draw, more than max_nodes={max_nodes}; pass "
                         f"collapse=True (one box per layer), a target tensor, or a larger max_nodes")
    grads = _leaf_grads(selected) if grad_stats else None
    d = Drawing(selected, loss, units, depth, group, cost, backward, grads)
    _leaves(d)
    _forward(d)
    if backward:
        from .backward import add_backward
        add_backward(d)
    g = TapeGraph("tape", **graph_attrs())
    g.text_fallback = _text(selected, len(tape.nodes))
    _header(g, d, title)
    _assemble(g, d)
    return g


def _leaf_grads(selected) -> dict:
    out, any_grad = {}, False
    for _, n in selected:
        for t in n.inputs:
            if getattr(t, "is_leaf", False) and t.requires_grad and id(t) not in out:
                out[id(t)] = s = grad_stats(t)
                any_grad = any_grad or s is not None
    if not any_grad:
        raise _no_grads_error("to_dot(grad_stats=True)")
    return out


def _leaves(d):
    """Parameters, inputs and constants; in a collapsed view a parameter used by one box is listed inside it."""
    w, units = d.wiring, d.units
    for k, t in w.leaves.items():
        kind = tensor_kind(t, w.produced)
        consumers = sorted({u for u, _, _ in w.uses[k]})
        if d.depth is not None and kind in ("parameter", "constant") and len(consumers) == 1 \
                and units[consumers[0]].box:
            if kind == "parameter":
                d.absorbed.setdefault(consumers[0], []).append((k, t))
            continue
        name = f"t{w.small[k]}"
        d.leaf_names[k] = name
        where = ()
        if kind in ("parameter", "constant"):
            where = _common([d.cluster_path(units[u]) for u in consumers])
        d.leaf_where[k] = where
        if kind == "parameter":
            fill, line = STYLE["parameter"]
            attrs = dict(label=_label(f"<B>{_esc(t.name)}</B>", _small(_esc(shape_str(t))),
                                      d.grad_line(k) if not d.backward else ""),
                         shape="box", style="filled", fillcolor=fill, color=line)
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
            attrs = dict(label=_label(f"<B>{_esc(w.data_name(k, t))}</B>", _small(_esc(shape_str(t)))),
                         shape="ellipse", style="filled", fillcolor=fill, color=line)
        else:  # produced by an op that is not on this tape (nested tapes, or outside the target's sub-graph)
            fill, line = STYLE["data"]
            attrs = dict(label=_label(f"<I>{_esc(t.name or 'from outside this tape')}</I>",
                                      _small(_esc(shape_str(t)))),
                         shape="ellipse", style="filled,dashed", fillcolor=fill, color=line)
        d.decls.append((where, name, attrs))


def _outputs_of(d, u_idx):
    uses = d.wiring.uses
    outs = []
    for _, n in d.units[u_idx].nodes:
        k = id(n.output)
        if n.output is d.loss or any(c != u_idx for c, _, _ in uses.get(k, ())) or k not in uses:
            outs.append(n.output)
    return outs


def _forward(d):
    """One box per unit (an op, or a layer call when collapsed), then the edges between boxes and leaves."""
    for u_idx, u in enumerate(d.units):
        has_loss = any(n.output is d.loss for _, n in u.nodes)
        fill, line = STYLE["loss" if has_loss else ("box" if u.box else "op")]
        fill = d.fill_for(d.costs[u_idx], fill) if d.cost else fill
        lines = []
        if u.box:
            title_ = _esc(scope_title(u.scope)) + (f" (call {u.call})" if u.call > 1 else "")
            names = list(dict.fromkeys(n.op.name for _, n in u.nodes))
            kinds = ", ".join(names) if len(names) <= 4 else ", ".join(names[:4]) + ", ..."
            lines += [f"<B>{title_}</B>", _small(f"{len(u.nodes)} op{'s' if len(u.nodes) > 1 else ''}: "
                                               f"{_esc(kinds)}")]
            for k, p in d.absorbed.get(u_idx, []):
                lines.append(_small(f"{_esc(p.name)} {_esc(shape_str(p))}", STYLE["parameter"][1]))
                if not d.backward:
                    lines.append(d.grad_line(k))
            outs = _outputs_of(d, u_idx)
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
            value = loss_value(d.loss)
            lines.append(f'<FONT COLOR="{STYLE["loss"][1]}"><B>loss</B>'
                         + (f" = {_esc(_fmt(value))}" if value is not None else "") + "</FONT>")
        if d.cost:
            lines.append(d.cost_line(d.costs[u_idx]))
        label = _label(*lines)
        if fill in COST_PALETTE[4:]:   # darker fills: darker small print
            label = label.replace(MUTED, DARK).replace(STYLE["parameter"][1], DARK)
        attrs = dict(label=label, fillcolor=fill, color=line, group="ops")
        if has_loss:
            attrs["penwidth"] = "2"
        d.decls.append((d.cluster_path(u), u.name, attrs))

    producer, seen = d.wiring.producer, set()
    for u_idx, u in enumerate(d.units):
        for _, n in u.nodes:
            for t in n.inputs:
                k = id(t)
                if k in producer:
                    if producer[k] == u_idx:
                        continue
                    src = d.units[producer[k]].name
                elif k in d.leaf_names:
                    src = d.leaf_names[k]
                else:
                    continue
                if d.depth is not None:
                    if (src, u.name) in seen:
                        continue
                    seen.add((src, u.name))
                d.edges.append((src, u.name, {}))


def _header(g, d, title):
    """Title, then one line of facts: ops, parameters, the loss, profiled time, gradient health."""
    w = d.wiring
    params = [t for t in w.leaves.values() if tensor_kind(t, w.produced) == "parameter"]
    facts = f"{len(d.selected)} ops · {len(params)} parameter tensors ({sum(_size(p) for p in params):,} values)"
    value = loss_value(d.loss)
    if d.depth is not None and value is not None:
        facts += f" · loss = {_fmt(value)}"
    if d.cost:
        facts += f" · {d.total_cost * 1e3:.2f} ms profiled (darker = slower)"
    if d.backward and d.group == "layer":
        facts += " · ∇ = backward pass, beside its forward op"
    lines = [_small(_esc(facts), size=10)]
    if d.grads is not None:
        count = {h: sum(1 for s in d.grads.values() if s and s["health"] == h) for h in ("vanishing", "exploding")}
        lines.append(_small(_esc(f"gradients: {count['vanishing']} vanishing (‖g‖ < 1e-07, blue) · "
                                 f"{count['exploding']} exploding (‖g‖ > 1e+03 or not finite, red)"), size=10))
    head = [f'<FONT POINT-SIZE="15"><B>{_esc(title)}</B></FONT>'] if title else []
    g.attr(label=_label(*head, *lines))


def _assemble(g, d):
    """Nest the declarations by cluster path (a cluster per scope prefix), then add ranks and edges."""
    tree: dict = {(): ([], [])}  # path -> (declarations, child paths)
    for path, name, attrs in d.decls:
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
                label = scope_title(child[-1])
                style = dict(style="rounded,filled", color="#BDC1C6", fillcolor=CLUSTER_FILLS[min(level, 2)])
            with graph.subgraph(name=cname) as c:
                c.attr(label=label, fontname=FONT, fontsize="10", fontcolor=MUTED, labeljust="l", **style)
                emit(c, child, level + 1)

    emit(g, (), 0)
    for a, b in d.same_rank:   # each gradient node beside its forward op (names are plain identifiers)
        g.body.append(f"\t{{rank=same; {a}; {b}}}\n")
    for src, dst, attrs in d.edges:
        g.edge(src, dst, **attrs)


def _text(selected, total) -> str:
    """The plain-text stand-in for notebooks without Graphviz: one line per op, as ``repr(tape)`` writes them."""
    head = f"tape graph: {len(selected)} of {total} ops (drawn as SVG where Graphviz's `dot` is installed)"
    lines = [f"  {i:4d}  {n!r}" for i, n in selected[:200]]
    if len(selected) > 200:
        lines.append(f"  ... {len(selected) - 200} more")
    return "\n".join([head, *lines])
