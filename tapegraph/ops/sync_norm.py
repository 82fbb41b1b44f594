"""Synchronised batch normalisation: batch statistics over the samples of EVERY rank of the MPI world.

Forward gathers each rank's (count, mean, sum of squared deviations) per channel in one allgather and combines them
(Chan et al.'s pairwise formula: no E[x^2] - E[x]^2 cancellation); backward allreduces the two per-channel sums
the input gradient needs (sum g, sum g * xhat). So R ranks with batch B each compute, in values and input
gradients, what one process computes on the R*B batch. ``gamma``/``beta`` gradients stay local sums (the gradient
averaging of ``tapegraph.distributed`` combines them, as for every other parameter). In a one-rank world it is
plain training-mode ``batch_norm``. Every rank must call it in the same order (it is a collective).
"""
from __future__ import annotations

import numpy as np

from ..function import Function, op_error
from .norm import _batch_norm_dx, _layout


class SyncBatchNorm(Function):
    """Inputs ``x, gamma, beta``; training-mode statistics only (eval mode is plain ``batch_norm``)."""
    name = "sync_batch_norm"

    @staticmethod
    def forward(ctx, x, gamma, beta, *, epsilon, batch_stats=None):
        from .. import distributed as dist
        ctx.attrs.pop("batch_stats", None)
        if x.ndim not in (2, 4):
            raise op_error("sync_batch_norm", "expected input (N, F) or (N, C, H, W)", x)
        axes, shape = _layout(x)
        c = x.shape[1]
        for label, v in (("gamma", gamma), ("beta", beta)):
            if v.shape != (c,):
                raise op_error("sync_batch_norm", f"{label} must have shape ({c},) for input {list(x.shape)}", x, v)
        if x.dtype.kind != "f":
            raise TypeError(f"sync_batch_norm: expected floating-point input, got {x.dtype}{list(x.shape)}")
        n = x.size // c if c else 0
        mu = x.mean(axis=axes, dtype=np.float64) if n else np.zeros(c)          # local, per channel
        xc = x - mu.astype(x.dtype).reshape(shape)
        m2 = np.square(xc).sum(axis=axes, dtype=np.float64)
        local = np.concatenate([[float(n)], mu, m2])                            # (2C + 1,) float64
        rows = dist._allgather(local, f"sync_batch_norm forward (C={c})")       # (ranks, 2C + 1)
        counts, means, m2s = rows[:, 0], rows[:, 1:c + 1], rows[:, c + 1:]
        total = counts.sum()
        if total < 2:
            raise op_error("sync_batch_norm", "batch statistics need more than one value per channel", x)
        mean = counts @ means / total                                           # (C,)
        var = (m2s.sum(0) + counts @ np.square(means - mean)) / total           # biased, (C,)
        inv_std = (1 / np.sqrt(var + epsilon)).astype(x.dtype).reshape(shape)
        xc += (mu - mean).astype(x.dtype).reshape(shape)                        # now centred on the global mean
        xc *= inv_std                                                           # xhat
        out = xc * gamma.reshape(shape)
        out += beta.reshape(shape)
        ctx.axes, ctx.shape, ctx.count = axes, shape, total
        ctx.save_for_backward(xc, inv_std, gamma)
        if batch_stats is not None:
            batch_stats.update(mean=mean.astype(x.dtype), var=var.astype(x.dtype), count=int(total))
        return out

    @staticmethod
    def backward(ctx, grad):
        from .. import distributed as dist
        axes = ctx.axes
        nx, ng, nb = ctx.needs_input_grad[:3]
        xhat, inv_std, gamma = ctx.saved
        g_sum = grad.sum(axis=axes) if nx or nb else None
        gx_sum = (grad * xhat).sum(axis=axes) if nx or ng else None
        dx = None
        if nx:
            c = g_sum.shape[0]
            both = dist.allreduce(np.concatenate([g_sum, gx_sum]), "sum",
                                  what=f"sync_batch_norm backward (C={c})")
            dx = _batch_norm_dx(grad, xhat, gamma, inv_std.reshape(-1), both[:c], both[c:], ctx.count)
        return dx, (gx_sum if ng else None), (g_sum if nb else None)


def sync_batch_norm(x, gamma, beta, epsilon=1e-3, batch_stats=None):
    """Training-mode ``batch_norm`` with statistics over the global batch of all ranks (see the module docstring).

    ``batch_stats`` (a dict) receives the global ``mean``, biased ``var`` (shape (C,)) and ``count``.
    """
    return SyncBatchNorm.apply(x, gamma, beta, epsilon=epsilon, batch_stats=batch_stats)
