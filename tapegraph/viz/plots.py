"""matplotlib pictures of training: loss/metric curves (``History.plot``) and per-layer gradient norms.

matplotlib is an optional extra (``pip install "tapegraph[plot]"``), imported on first use. Figures are made with
``matplotlib.figure.Figure`` (no pyplot, no global state): each function returns the figure (Jupyter shows it
inline) and, given ``path``, also writes it there (.png, .svg or .pdf by suffix).
"""
from __future__ import annotations

import io
import os

import numpy as np

from .gradients import EXPLODING, VANISHING, _no_grads_error, _ratio, _sums, health
from .style import GRAD_HEALTH

TRAIN, VAL = "#4A6FA5", "#D93025"
HEALTH_BAR = {"ok": "#8E57C4", "vanishing": GRAD_HEALTH["vanishing"][1], "exploding": GRAD_HEALTH["exploding"][1]}


_FIGURE = []   # the Figure subclass, made on first use (matplotlib is imported lazily)


def _figure(who, **kwargs):
    """A matplotlib Figure that also shows itself in Jupyter (``_repr_png_``), whatever the backend."""
    if not _FIGURE:
        try:
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError(f"{who} needs matplotlib, an optional extra: pip install \"tapegraph[plot]\" "
                              f"(or pip install matplotlib)") from e

        class PlotFigure(Figure):
            def _repr_png_(self):
                buf = io.BytesIO()
                self.savefig(buf, format="png", dpi=100)
                return buf.getvalue()

        _FIGURE.append(PlotFigure)
    return _FIGURE[0](**kwargs)


def _save(fig, path, who):
    if path is None:
        return
    fspath = os.fspath(path)
    suffix = os.path.splitext(fspath)[1].lower().lstrip(".")
    if suffix not in ("png", "svg", "pdf"):
        raise ValueError(f"{who}: cannot tell the format from {fspath!r}; use a .png, .svg or .pdf path")
    tmp = f"{fspath}.tmp{os.getpid()}.{suffix}"
    fig.savefig(tmp, format=suffix, dpi=120)
    os.replace(tmp, fspath)


def plot_history(history, path=None, metrics=None):
    """Training curves from a ``History`` (or its ``.history`` dict): one panel per metric, the training value as
    a solid line and ``val_<metric>`` dashed, against the epoch. ``metrics``: names to draw (default: every
    metric recorded, ``loss`` first). Returns the matplotlib Figure; writes it to ``path`` when given."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(f"History.plot: expected a History or a dict of metric lists, got {type(history).__name__}")
    names = [k for k in logs if not k.startswith("val_")]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
    names.sort(key=lambda k: k != "loss")
    if metrics is not None:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in metrics if m not in names]
        if unknown:
            raise ValueError(f"History.plot: no metric {unknown} in this history; it has {names}")
        names = metrics
    if not names or not any(logs.get(k) or logs.get("val_" + k) for k in names):
        raise ValueError("History.plot: the history is empty; train with fit(...) first")
    epochs = list(getattr(history, "epoch", []) or [])
    fig = _figure("History.plot", figsize=(4.2 * len(names), 3.2), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for key, color, style, label in ((name, TRAIN, "-", "train"), ("val_" + name, VAL, "--", "validation")):
            ys = logs.get(key)
            if not ys:
                continue
            xs = [e + 1 for e in epochs] if len(epochs) == len(ys) else list(range(1, len(ys) + 1))
            ax.plot(xs, ys, style, color=color, marker="o", markersize=3.5, linewidth=1.6, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False, fontsize=9)
    _save(fig, path, "History.plot")
    return fig


def _groups(model, by):
    """(label, [parameters]) in registration order: one per parameter tensor (``layers.0.weight``), or with
    ``by="layer"`` one per module that owns parameters (``layers.0 · Conv2D``). ``model``: a Module or a list of
    Parameters (then ``by`` is per parameter)."""
    if by not in ("parameter", "layer"):
        raise ValueError(f"plot_grad_flow: by must be 'parameter' or 'layer', got {by!r}")
    if not hasattr(model, "named_modules"):
        try:
            model = list(model)
        except TypeError:
            raise TypeError(f"plot_grad_flow: model must be a Module or a list of Parameters, got "
                            f"{type(model).__name__}") from None
        return [(p.name or f"param {i}", [p]) for i, p in enumerate(model)]
    if by == "parameter":
        return [(name, [p]) for name, p in model.named_parameters()]
    out = []
    for mname, m in model.named_modules():
        own = list(m._parameters.values())
        if own:
            out.append((f"{mname} · {type(m).__name__}" if mname else type(m).__name__, own))
    return out


def plot_grad_flow(model, path=None, by="parameter"):
    """Gradient norms layer by layer after ``backward`` (the usual "are my gradients flowing" picture).

    One bar per parameter tensor, input side first (``by="layer"``: one per layer, the joint L2 norm of its
    parameters' gradients), log scale, coloured by health: blue below 1e-7 (vanishing), red above 1e3 or not
    finite (exploding), purple otherwise; the dots mark mean|g| / mean|w|. ``model`` is a Module or a list of
    Parameters; gradients are their ``.grad`` (call it before ``zero_grad``). Returns the matplotlib Figure; writes
    it to ``path`` (.png/.svg/.pdf) when given.
    """
    rows = []
    for title, params in _groups(model, by):
        sums = [s for s in map(_sums, params) if s is not None]
        if not sums:
            continue
        sq, g, w = (sum(col) for col in zip(*sums))            # the layer's parameters as one vector
        rows.append((title, float(np.sqrt(sq)), _ratio(g, w)))
    if not rows:
        raise _no_grads_error("plot_grad_flow")
    fig = _figure("plot_grad_flow", figsize=(max(5.0, 0.6 * len(rows) + 2.0), 4.4), layout="constrained")
    ax = fig.subplots()
    xs = np.arange(len(rows))
    norms = np.array([r[1] for r in rows])
    shown = np.where(np.isfinite(norms), np.maximum(norms, 1e-12), 1e12)
    colors = [HEALTH_BAR[health(n)] for n in norms]
    ax.bar(xs, shown, color=colors, alpha=0.85)
    ratios = np.array([r[2] for r in rows])
    ok = np.isfinite(ratios) & (ratios > 0)
    ax.plot(xs[ok], ratios[ok], "o", color="#202124", markersize=5, label="mean|g| / mean|w|")
    ax.axhline(VANISHING, color=HEALTH_BAR["vanishing"], linestyle=":", linewidth=1.2, label="vanishing < 1e-7")
    ax.axhline(EXPLODING, color=HEALTH_BAR["exploding"], linestyle=":", linewidth=1.2, label="exploding > 1e3")
    ax.set_yscale("log")
    ax.set_xticks(xs, [r[0] for r in rows], rotation=40, ha="right", fontsize=9)
    ax.set_ylabel("gradient")
    ax.set_title("gradient flow, input side first")
    ax.grid(True, axis="y", alpha=0.3)
    from matplotlib.patches import Patch
    handles = [Patch(color=HEALTH_BAR["ok"], alpha=0.85, label="‖g‖ (L2 norm)"), *ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, frameon=False, fontsize=8, loc="outside upper center", ncol=4)
    _save(fig, path, "plot_grad_flow")
    return fig
