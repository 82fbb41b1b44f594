"""Keras-style loss objects and loss names for ``compile``/``fit``/``evaluate``.

Each object wraps a functional loss of ``tapegraph.losses`` (one fused op on the tape, mean over the batch) and
adapts the target the way Keras does: integer labels for the sparse cross-entropy, a ``(N,)`` target for a
``(N, 1)`` output. ``from_logits=False`` is Keras's default: the model must end in a Softmax/Sigmoid; give
``from_logits=True`` when it ends in a Dense layer (logits).

    loss = SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)   # the same
"""
from __future__ import annotations

import functools

import numpy as np

from .. import losses as _losses
from ..tensor import Tensor


def _arrays(pred, target):
    p = pred.data if isinstance(pred, Tensor) else np.asarray(pred)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    return p, t


def _rewrap(target, arr):
    """``arr`` as the target tensor (keeping the Tensor's name, so graphs still show "labels")."""
    if isinstance(target, Tensor):
        if arr is target.data:
            return target
        return Tensor._wrap(arr, False) if target.name is None else _named(arr, target.name)
    return arr


def _named(arr, name):
    t = Tensor._wrap(arr, False)
    t.name = name
    return t


def _same_shape_target(name, pred, target):
    """The target of an element-wise loss: reshaped to the output's shape (``_match_shape``), the output's dtype."""
    p, t = _arrays(pred, target)
    t = _match_shape(name, p, t)
    if t.dtype != p.dtype:
        t = t.astype(p.dtype)
    return _rewrap(target, t)


def _match_shape(name, p, t):
    """A target of the prediction's size but another shape ((N,) against (N, 1)) is reshaped, as Keras does."""
    if t.shape != p.shape and t.size == p.size and tuple(s for s in t.shape if s != 1) == \
            tuple(s for s in p.shape if s != 1):
        return t.reshape(p.shape)
    if t.shape != p.shape:
        raise ValueError(f"{name}: target shape {t.shape} does not match the output shape {p.shape}")
    return t


class Loss:
    """Base class: ``loss(pred, target) -> scalar Tensor``. ``kind`` ("categorical", "binary" or None) tells
    ``fit`` which accuracy fits the loss; ``from_logits`` whether outputs are logits."""

    kind = None
    default_name = "loss"

    def __init__(self, from_logits: bool = False, name: str | None = None):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: from_logits must be True or False, got {from_logits!r}")
        self.from_logits = bool(from_logits)
        self.name = name or self.default_name

    def __call__(self, pred, target) -> Tensor:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy of ``(N, C)`` outputs against integer labels ``(N,)`` (floats holding integers are cast)."""

    kind = "categorical"
    default_name = "sparse_categorical_crossentropy"

    def __call__(self, pred, target):
        p, t = _arrays(pred, target)
        if t.ndim == p.ndim and t.shape == p.shape and p.ndim >= 2 and p.shape[-1] > 1:
            raise ValueError(f"{self.name}: got one-hot/probability targets of shape {t.shape}; this loss takes "
                             f"integer labels of shape {p.shape[:-1]}: use 'categorical_crossentropy' or "
                             f"y.argmax(axis=1)")
        if t.ndim == p.ndim and t.shape[-1:] == (1,):
            t = t.reshape(t.shape[:-1])
        if t.dtype.kind == "f":
            if not np.all(np.isfinite(t)) or not np.all(t == np.round(t)):
                bad = t.ravel()[np.flatnonzero(t != np.round(t))[:1]] if np.isfinite(t).all() else "NaN/Inf"
                raise ValueError(f"{self.name}: labels must be integers, got float values such as {bad}")
            t = t.astype(np.int64)
        elif t.dtype.kind == "b":
            t = t.astype(np.int64)
        elif t.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: labels must be integers, got dtype {t.dtype}")
        return _losses.categorical_crossentropy(pred, _rewrap(target, t), from_logits=self.from_logits)


class CategoricalCrossentropy(Loss):
    """Cross-entropy of ``(N, C)`` outputs against one-hot/probability targets ``(N, C)`` (integer labels are
    accepted too)."""

    kind = "categorical"
    default_name = "categorical_crossentropy"

    def __call__(self, pred, target):
        return _losses.categorical_crossentropy(pred, target, from_logits=self.from_logits)


class BinaryCrossentropy(Loss):
    """Element-wise binary cross-entropy; targets in [0, 1] of the output's shape (``(N,)`` for ``(N, 1)`` too)."""

    kind = "binary"
    default_name = "binary_crossentropy"

    def __call__(self, pred, target):
        return _losses.binary_crossentropy(pred, _same_shape_target(self.name, pred, target),
                                           from_logits=self.from_logits)


class MeanSquaredError(Loss):
    """Mean of ``(pred - target) ** 2`` over every element."""

    default_name = "mean_squared_error"

    def __init__(self, name: str | None = None):
        super().__init__(False, name)

    _fn = staticmethod(_losses.mean_squared_error)

    def __call__(self, pred, target):
        return self._fn(pred, _same_shape_target(self.name, pred, target))


class MeanAbsoluteError(MeanSquaredError):
    """Mean of ``|pred - target|`` over every element."""

    default_name = "mean_absolute_error"
    _fn = staticmethod(_losses.mean_absolute_error)


LOSSES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError, "MeanSquaredError": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "MeanAbsoluteError": MeanAbsoluteError,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
    "CategoricalCrossentropy": CategoricalCrossentropy, "BinaryCrossentropy": BinaryCrossentropy,
}
_FUNCTION_KINDS = {"categorical_crossentropy": "categorical", "binary_crossentropy": "binary"}


def get_loss(loss, from_logits=None, who="compile"):
    """A loss name, Loss object or callable -> ``(callable, kind, from_logits)``.

    ``kind`` is "categorical", "binary" or None; ``from_logits`` is the loss's own flag when it has one. For a
    plain function, the functional cross-entropies of ``tapegraph.losses`` (or a ``functools.partial`` of them)
    are recognised; any other callable gets no automatic accuracy.
    """
    if isinstance(loss, str):
        cls = LOSSES.get(loss)
        if cls is None:
            raise ValueError(f"{who}: unknown loss {loss!r}; expected one of {sorted(k for k in LOSSES if k.islower())}"
                             f", a Loss object or a callable (pred, target) -> Tensor")
        if cls in (MeanSquaredError, MeanAbsoluteError):
            obj = cls()
        else:
            obj = cls(from_logits=bool(from_logits))
        return obj, obj.kind, obj.from_logits
    if from_logits is not None:
        raise ValueError(f"{who}: from_logits= applies to a loss given by name; {type(loss).__name__} objects carry "
                         f"their own (e.g. SparseCategoricalCrossentropy(from_logits=True))")
    if isinstance(loss, Loss):
        return loss, loss.kind, loss.from_logits
    if not callable(loss):
        raise TypeError(f"{who}: loss must be a name, a Loss object or a callable (pred, target) -> Tensor, got "
                        f"{type(loss).__name__}")
    base, kw = loss, {}
    while isinstance(base, functools.partial):
        kw = {**base.keywords, **kw}
        base = base.func
    kind = _FUNCTION_KINDS.get(getattr(base, "__name__", None)) if getattr(base, "__module__", "").startswith(
        "tapegraph.") else None
    return loss, kind, bool(kw.get("from_logits", False))
