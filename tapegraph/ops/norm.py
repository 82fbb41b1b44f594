"""Batch normalisation as one fused op over (N, F) or (N, C, H, W); statistics over every axis but axis 1.

Training mode (no ``mean``/``var`` given) normalises with the batch statistics and backpropagates through them;
eval mode normalises with the given statistics (an affine map of ``x``). The running-statistics update is not part
of the op: it belongs to the layer, which reads the batch statistics the op reports through ``batch_stats``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import buffers
from ..function import Function, op_error
from ..threads import for_blocks


def _layout(x):
    """(reduction axes, broadcast shape of a per-channel vector) for (N, F) or (N, C, H, W) input."""
    if x.ndim == 2:
        return (0,), (1, -1)
    if x.ndim == 4:
        return (0, 2, 3), (1, -1, 1, 1)
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
            # Memory-bound on activations: 4 passes over x-sized arrays (mean, centre, sum of squares by einsum
            # without a squared copy, scale; the shift in place), blocks of channels on tapegraph.threads (every
            # step is per channel). Keeps the centred xc, not xhat = xc * inv_std: backward folds inv_std into
            # per-channel factors. Large arrays come from tapegraph.buffers in x's memory order.
            big = x.nbytes >= buffers.MIN_BYTES
            xc = buffers.empty_in_order_of(x, x.shape, x.dtype) if big else np.empty_like(x)
            out = buffers.empty_in_order_of(x, x.shape, x.dtype) if big else np.empty_like(x)
            mu, v, inv = (np.empty(c, x.dtype) for _ in range(3))

            def block(c0, c1):
                xs, xcs, cs = x[:, c0:c1], xc[:, c0:c1], slice(c0, c1)
                mub = xs.mean(axis=axes, keepdims=True)
                np.subtract(xs, mub, out=xcs)
                mu[cs], v[cs] = mub.reshape(-1), _channel_dot(xcs, xcs) / m
                inv[cs] = 1 / np.sqrt(v[cs] + epsilon)
                np.multiply(xcs, (gamma[cs] * inv[cs]).reshape(shape), out=out[:, cs])
                out[:, cs] += beta[cs].reshape(shape)
            for_blocks(block, c, m)
            inv_std = inv.reshape(shape)
            ctx.training, ctx.count = True, m
            ctx.save_for_backward(xc, inv_std, gamma)
            if batch_stats is not None:
                batch_stats.update(mean=mu, var=v, count=m)
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
        if ctx.training:
            xc, inv_std, gamma = ctx.saved
            c, m, inv = grad.shape[1], ctx.count, inv_std.reshape(-1)
            g_sum, gx_sum = np.empty(c, grad.dtype), np.empty(c, grad.dtype)
            dx = None
            if nx:
                big = grad.nbytes >= buffers.MIN_BYTES
                dx = buffers.empty_in_order_of(grad, grad.shape, grad.dtype) if big else np.empty_like(grad)

            def block(c0, c1):                                          # blocks of channels, one per thread
                gs, xs, cs = grad[:, c0:c1], xc[:, c0:c1], slice(c0, c1)
                g_sum[cs], gx_sum[cs] = gs.sum(axis=axes), _channel_dot(gs, xs) * inv[cs]   # sum grad * xhat
                if nx:
                    _batch_norm_dx(gs, xs, gamma[cs], inv[cs], g_sum[cs], gx_sum[cs], m, inv[cs], out=dx[:, cs])
            for_blocks(block, c, m)
            return dx, (gx_sum if ng else None), (g_sum if nb else None)
        x, mean, inv_std, scale = ctx.saved
        dbeta = grad.sum(axis=axes) if nb else None
        dx = grad * scale.reshape(shape) if nx else None
        dgamma = None
        if ng:
            dgamma = (grad * (x - mean.reshape(shape))).sum(axis=axes) * inv_std
        return dx, dgamma, dbeta, None, None


def _channel_dot(a, b):
    """Per-channel (axis 1) sum of a * b over (N, C) or (N, C, H, W), without an a * b temporary (float16
    accumulates in float32)."""
    sub = "nchw"[:a.ndim]
    return np.einsum(f"{sub},{sub}->c", a, b, dtype=np.float32 if a.dtype.itemsize < 4 else None)


def _batch_norm_dx(grad, xs, gamma, inv_std, g_sum, gx_sum, count, xs_scale=1, out=None):
    """dL/dx of training-mode batch norm: gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat)), xhat = xs *
    xs_scale (xs: xhat itself, or the centred input with xs_scale = inv_std); per-channel vectors are (C,), the means
    per channel over ``count`` values whose sums are ``g_sum``/``gx_sum`` (sums over every rank for
    sync_batch_norm). Written into ``out`` when given."""
    dt, shape = grad.dtype, _layout(grad)[1]
    dx = np.multiply(xs, ((gx_sum / count) * xs_scale).astype(dt, copy=False).reshape(shape), out=out)
    np.subtract(grad, dx, out=dx)
    dx -= (g_sum / count).astype(dt, copy=False).reshape(shape)
    dx *= (gamma * inv_std).astype(dt, copy=False).reshape(shape)
    return dx


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


# -- layer and group normalisation -----------------------------------------------------------------------------------
def _normalize(x, axes, eps):
    """(xhat, inv_std) over ``axes`` (biased variance, as PyTorch)."""
    mu = x.mean(axis=axes, keepdims=True)
    xhat = x - mu
    var = np.square(xhat).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))
    xhat *= inv_std
    return xhat, inv_std


def _normalize_grad(gx, xhat, inv_std, axes):
    """Gradient through xhat = (x - mean) * inv_std given gx = dL/dxhat: inv_std (gx - mean gx - xhat mean(gx xhat))."""
    dx = gx - gx.mean(axis=axes, keepdims=True)
    dx -= xhat * (gx * xhat).mean(axis=axes, keepdims=True)
    dx *= inv_std
    return dx


def _affine_grads(ctx, grad, xhat, axes) -> list:
    """Gradients of the optional ``weight``, ``bias`` inputs (those the attrs say were given) of ``xhat * weight +
    bias``, summed over ``axes``."""
    needs, out = ctx.needs_input_grad, []
    if ctx.attrs["has_weight"]:
        out.append((grad * xhat).sum(axis=axes) if needs[1] else None)
    if ctx.attrs["has_bias"]:
        out.append(grad.sum(axis=axes) if needs[-1] else None)
    return out


class LayerNorm(Function):
    """Inputs ``x`` (+ ``weight``, ``bias`` of shape x.shape[-k:] when the attrs say so); statistics over the last
    ``k`` axes of each sample."""
    name = "layer_norm"

    @staticmethod
    def forward(ctx, x, *params, normalized_ndim, eps, has_weight, has_bias):
        k = normalized_ndim
        axes = tuple(range(x.ndim - k, x.ndim))
        xhat, inv_std = _normalize(x, axes, eps)
        weight = params[0] if has_weight else None
        out = xhat * weight if has_weight else xhat.copy()
        if has_bias:
            out += params[-1]
        ctx.save_for_backward(xhat, inv_std, weight)
        ctx.axes = axes
        return out

    @staticmethod
    def backward(ctx, grad):
        xhat, inv_std, weight = ctx.saved
        needs = ctx.needs_input_grad
        grads = [None] + _affine_grads(ctx, grad, xhat, tuple(range(grad.ndim - len(ctx.axes))))
        if needs[0]:
            grads[0] = _normalize_grad(grad * weight if weight is not None else grad, xhat, inv_std, ctx.axes)
        return tuple(grads)


def _grouped(a, groups):
    """(N, C, *) -> (N, G, C/G * spatial), sizes spelled out: reshape's -1 is ambiguous for an empty batch (whose
    groups keep their true size, so that no statistic is a mean of nothing)."""
    return a.reshape(a.shape[0], groups, math.prod(a.shape[1:]) // groups)


class GroupNorm(Function):
    """Inputs ``x`` (N, C, *) (+ ``weight``, ``bias`` (C,) when the attrs say so); statistics over each group of
    C / num_groups channels and all spatial positions of a sample."""
    name = "group_norm"

    @staticmethod
    def forward(ctx, x, *params, num_groups, eps, has_weight, has_bias):
        c = x.shape[1]
        xhat, inv_std = _normalize(_grouped(x, num_groups), (2,), eps)
        xhat = xhat.reshape(x.shape)
        cshape = (1, c) + (1,) * (x.ndim - 2)
        weight = params[0].reshape(cshape) if has_weight else None
        out = xhat * weight if has_weight else xhat.copy()
        if has_bias:
            out += params[-1].reshape(cshape)
        ctx.save_for_backward(xhat, inv_std, weight)
        return out

    @staticmethod
    def backward(ctx, grad):
        xhat, inv_std, weight = ctx.saved
        needs = ctx.needs_input_grad
        grads = [None] + _affine_grads(ctx, grad, xhat, (0,) + tuple(range(2, grad.ndim)))
        if needs[0]:
            g = ctx.attrs["num_groups"]
            gx = _grouped(grad * weight if weight is not None else grad, g)
            grads[0] = _normalize_grad(gx, _grouped(xhat, g), inv_std, (2,)).reshape(grad.shape)
        return tuple(grads)


def _eps(op, eps):
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer, np.floating)) \
            or not eps >= 0 or not np.isfinite(float(eps)):
        raise ValueError(f"{op}: eps must be a finite number >= 0, got {eps!r}")
    return float(eps)


def _affine(op, x, weight, bias, shape):
    """Check weight/bias against ``shape``; return the list of the ones given."""
    from ..tensor import Tensor
    params = []
    for label, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        ps = p.shape if isinstance(p, Tensor) else np.shape(p)
        if tuple(ps) != tuple(shape):
            raise ValueError(f"{op}: {label} must have shape {tuple(shape)}, got {tuple(ps)} (x: "
                             f"{tuple(np.shape(x.data if isinstance(x, Tensor) else x))})")
        params.append(p)
    return params


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise each sample over its last ``len(normalized_shape)`` axes (which must equal ``normalized_shape``),
    then ``* weight + bias`` (both of shape ``normalized_shape``, optional). PyTorch's ``layer_norm``."""
    from ..tensor import Tensor
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    if (not isinstance(ns, (tuple, list)) or not ns
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in ns)):
        raise TypeError(f"layer_norm: normalized_shape must be an int or a non-empty tuple of ints, got "
                        f"{normalized_shape!r}")
    ns = tuple(int(v) for v in ns)
    if len(ns) > len(shape) or tuple(shape[len(shape) - len(ns):]) != ns:
        raise ValueError(f"layer_norm: normalized_shape {ns} must equal the last axes of x, got x of shape "
                         f"{tuple(shape)}")
    params = _affine("layer_norm", x, weight, bias, ns)
    return LayerNorm.apply(x, *params, normalized_ndim=len(ns), eps=_eps("layer_norm", eps),
                           has_weight=weight is not None, has_bias=bias is not None)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise x (N, C, *) over groups of C / num_groups channels (and every spatial position) per sample, then
    ``* weight + bias`` per channel (both (C,), optional). PyTorch's ``group_norm``."""
    from ..tensor import Tensor
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    if not isinstance(num_groups, (int, np.integer)) or isinstance(num_groups, bool) or num_groups < 1:
        raise TypeError(f"group_norm: num_groups must be a positive int, got {num_groups!r}")
    if len(shape) < 2:
        raise ValueError(f"group_norm: x must be (N, C, ...), got shape {tuple(shape)}")
    if shape[1] % num_groups:
        raise ValueError(f"group_norm: num_groups {num_groups} must divide the {shape[1]} channels of x "
                         f"(shape {tuple(shape)})")
    params = _affine("group_norm", x, weight, bias, (shape[1],))
    return GroupNorm.apply(x, *params, num_groups=int(num_groups), eps=_eps("group_norm", eps),
                           has_weight=weight is not None, has_bias=bias is not None)
