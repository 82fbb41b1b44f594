"""Gradient health for ``grad_stats=True`` and ``plot_grad_flow``: norms and |g|/|w| ratios of leaf gradients.

The gradients read are the leaves' ``.grad`` arrays, which ``tape.backward(loss)`` leaves on every parameter
whatever the tape's persistence (a released tape keeps its parameters). So: render after ``backward`` and before
``optimizer.zero_grad()``.
"""
from __future__ import annotations

import numpy as np

VANISHING = 1e-7     # a gradient norm below this is drawn as vanishing
EXPLODING = 1e3      # above this (or inf/nan) as exploding


def health(norm) -> str:
    """'vanishing' | 'exploding' | 'ok' for a gradient norm (non-finite is exploding)."""
    if not np.isfinite(norm) or norm > EXPLODING:
        return "exploding"
    return "vanishing" if norm < VANISHING else "ok"


def grad_stats(t):
    """``{"norm", "ratio", "health"}`` of a leaf's ``.grad`` (None when it has none): the L2 norm, and
    mean|g| / mean|w| (inf when the weights are all zero and the gradient is not)."""
    g = getattr(t, "grad", None)
    if g is None:
        return None
    g = np.asarray(g, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        norm = float(np.sqrt(np.sum(g * g)))
        mean_g = float(np.mean(np.abs(g))) if g.size else 0.0
    w = getattr(t, "data", None)
    mean_w = float(np.mean(np.abs(np.asarray(w, dtype=np.float64)))) if w is not None and w.size else 0.0
    ratio = mean_g / mean_w if mean_w else (0.0 if mean_g == 0 else float("inf"))
    return {"norm": norm, "ratio": ratio, "health": health(norm)}


def _no_grads_error(who):
    return ValueError(f"{who}: no parameter has a .grad; call tape.backward(loss) first and draw before "
                      f"optimizer.zero_grad() (grad_stats reads the leaves' .grad arrays)")
