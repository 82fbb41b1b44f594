"""Gradient clipping, in place on ``.grad`` (PyTorch's torch.nn.utils.clip_grad_norm_/clip_grad_value_)."""
from __future__ import annotations

import math
from numbers import Real

import numpy as np

from ..tensor import Tensor


def _grads(params, who):
    if isinstance(params, Tensor):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{who}: params must be a tensor or an iterable of tensors, got "
                        f"{type(params).__name__}") from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: params[{i}] is a {type(p).__name__}, expected a tensor (Parameter)")
    grads = [p.grad for p in params if p.grad is not None]
    for i, g in enumerate(grads):
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            raise TypeError(f"{who}: gradients must be floating-point arrays (clipped in place), got "
                            f"{getattr(g, 'dtype', type(g).__name__)} for gradient {i}")
    return grads


def _real(who, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def clip_grad_norm(params, max_norm, norm_type=2.0, error_if_nonfinite=False) -> float:
    """Scale the gradients of ``params`` together so that their total ``norm_type``-norm (the norm of the
    per-parameter norms; ``float("inf")``: the largest absolute value) is at most ``max_norm``; returns the total
    norm before clipping (as a float; 0.0 when no parameter has a gradient).

    As PyTorch: grads are multiplied by ``min(1, max_norm / (total + 1e-6))``; a non-finite total norm raises
    RuntimeError with ``error_if_nonfinite=True``, otherwise the scaling proceeds (the grads become NaN/0)."""
    who = "clip_grad_norm"
    max_norm = _real(who, "max_norm", max_norm)
    if not max_norm >= 0:       # also NaN; -inf or a negative max_norm would flip the gradients' sign
        raise ValueError(f"{who}: max_norm must be >= 0, got {max_norm}")
    norm_type = _real(who, "norm_type", norm_type)
    if not norm_type > 0:
        raise ValueError(f"{who}: norm_type must be > 0 (or inf), got {norm_type}")
    grads = _grads(params, who)
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            if norm_type == 2.0:          # the common case: one float64 copy and a dot, not abs and a power
                parts = [np.dot(a, a) for a in (g.astype(np.float64).ravel() for g in grads)]
            else:
                parts = [np.sum(np.abs(g, dtype=np.float64) ** norm_type) for g in grads]
            total = float(np.sum(parts) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{who}: the total norm of order {norm_type} of the gradients is {total}; pass "
                           f"error_if_nonfinite=False to scale anyway (or find the NaN with tg.detect_anomaly())")
    coef = max_norm / (total + 1e-6)
    coef = coef if coef < 1.0 or math.isnan(coef) else 1.0
    if coef != 1.0:
        with np.errstate(invalid="ignore"):
            for g in grads:
                g *= coef
    return total


def clip_grad_value(params, clip_value) -> None:
    """Clamp every gradient of ``params`` into [-clip_value, clip_value], in place."""
    who = "clip_grad_value"
    clip_value = _real(who, "clip_value", clip_value)
    if not clip_value >= 0:     # also NaN, which np.clip would spread to every gradient
        raise ValueError(f"{who}: clip_value must be >= 0, got {clip_value}")
    for g in _grads(params, who):
        np.clip(g, -clip_value, clip_value, out=g)


clip_grad_norm_ = clip_grad_norm
clip_grad_value_ = clip_grad_value
