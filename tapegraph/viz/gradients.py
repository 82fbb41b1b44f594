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


def _sums(t):
    """(sum g*g, sum |g|, sum |w|) of a leaf's ``.grad`` and ``.data`` in float64; None when it has no grad."""
    g = getattr(t, "grad", None)
    if g is None:
        return None
    g = np.asarray(g, dtype=np.float64)
    w = getattr(t, "data", None)
    with np.errstate(over="ignore", invalid="ignore"):
        abs_w = float(np.sum(np.abs(np.asarray(w, dtype=np.float64)))) if w is not None else 0.0
        return float(np.sum(g * g)), float(np.sum(np.abs(g))), abs_w


def _ratio(abs_g, abs_w) -> float:
    """mean|g| / mean|w| from the sums over equally many values: inf when the weights are all zero and the
    gradient is not, 0 when both are."""
    return abs_g / abs_w if abs_w else (0.0 if abs_g == 0 else float("inf"))


def grad_stats(t):
    """``{"norm", "ratio", "health"}`` of a leaf's ``.grad`` (None when it has none): the L2 norm, and
    mean|g| / mean|w| (inf when the weights are all zero and the gradient is not)."""
    sums = _sums(t)
    if sums is None:
        return None
    norm = float(np.sqrt(sums[0]))
    return {"norm": norm, "ratio": _ratio(sums[1], sums[2]), "health": health(norm)}


def _no_grads_error(who):
    return ValueError(f"{who}: no parameter has a .grad; call tape.backward(loss) first and draw before "
                      f"optimizer.zero_grad() (grad_stats reads the leaves' .grad arrays)")
