"""Batch normalisation as one fused op over (N, F) or (N, C, H, W); statistics over every axis but axis 1.

Training mode (no ``mean``/``var`` given) normalises with the batch statistics and backpropagates through them;
eval mode normalises with the given statistics (an affine map of ``x``). The running-statistics update is not part
of the op: it belongs to the layer, which reads the batch statistics the op reports through ``batch_stats``.
"""
from __future__ import annotations

import numpy as np

from ..function import Function, op_error


def _layout(x):
    """(reduction axes, broadcast shape of a per-channel vector) for (N, F) or (N, C, H, W) input."""
    if x.ndim == 2:
        return (0,), (1, x.shape[1])
    if x.ndim == 4:
        return (0, 2, 3), (1, x.shape[1], 1, 1)
    raise op_error("batch_norm", "expected input (N, F) or (N, C, H, W)", x)


class BatchNorm(Function):
    """Inputs ``x, gamma, beta`` (+ ``mean, var`` in eval mode, not differentiated)."""
    name = "batch_norm"
    nondiff_inputs = (3, 4)

    @staticmethod
    def forward(ctx, x, gamma, beta, mean=None, var=None, *, epsilon, batch_stats=None):
        # The stats dict is an output channel, not an attribute of the record.
        ctx.attrs.pop("batch_stats", None)
        axes, shape = _layout(x)
        c = x.shape[1]
        for label, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)):
            if v is not None and v.shape != (c,):
                raise op_error("batch_norm", f"{label} must have shape ({c},) for input {list(x.shape)}", x, v)
        if x.dtype.kind != "f":
            raise TypeError(f"batch_norm: expected floating-point input, got {x.dtype}{list(x.shape)}")
        ctx.axes, ctx.shape = axes, shape
        if mean is None:
            m = x.size // c if c else 0
            if m < 2:
                raise op_error("batch_norm", "batch statistics need more than one value per channel", x)
            mu = x.mean(axis=axes, keepdims=True)
            xhat = x - mu                                           # centred, normalised in place below
            sq = np.square(xhat)
            v = sq.mean(axis=axes, keepdims=True)
            del sq
            inv_std = 1 / np.sqrt(v + epsilon)
            xhat *= inv_std
            out = xhat * gamma.reshape(shape)
            out += beta.reshape(shape)
            ctx.training, ctx.count = True, m
            ctx.save_for_backward(xhat, inv_std, gamma)
            if batch_stats is not None:
                batch_stats.update(mean=mu.reshape(c), var=v.reshape(c), count=m)
            return out
        inv_std = (1 / np.sqrt(var + epsilon)).astype(x.dtype, copy=False)
        scale = gamma * inv_std
        out = x * scale.reshape(shape)
        out += (beta - mean * scale).astype(x.dtype, copy=False).reshape(shape)
        ctx.training = False
        ctx.save_for_backward(x, mean.astype(x.dtype), inv_std, scale)  # copy: running buffers change in place
        return out

    @staticmethod
    def backward(ctx, grad):
        axes, shape = ctx.axes, ctx.shape
        nx, ng, nb = ctx.needs_input_grad[:3]
        dbeta = grad.sum(axis=axes) if nb else None
        if ctx.training:
            xhat, inv_std, gamma = ctx.saved
            g_sum = dbeta if dbeta is not None else grad.sum(axis=axes)
            gx_sum = (grad * xhat).sum(axis=axes)
            dx = None
            if nx:
                m = ctx.count
                dx = grad - (g_sum / m).reshape(shape)
                dx -= xhat * (gx_sum / m).reshape(shape)
                dx *= (gamma.reshape(shape) * inv_std)
            return dx, (gx_sum if ng else None), dbeta
        x, mean, inv_std, scale = ctx.saved
        dx = grad * scale.reshape(shape) if nx else None
        dgamma = None
        if ng:
            dgamma = (grad * (x - mean.reshape(shape))).sum(axis=axes) * inv_std
        return dx, dgamma, dbeta, None, None


def batch_norm(x, gamma, beta, epsilon=1e-3, mean=None, var=None, batch_stats=None):
    """Normalise ``x`` per channel (axis 1), then scale by ``gamma`` and shift by ``beta`` (both of shape (C,)).

    Without ``mean``/``var``: batch statistics (biased variance), differentiated through; when ``batch_stats`` is a
    dict it receives ``mean``, ``var`` (biased, shape (C,)) and ``count`` (values per channel). With ``mean`` and
    ``var``: those statistics are used as constants (eval mode).
    """
    if (mean is None) != (var is None):
        raise ValueError("batch_norm: give both mean and var (eval mode) or neither (training mode)")
    if mean is None:
        return BatchNorm.apply(x, gamma, beta, epsilon=epsilon, batch_stats=batch_stats)
    return BatchNorm.apply(x, gamma, beta, mean, var, epsilon=epsilon)
