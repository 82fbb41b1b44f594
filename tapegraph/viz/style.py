"""Colours, fonts and the small HTML-label helpers every part of the drawing uses."""
from __future__ import annotations

import html

import numpy as np

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
# grad_stats=True: fill, border/edge colour of a parameter gradient by its health.
GRAD_HEALTH = {
    "ok": ("#FEF7E0", "#8E57C4"),
    "vanishing": ("#E8F0FE", "#1A73E8"),
    "exploding": ("#FCE8E6", "#D93025"),
    "missing": ("#F1F3F4", "#9AA0A6"),
}
MUTED = "#5F6368"
DARK = "#202124"
CLUSTER_FILLS = ("#F8F9FA", "#F1F3F4", "#E8EAED")   # by nesting level


def graph_attrs() -> dict:
    """Digraph keyword arguments: top-to-bottom, one font, muted edges."""
    return dict(graph_attr=dict(rankdir="TB", fontname=FONT, fontsize="11", nodesep="0.3", ranksep="0.35",
                                bgcolor="white", pad="0.2", labelloc="t", labeljust="c", newrank="true",
                                ordering="in"),
                node_attr=dict(fontname=FONT, fontsize="11", shape="box", style="rounded,filled", penwidth="1.2",
                               margin="0.14,0.06", color=STYLE["op"][1]),
                edge_attr=dict(color="#80868B", arrowsize="0.7", penwidth="1.1", fontname=FONT, fontsize="9",
                               fontcolor=MUTED))


def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def _label(*lines) -> str:
    """An HTML-like label from already-escaped lines."""
    return "<" + "<BR/>".join(x for x in lines if x) + ">"


def _small(text, color=MUTED, size=9) -> str:
    return f'<FONT POINT-SIZE="{size}" COLOR="{color}">{text}</FONT>'


def _fmt(v, depth=0) -> str:
    """An attribute value in a few characters (arrays by dtype and shape, never their contents)."""
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


def _sci(x) -> str:
    """A gradient statistic in 3 significant digits (1.23e-05, 0.0123, 45.6, inf, nan)."""
    if not np.isfinite(x):
        return str(float(x))
    return f"{x:.3g}"


def scope_title(parts) -> str:
    """``layers.0 · Conv2D``: a scope's dotted path and the class of its innermost module (when recorded)."""
    kind = getattr(parts[-1], "kind", None) if parts else None
    path = ".".join(parts)
    return f"{path} · {kind}" if kind else path
