"""Numerical gradient checks, public so users can prove their own functions."""
from __future__ import annotations

import numpy as np

from .tape import Tape, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message names the worst element."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, wrt=None, seed: int = 0):
    """Compare the tape's gradient of ``fn(*inputs)`` with float64 central differences.

    ``inputs`` are Tensors or arrays; floating ones are copied to float64 and differentiated (or only the positions
    in ``wrt``), others are passed through. A non-scalar output is contracted with a fixed random vector ``v``, so
    the check is of the vector-Jacobian product ``v^T J``. Returns True, or raises GradcheckError naming the input,
    the worst element, and its analytic and numeric values.
    """
    rng = np.random.default_rng(seed)
    args = []
    for x in inputs:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.dtype.kind == "f":
            args.append(Tensor(data.astype(np.float64), requires_grad=True, dtype=np.float64))
        else:
            args.append(x if isinstance(x, Tensor) else Tensor(data))
    positions = [i for i, a in enumerate(args) if a.requires_grad and (wrt is None or i in wrt)]
    if not positions:
        raise ValueError("gradcheck: no floating-point input to differentiate")

    with Tape() as tape:
        out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    v = rng.standard_normal(out.shape)
    analytic = tape.gradient(out, [args[i] for i in positions], output_gradients=v, unconnected="zero")

    def scalar() -> float:
        with no_grad():
            return float(np.sum(fn(*args).data * v))

    for pos, a_grad in zip(positions, analytic):
        x = args[pos].data
        numeric = np.zeros_like(x)
        flat, nflat = x.reshape(-1), numeric.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            f_plus = scalar()
            flat[j] = orig - eps
            f_minus = scalar()
            flat[j] = orig
            nflat[j] = (f_plus - f_minus) / (2 * eps)
        err = np.abs(a_grad - numeric) - (atol + rtol * np.abs(numeric))
        err = np.where(np.isfinite(err), err, np.inf)      # a NaN/Inf gradient is a failure, not a pass
        if err.size and err.max() > 0:
            k = np.unravel_index(int(np.argmax(err)), err.shape)
            raise GradcheckError(
                f"gradcheck: input {pos} (shape {x.shape}): at index {tuple(int(i) for i in k)} analytic "
                f"{a_grad[k]:.8g} vs numeric {numeric[k]:.8g} (|diff| {abs(a_grad[k] - numeric[k]):.3g}, "
                f"atol {atol}, rtol {rtol}); {int((err > 0).sum())} of {err.size} elements out of tolerance")
    return True
