"""Matrix product with numpy's matmul rules (batched, broadcast batch axes, 1-D operands)."""
from __future__ import annotations

import numpy as np

from ..function import Function, op_error


class MatMul(Function):
    name = "matmul"
    promote_bool = True

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise op_error("matmul", "operands must have at least 1 dimension", a, b)
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise op_error("matmul", "inner dimensions differ", a, b)
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        # Promote 1-D operands to matrices so one rule covers every case; the walk sums broadcast batch axes.
        a2 = a[None, :] if a.ndim == 1 else a                      # (..., n, k)
        b2 = b[:, None] if b.ndim == 1 else b                      # (..., k, m)
        g = grad
        if b.ndim == 1:
            g = np.expand_dims(g, -1)                              # (..., n, 1)
        if a.ndim == 1:
            g = np.expand_dims(g, -2)                              # (..., 1, m)
        ga = gb = None
        if na:
            ga = np.matmul(g, np.swapaxes(b2, -1, -2))             # (..., n, k)
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:]) if ga.ndim > 2 else ga[0]
        if nb:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g)             # (..., k, m)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def matmul(a, b):
    return MatMul.apply(a, b)
