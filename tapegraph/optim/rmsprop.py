"""RMSprop and Adagrad with PyTorch's update rules, in place."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, check_bool, check_number


class RMSprop(Optimizer):
    """RMSprop (PyTorch's rule; note eps is added outside the square root)::

        g = grad + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        centered:  a = a + (1 - alpha) * (g - a);  d = sqrt(s - a * a) + eps      else d = sqrt(s) + eps
        momentum:  b = momentum * b + g / d;  p -= lr * b                        else p -= lr * g / d

    State per parameter: ``step``, ``square_avg`` (s), ``grad_avg`` (a, centered), ``momentum_buffer`` (b).
    """

    _state_keys = ("step", "square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check_group(self, g, where):
        g["lr"] = check_number(where, "lr", g["lr"])
        g["alpha"] = check_number(where, "alpha", g["alpha"], high=1.0, high_open=False)
        g["eps"] = check_number(where, "eps", g["eps"])
        g["weight_decay"] = check_number(where, "weight_decay", g["weight_decay"])
        g["momentum"] = check_number(where, "momentum", g["momentum"], high=1.0)
        g["centered"] = check_bool(where, "centered", g["centered"])
        return g

    def step(self):
        for group in self.param_groups:
            lr, alpha, eps, wd, mom, centered = (group[k] for k in ("lr", "alpha", "eps", "weight_decay", "momentum",
                                                                    "centered"))
            for p, w, grad in self._grads(group):
                s, t = self._temps(p, w, 2)
                st = self.state.setdefault(id(p), {})
                if "step" not in st:
                    st.update(step=0, square_avg=np.zeros_like(w))
                st["step"] += 1
                g = self._decayed(w, grad, wd, s)
                sq = st["square_avg"]
                sq *= alpha
                np.multiply(g, 1 - alpha, out=t)
                t *= g
                sq += t
                if centered:
                    a = st.get("grad_avg")
                    if a is None:
                        a = st["grad_avg"] = np.zeros_like(w)
                    np.subtract(g, a, out=t)
                    t *= 1 - alpha
                    a += t
                    np.multiply(a, a, out=t)
                    np.subtract(sq, t, out=t)
                    np.sqrt(t, out=t)
                else:
                    np.sqrt(sq, out=t)
                t += eps
                if mom > 0:
                    b = st.get("momentum_buffer")
                    if b is None:
                        b = st["momentum_buffer"] = np.zeros_like(w)
                    b *= mom
                    np.divide(g, t, out=t)
                    b += t
                    np.multiply(b, lr, out=t)
                    w -= t
                else:
                    np.multiply(g, -lr, out=s)
                    s /= t
                    w += s


class Adagrad(Optimizer):
    """Adagrad (PyTorch's rule), per parameter and step t = 1, 2, ...::

        g = grad + weight_decay * p
        s = s + g * g                           (s starts at initial_accumulator_value)
        p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    State per parameter: ``step``, ``sum`` (s). A group's own ``initial_accumulator_value`` is honoured (PyTorch
    fills every group's sum from the constructor's value).
    """

    _state_keys = ("step", "sum")

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _check_group(self, g, where):
        for k in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            g[k] = check_number(where, k, g[k])
        return g

    def step(self):
        for group in self.param_groups:
            lr, lr_decay, wd, eps = (group[k] for k in ("lr", "lr_decay", "weight_decay", "eps"))
            for p, w, grad in self._grads(group):
                s, t = self._temps(p, w, 2)
                st = self.state.setdefault(id(p), {})
                if "step" not in st:
                    st.update(step=0, sum=np.full_like(w, group["initial_accumulator_value"]))
                st["step"] += 1
                clr = lr / (1 + (st["step"] - 1) * lr_decay)
                g = self._decayed(w, grad, wd, s)
                acc = st["sum"]
                np.multiply(g, g, out=t)
                acc += t
                np.sqrt(acc, out=t)
                t += eps
                np.multiply(g, -clr, out=s)
                s /= t
                w += s
