"""Metrics for ``compile(metrics=[...])``/``fit``/``evaluate``: streaming, computed on NumPy outputs (no tape).

A metric has ``reset()``, ``update(pred, target)`` (ndarrays of one batch) and ``result()``; ``name`` is its key in
the logs and the History. Names: "accuracy"/"acc", "top_k_accuracy" (k=5; also Keras's
"top_k_categorical_accuracy" and "sparse_top_k_categorical_accuracy").

``Accuracy`` reads the outputs as Keras's "accuracy" does: ``(N, C)`` outputs with C > 1 are compared by argmax with
integer labels ``(N,)`` or one-hot targets ``(N, C)``; single outputs (``(N,)``, ``(N, 1)``, or any shape equal to
a float target's) are binary: thresholded at 0.5 on probabilities, 0 on logits. Whether outputs are logits comes
from the loss (``from_logits``); without one, outputs outside [0, 1] are taken as logits.
"""
from __future__ import annotations

import numpy as np


class Metric:
    name = "metric"

    def reset(self):
        self.total, self.count = 0.0, 0

    def update(self, pred: np.ndarray, target: np.ndarray, from_logits=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def applies(self, pred: np.ndarray, target: np.ndarray) -> bool:
        """Whether this metric means something for these outputs (evaluate without a loss skips it otherwise)."""
        return True

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _labels(pred, target):
    """Integer labels for (N, C) outputs from integer labels, float labels or one-hot targets; None if neither."""
    t = np.asarray(target)
    n = pred.shape[0]
    if t.shape == pred.shape:
        return t.argmax(axis=-1)
    if t.ndim == pred.ndim and t.shape[-1:] == (1,):
        t = t.reshape(t.shape[:-1])
    if t.shape == pred.shape[:-1] and t.shape[:1] == (n,) and t.dtype.kind in "iub":
        return t
    if t.shape == pred.shape[:-1] and t.dtype.kind == "f" and np.all(t == np.round(t)):
        return t.astype(np.int64)
    return None


def _categorical(pred):
    return pred.ndim >= 2 and pred.shape[-1] > 1


class Accuracy(Metric):
    """Fraction of correct predictions (see the module docstring for how outputs are read)."""

    def __init__(self, name: str = "accuracy", threshold: float | None = None):
        if threshold is not None and (isinstance(threshold, (bool, np.bool_)) or
                                      not isinstance(threshold, (int, float, np.integer, np.floating)) or
                                      not np.isfinite(threshold)):
            raise ValueError(f"Accuracy: threshold must be None or a finite number, got {threshold!r}")
        self.name, self.threshold = name, threshold
        self.reset()

    def applies(self, pred, target):
        if _categorical(pred):
            return _labels(pred, target) is not None
        t = np.asarray(target)
        return t.size == pred.size and t.dtype.kind in "fiub"

    def update(self, pred, target, from_logits=None):
        pred = np.asarray(pred)
        target = np.asarray(target)
        if _categorical(pred):
            truth = _labels(pred, target)
            if truth is None:
                raise ValueError(f"{self.name}: cannot compare outputs of shape {pred.shape} with targets of shape "
                                 f"{target.shape} (expected labels {pred.shape[:-1]} or one-hot {pred.shape})")
            right = pred.argmax(axis=-1) == truth
        else:
            if target.size != pred.size:
                raise ValueError(f"{self.name}: {target.size} targets for {pred.size} binary outputs")
            if self.threshold is not None:
                threshold = self.threshold
            elif from_logits is None:
                threshold = 0.5 if pred.size == 0 or (pred.min() >= 0 and pred.max() <= 1) else 0.0
            else:
                threshold = 0.0 if from_logits else 0.5
            right = (pred.reshape(-1) > threshold) == (target.reshape(-1) > 0.5)
        self.total += int(np.count_nonzero(right))
        self.count += right.size


class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the ``k`` largest outputs (labels or one-hot targets)."""

    def __init__(self, k: int = 5, name: str = "top_k_accuracy"):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"TopKAccuracy: k must be a positive int, got {k!r}")
        self.k, self.name = int(k), name
        self.reset()

    def applies(self, pred, target):
        return _categorical(pred) and _labels(pred, target) is not None

    def update(self, pred, target, from_logits=None):
        pred = np.asarray(pred)
        truth = _labels(pred, target) if _categorical(pred) else None
        if truth is None:
            raise ValueError(f"{self.name}: needs (N, C) outputs with labels (N,) or one-hot targets (N, C), got "
                             f"outputs {pred.shape} and targets {np.shape(target)}")
        c = pred.shape[-1]
        if truth.size and (truth.min() < 0 or truth.max() >= c):
            raise ValueError(f"{self.name}: labels must lie in [0, {c}) for outputs {pred.shape}, got range "
                             f"[{truth.min()}, {truth.max()}]")
        k = min(self.k, c)
        # the true class is in the top k when fewer than k classes score strictly higher than it
        true_score = np.take_along_axis(pred, truth[..., None].astype(np.intp), axis=-1)
        right = (pred > true_score).sum(axis=-1) < k
        self.total += int(np.count_nonzero(right))
        self.count += right.size


_NAMES = {"accuracy": lambda n: Accuracy(n), "acc": lambda n: Accuracy(n),
          "top_k_accuracy": lambda n: TopKAccuracy(5, n), "top_k_categorical_accuracy": lambda n: TopKAccuracy(5, n),
          "sparse_top_k_categorical_accuracy": lambda n: TopKAccuracy(5, n)}


def get_metric(metric, who="compile") -> Metric:
    """A metric name or Metric object -> a fresh-state Metric."""
    if isinstance(metric, str):
        make = _NAMES.get(metric)
        if make is None:
            raise ValueError(f"{who}: unknown metric {metric!r}; expected one of {sorted(_NAMES)} or a Metric object")
        return make(metric)
    if isinstance(metric, Metric):
        metric.reset()
        return metric
    raise TypeError(f"{who}: a metric must be a name or a Metric object, got {type(metric).__name__}")
