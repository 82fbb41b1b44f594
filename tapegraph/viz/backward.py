"""The backward view: one gradient node per forward box (edges reversed), a ``+`` node where a tensor's gradients
are summed, dotted "saved" edges with the saved arrays' sizes, and a ``.grad`` node per leaf that gets one.

Without ``group="layer"`` the gradient nodes share one dashed "backward pass" cluster to the right of the forward
graph; with it each gradient node sits in its forward op's layer cluster, beside the op (and a parameter's
``.grad`` beside the parameter), so the layers stay together and gradient edges do not cross the drawing.
``grad_stats=True`` writes each leaf gradient's norm and |g|/|w| on its node and colours its edges by health.
"""
from __future__ import annotations

from ..profile import shape_str
from .style import COST_PALETTE, DARK, GRAD_HEALTH, MUTED, STYLE, _esc, _label, _mb, _small, scope_title
from .records import _saved_arrays, _saved_bytes

_BACKWARD = (("__backward__",),)


def _active(d):
    """(ids of tensors that receive a gradient, ids of nodes whose backward runs) for the loss (or every unused
    output), following ``needs_input_grad``."""
    uses = d.wiring.uses
    if d.loss is not None:
        grads = {id(d.loss)}
    else:
        grads = {id(n.output) for _, n in d.selected if id(n.output) not in uses}
    active = set()
    for _, n in reversed(d.selected):
        if id(n.output) in grads:
            active.add(id(n))
            grads.update(id(t) for t, need in zip(n.inputs, n.needs_input_grad) if need)
    return grads, active


def add_backward(d):
    grads, active = _active(d)
    layered = d.group == "layer"
    ran = any(n.stats is not None and n.stats["backward_s"] is not None for _, n in d.selected)
    gfill, gline = STYLE["grad"]
    for u_idx, u in enumerate(d.units):
        mine = [n for _, n in u.nodes if id(n) in active]
        if not mine:
            continue
        if u.box:
            lines = [f"<B>∇ {_esc(scope_title(u.scope))}</B>" + (f" (call {u.call})" if u.call > 1 else ""),
                     _small(f"{len(mine)} op{'s' if len(mine) > 1 else ''}")]
        else:
            lines = [f"<B>∇ {_esc(mine[0].op.name)}</B>"]
            arrays = _saved_arrays(mine[0])
            for a in arrays[:3]:
                lines.append(_small(f"saved {_esc(shape_str(a))} {_mb(a.nbytes)}"))
            if len(arrays) > 3:
                lines.append(_small(f"+{len(arrays) - 3} more saved arrays"))
        fill = gfill
        if d.cost:
            if ran:
                fill = d.fill_for(d.unit_cost[u_idx][1], gfill)
                lines.append(d.cost_line(d.unit_cost[u_idx][1]))
            else:
                lines.append(_small("backward not run yet"))
        label = _label(*lines)
        if fill in COST_PALETTE[4:]:
            label = label.replace(MUTED, DARK)
        where = d.cluster_path(u) if layered else _BACKWARD
        d.decls.append((where, f"g_{u.name}", dict(label=label, fillcolor=fill, color=gline)))
        sizes = [_saved_bytes(n) for n in mine]
        known = [s for s in sizes if s is not None]
        eattrs = dict(style="dotted", color=gline, arrowhead="none", fontcolor=gline)
        if known and sum(known):
            eattrs["label"] = f"saved {_mb(sum(known))}"
        d.edges.append((u.name, f"g_{u.name}", eattrs))
        d.same_rank.append((u.name, f"g_{u.name}"))
    _gradient_edges(d, grads, active, layered)
    d.same_rank = [(a, b) for a, b in d.same_rank if a]


def _gradient_edges(d, grads, active, layered):
    """Gradient edges, consumer -> producer; several contributions meet in a '+' node."""
    w, units = d.wiring, d.units
    gline = STYLE["grad"][1]
    made_leaf = set()
    # Beside the forward graph (group="layer") the forward edges and the side-by-side ranks place every gradient
    # node; gradient edges only get routed, so they cannot drag nodes away from their layer.
    free = dict(constraint="false") if layered else {}
    order = list(w.leaves) + [id(n.output) for _, n in d.selected]
    for k in order:
        if k not in grads:
            continue
        contrib = [(c, n) for c, n, pos in w.uses.get(k, ()) if id(n) in active and n.needs_input_grad[pos]
                   and w.producer.get(k) != c]
        if not contrib:
            continue
        color = gline
        if k in w.producer:
            dst = f"g_{units[w.producer[k]].name}"
            where = d.cluster_path(units[w.producer[k]]) if layered else _BACKWARD
        elif k in w.leaves and w.leaves[k].requires_grad:
            t = w.leaves[k]
            dst = f"d_t{w.small[k]}"
            where = d.leaf_where.get(k, ()) if layered else _BACKWARD
            if layered and k not in d.leaf_names:          # absorbed in a collapsed box: beside the box
                where = d.cluster_path(units[contrib[0][0]])
            stats = d.grads.get(k) if d.grads is not None else None
            if d.grads is not None:
                health = stats["health"] if stats else "missing"
                if health != "ok":
                    color = GRAD_HEALTH[health][1]
            if dst not in made_leaf:
                made_leaf.add(dst)
                fill, line = STYLE["parameter"] if t.name else STYLE["variable"]
                attrs = dict(label=_label(f"<B>{_esc(t.name or 'input')}.grad</B>", _small(_esc(shape_str(t))),
                                          d.grad_line(k)),
                             shape="box", style="filled", fillcolor=fill, color=line)
                if color != gline:
                    attrs.update(fillcolor=GRAD_HEALTH[health][0], color=color, penwidth="2.5")
                d.decls.append((where, dst, attrs))
                d.same_rank.append((d.leaf_names.get(k), dst))
                if layered and k in d.leaf_names:           # the .grad to the right of its parameter
                    d.edges.append((d.leaf_names[k], dst, dict(style="invis")))
        else:
            continue
        eattrs = dict(color=color, **free)
        if color != gline:
            eattrs["penwidth"] = "2.5"
            if color == GRAD_HEALTH["vanishing"][1]:
                eattrs["style"] = "dashed"
        if len(contrib) > 1:
            acc = f"acc_{dst}_{len(d.edges)}"
            d.decls.append((where, acc, dict(label="+", shape="circle", width="0.3", height="0.3",
                                             fixedsize="true", style="filled", fillcolor="white", color=gline,
                                             fontcolor=gline, fontsize="14", tooltip=f"adds {len(contrib)} gradients")))
            for c, _ in contrib:
                d.edges.append((f"g_{units[c].name}", acc, dict(color=gline, **free)))
            d.edges.append((acc, dst, eattrs))
        else:
            d.edges.append((f"g_{units[contrib[0][0]].name}", dst, eattrs))
