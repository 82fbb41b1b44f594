"""Adam and AdamW with PyTorch's update rules (torch.optim.Adam/AdamW, single-tensor path), in place."""
from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, check_bool, check_number


def check_betas(where, betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(check_number(where, f"betas[{i}]", b, high=1.0) for i, b in enumerate(betas))


class Adam(Optimizer):
    """Adam (PyTorch's rule), per parameter and step t = 1, 2, ...::

        g = grad + weight_decay * p                    (AdamW instead: p *= 1 - lr * weight_decay)
        m = m + (1 - beta1) * (g - m);  v = beta2 * v + (1 - beta2) * g * g
        vmax = max(vmax, v) with amsgrad, used in place of v below
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (amsgrad), plus two
    scratch arrays; nothing is allocated per step after the first.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _check_group(self, g, where):
        g["lr"] = check_number(where, "lr", g["lr"])
        g["betas"] = check_betas(where, g["betas"])
        g["eps"] = check_number(where, "eps", g["eps"])
        g["weight_decay"] = check_number(where, "weight_decay", g["weight_decay"])
        g["amsgrad"] = check_bool(where, "amsgrad", g["amsgrad"])
        return g

    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd, amsgrad = (group[k] for k in ("lr", "betas", "eps", "weight_decay",
                                                                        "amsgrad"))
            for p, w, grad in self._grads(group):
                s, t = self._temps(p, w, 2)
                st = self.state.setdefault(id(p), {})
                if "step" not in st:
                    st.update(step=0, exp_avg=np.zeros_like(w), exp_avg_sq=np.zeros_like(w))
                if amsgrad and "max_exp_avg_sq" not in st:
                    st["max_exp_avg_sq"] = np.zeros_like(w)
                st["step"] += 1
                step = st["step"]
                m, v = st["exp_avg"], st["exp_avg_sq"]
                if wd and self._decoupled:
                    w *= 1 - lr * wd
                    g = grad
                else:
                    g = self._decayed(w, grad, wd, s)
                np.subtract(g, m, out=t)              # m.lerp_(g, 1 - beta1)
                t *= 1 - beta1
                m += t
                v *= beta2                            # v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                np.multiply(g, 1 - beta2, out=t)
                t *= g
                v += t
                if amsgrad:
                    vmax = st["max_exp_avg_sq"]
                    np.maximum(vmax, v, out=vmax)
                    v = vmax
                step_size = lr / (1 - beta1 ** step)
                np.sqrt(v, out=t)
                t /= math.sqrt(1 - beta2 ** step)
                t += eps
                np.multiply(m, -step_size, out=s)     # g is not needed any more
                s /= t
                w += s


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's AdamW): ``p *= 1 - lr * weight_decay`` before the Adam step,
    the gradient itself is not decayed. Default ``weight_decay=1e-2``."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
