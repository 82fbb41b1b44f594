"""Activations. All are numerically stable for inputs of magnitude 1e4 (no overflow warnings, no NaN)."""
from __future__ import annotations

import numpy as np

from ..function import Function


class ReLU(Function):
    name = "relu"

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return (grad * (ctx.saved[0] > 0),)


class LeakyReLU(Function):
    name = "leaky_relu"

    @staticmethod
    def forward(ctx, a, *, negative_slope):
        pos = a > 0
        ctx.save_for_backward(pos)
        return np.where(pos, a, a * a.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx, grad):
        (pos,) = ctx.saved
        return (np.where(pos, grad, grad * grad.dtype.type(ctx.attrs["negative_slope"])),)


class Sigmoid(Function):
    name = "sigmoid"

    @staticmethod
    def forward(ctx, a):
        out = _sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved
        return (grad * s * (1 - s),)


class Tanh(Function):
    name = "tanh"

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved
        return (grad * (1 - t * t),)


def _sigmoid(a):
    """1 / (1 + exp(-a)) as 0.5 * (tanh(a / 2) + 1): no overflow for any |a|, and a's dtype kept."""
    half = a.dtype.type(0.5)
    return half * (np.tanh(a * half) + 1)


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _log_softmax(a, axis):
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    name = "softmax"

    @staticmethod
    def forward(ctx, a, *, axis):
        out = _softmax(a, axis)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved
        axis = ctx.attrs["axis"]
        return (s * (grad - (grad * s).sum(axis=axis, keepdims=True)),)


class LogSoftmax(Function):
    name = "log_softmax"

    @staticmethod
    def forward(ctx, a, *, axis):
        out = _log_softmax(a, axis)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (ls,) = ctx.saved
        axis = ctx.attrs["axis"]
        return (grad - np.exp(ls) * grad.sum(axis=axis, keepdims=True),)


def relu(a): return ReLU.apply(a)
def leaky_relu(a, negative_slope=0.01): return LeakyReLU.apply(a, negative_slope=negative_slope)
def sigmoid(a): return Sigmoid.apply(a)
def tanh(a): return Tanh.apply(a)
def softmax(a, axis=-1): return Softmax.apply(a, axis=axis)
def log_softmax(a, axis=-1): return LogSoftmax.apply(a, axis=axis)
