"""Stochastic gradient descent with PyTorch's update rule, in place."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, check_bool, check_number


class SGD(Optimizer):
    """``p -= lr * d`` with, per step (PyTorch's rule)::

        g = grad + weight_decay * p
        v = g (first step), else momentum * v + (1 - dampening) * g
        d = g + momentum * v if nesterov else v     (d = g without momentum)

    ``params``: Parameters or parameter groups (see ``Optimizer``). Parameters are updated in place; each keeps one
    momentum buffer (``state[...]["momentum_buffer"]``, also listed by ``velocity``) and one scratch array (two
    with dampening, or Nesterov with weight decay); no allocation per step after the first.
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0, dampening=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      dampening=dampening))

    def _check_group(self, g, where):
        g["lr"] = check_number(where, "lr", g["lr"])
        g["momentum"] = check_number(where, "momentum", g["momentum"], high=1.0)
        g["dampening"] = check_number(where, "dampening", g["dampening"], high=1.0, high_open=False)
        g["weight_decay"] = check_number(where, "weight_decay", g["weight_decay"])
        g["nesterov"] = check_bool(where, "nesterov", g["nesterov"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError(f"{where}: nesterov needs momentum > 0 and dampening 0, got momentum={g['momentum']}, "
                             f"dampening={g['dampening']}")
        return g

    @property
    def velocity(self) -> list:
        """The momentum buffer of each parameter (None before its first step with momentum)."""
        return [self.state.get(id(p), {}).get("momentum_buffer") for p in self.params]

    def _upgrade_legacy(self, state_dict):
        # checkpoints written before parameter groups: {"lr": float, "velocity": [ndarray | None per parameter]}
        if "param_groups" in state_dict or "velocity" not in state_dict:
            return state_dict
        if len(self.param_groups) != 1:
            raise ValueError(f"SGD.load_state_dict: an old-format state (lr, velocity) fits one parameter group, "
                             f"this optimizer has {len(self.param_groups)}")
        velocity = list(state_dict["velocity"])
        if len(velocity) != len(self.params):
            raise ValueError(f"SGD.load_state_dict: {len(velocity)} velocity buffers for {len(self.params)} "
                             f"parameters")
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group.update(lr=float(state_dict["lr"]), params=list(range(len(velocity))))
        return {"state": {i: {"momentum_buffer": v} for i, v in enumerate(velocity) if v is not None},
                "param_groups": [group]}

    def step(self):
        for group in self.param_groups:
            lr, mom, wd, damp, nesterov = (group[k] for k in ("lr", "momentum", "weight_decay", "dampening",
                                                               "nesterov"))
            for p, w, grad in self._grads(group):
                temps = self._temps(p, w, 2 if (damp or (nesterov and wd)) else 1)
                s = temps[0]
                g = self._decayed(w, grad, wd, s)
                if mom:
                    st = self.state.setdefault(id(p), {})
                    v = st.get("momentum_buffer")
                    if v is None or v.dtype != w.dtype:
                        v = st["momentum_buffer"] = np.array(g, dtype=w.dtype, copy=True)
                    else:
                        v *= mom
                        if damp:
                            np.multiply(g, 1 - damp, out=temps[1])
                            v += temps[1]
                        else:
                            v += g
                    if nesterov:
                        if g is not s:
                            np.multiply(v, mom, out=s)
                            s += g
                        else:
                            np.multiply(v, mom, out=temps[1])
                            s += temps[1]
                        g = s
                    else:
                        g = v
                np.multiply(g, lr, out=s)
                w -= s
