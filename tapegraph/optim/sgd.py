"""Stochastic gradient descent with PyTorch's update rule, in place."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


class Optimizer:
    """Holds the parameter list and the learning rate ``lr`` (schedules change it between steps)."""

    def __init__(self, params, lr):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Parameters, got a single tensor; "
                            f"use model.parameters()")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{name}: params[{i}] is not a tensor that requires grad ({type(p).__name__})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears more than once")
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: lr must be a number, got {type(lr).__name__}") from None
        if not lr > 0:
            raise ValueError(f"{name}: lr must be positive, got {lr}")
        self.params = params
        self.lr = lr

    def zero_grad(self):
        """Drop the gradients (``grad = None``); the next backward starts from zero."""
        for p in self.params:
            p.grad = None

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """``p -= lr * d`` with, per step (PyTorch's rule)::

        g = grad + weight_decay * p
        v = g (first step), else momentum * v + (1 - dampening) * g
        d = g + momentum * v if nesterov else v     (d = g without momentum)

    Parameters are updated in place; each parameter keeps one velocity and one scratch array.
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0, dampening=0.0):
        super().__init__(params, lr)
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening 0, got momentum={momentum}, "
                             f"dampening={dampening}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.dampening = float(dampening)
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)

    def state_dict(self) -> dict:
        """What a checkpoint needs to continue exactly: the lr and the velocity buffers (None before the first step)."""
        return {"lr": self.lr, "velocity": [None if v is None else v.copy() for v in self.velocity]}

    def load_state_dict(self, state: dict):
        velocity = state["velocity"]
        if len(velocity) != len(self.params):
            raise ValueError(f"SGD.load_state_dict: {len(velocity)} velocity buffers for {len(self.params)} parameters")
        for i, (v, p) in enumerate(zip(velocity, self.params)):
            if v is not None and v.shape != p.data.shape:
                raise ValueError(f"SGD.load_state_dict: velocity {i} has shape {v.shape}, parameter {p.name or i} "
                                 f"has shape {p.data.shape}")
        self.lr = float(state["lr"])
        self.velocity = [None if v is None else np.array(v, dtype=p.data.dtype) for v, p in zip(velocity, self.params)]

    def step(self):
        lr, mom, wd, damp = self.lr, self.momentum, self.weight_decay, self.dampening
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is None:
                continue
            w = p.data
            if grad.shape != w.shape:
                raise ValueError(f"SGD: gradient of shape {grad.shape} for parameter {p.name or i} of shape "
                                 f"{w.shape}")
            s = self._scratch[i]
            if s is None or s.dtype != w.dtype:
                s = self._scratch[i] = np.empty_like(w)
            g = grad
            if wd:
                np.multiply(w, wd, out=s)
                s += grad
                g = s
            if mom:
                v = self.velocity[i]
                if v is None or v.dtype != w.dtype:
                    v = self.velocity[i] = np.array(g, dtype=w.dtype, copy=True)
                else:
                    v *= mom
                    if damp:
                        v += (1 - damp) * g
                    else:
                        v += g
                if self.nesterov:
                    if g is not s:
                        np.multiply(v, mom, out=s)
                        s += g
                    else:
                        s += mom * v
                    g = s
                else:
                    g = v
            np.multiply(g, lr, out=s)
            w -= s
