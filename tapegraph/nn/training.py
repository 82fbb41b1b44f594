"""The training loop: ``fit``, ``evaluate``, ``predict`` (also methods of every Module).

Each training step is exactly the explicit-tape loop a user would write::

    with tg.Tape() as tape:
        loss = loss_fn(model(xb), yb)
    tape.backward(loss)
    optimizer.step(); optimizer.zero_grad()

With ``shuffle=True`` each epoch draws ``tapegraph.random.get_rng().permutation(len(x))`` and takes the batches in
that order (``x[order[i:i + batch_size]]``); without it, consecutive slices.

``loss`` is a callable ``(pred, target) -> scalar Tensor`` or a name: "categorical_crossentropy",
"binary_crossentropy" (both on probabilities) or "mse"/"mean_squared_error". For logits use
``functools.partial(tg.losses.categorical_crossentropy, from_logits=True)``. Accuracy is reported for the two
cross-entropies, whether given by name, as the function, or as a ``functools.partial`` of it.
"""
from __future__ import annotations

import functools
import os
import sys
import time

import numpy as np

from ..ops import loss as _loss
from ..random import get_rng
from ..tape import Tape
from ..tensor import Tensor
from .checkpoint import load_checkpoint, save_checkpoint

LOSSES = {
    "categorical_crossentropy": _loss.categorical_crossentropy,
    "binary_crossentropy": _loss.binary_crossentropy,
    "mse": _loss.mean_squared_error,
    "mean_squared_error": _loss.mean_squared_error,
}
_KINDS = {_loss.categorical_crossentropy: "categorical", _loss.binary_crossentropy: "binary"}


class History:
    """``history``: metric name -> list of per-epoch values; ``epoch``: the epoch indices run."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def _record(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items())
        return f"History({len(self.epoch)} epochs{': ' + last if last else ''})"

    def plot(self, path=None, metrics=None):
        """Loss and metric curves, train vs validation (matplotlib, extra ``[plot]``); see
        ``tapegraph.viz.plot_history``. Returns the Figure; writes .png/.svg/.pdf when ``path`` is given."""
        from ..viz.plots import plot_history
        return plot_history(self, path, metrics)


class Callback:
    """Hooks called by ``fit``; override any. ``logs`` is a dict of the metrics so far.
    Setting ``model.stop_training = True`` ends training after the current epoch."""

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


def resolve_loss(loss):
    """(callable, accuracy kind or None, from_logits) for a loss name or callable."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"fit: unknown loss {loss!r}; expected one of {sorted(LOSSES)} or a callable "
                             f"(pred, target) -> Tensor")
        fn = LOSSES[loss]
        return fn, _KINDS.get(fn), False
    if not callable(loss):
        raise TypeError(f"fit: loss must be a name or a callable (pred, target) -> Tensor, got {type(loss).__name__}")
    base, kw = loss, {}
    while isinstance(base, functools.partial):
        kw = {**base.keywords, **kw}
        base = base.func
    return loss, _KINDS.get(base), bool(kw.get("from_logits", False))


def _accuracy_counts(pred: np.ndarray, target: np.ndarray, kind: str, from_logits: bool):
    """(number correct, number counted) for a batch."""
    if kind == "categorical":
        if pred.ndim != 2:
            return 0, 0
        guess = pred.argmax(axis=1)
        truth = target if target.dtype.kind in "iu" else target.argmax(axis=1)
        return int(np.count_nonzero(guess == truth)), len(guess)
    threshold = 0 if from_logits else 0.5
    return int(np.count_nonzero((pred > threshold) == (target > 0.5))), pred.size


def _arrays(model, x, y, who):
    """x as an ndarray of the model's float dtype (cast once), y as an ndarray (floats cast too)."""
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    dt = model.dtype
    if x.dtype != dt:
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{who}: x must be numeric, got dtype {x.dtype}")
        x = x.astype(dt)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{who}: x has no samples (shape {x.shape})")
    if y is None:
        return x, None
    y = y.data if isinstance(y, Tensor) else np.asarray(y)
    if y.ndim == 0 or len(y) != len(x):
        raise ValueError(f"{who}: x has {len(x)} samples but y has shape {y.shape}")
    if y.dtype.kind == "f" and y.dtype != dt:
        y = y.astype(dt)
    return x, y


def _check_batch_size(batch_size, who):
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"{who}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


class _Progress:
    """One epoch's progress: a live bar on a terminal (verbose=1), else one line per epoch (verbose 1 or 2)."""

    def __init__(self, epoch, epochs, batches, verbose, out):
        tty = bool(getattr(out, "isatty", lambda: False)())
        self.mode = "off" if not verbose else ("bar" if verbose == 1 and tty else "line")
        self.out, self.batches = out, batches
        self.head = f"Epoch {epoch + 1}/{epochs}"
        self.t0 = self.last = time.perf_counter()

    @staticmethod
    def _metrics(logs):
        return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())

    def update(self, done, seen, logs):
        if self.mode != "bar":
            return
        now = time.perf_counter()
        if done < self.batches and now - self.last < 0.1:
            return
        self.last = now
        width = 24
        filled = width * done // self.batches
        bar = "=" * max(filled - 1, 0) + (">" if filled < width else "=") * (filled > 0) + "." * (width - filled)
        rate = seen / max(now - self.t0, 1e-9)
        n = len(str(self.batches))
        self.out.write(f"\r{self.head} {done:>{n}}/{self.batches} [{bar}] {rate:,.0f} img/s{self._metrics(logs)}")
        self.out.flush()

    def finish(self, seen, logs):
        if self.mode == "off":
            return
        dt = time.perf_counter() - self.t0
        rate = seen / max(dt, 1e-9)
        if self.mode == "bar":
            self.out.write(f"\r{self.head} {self.batches}/{self.batches} [{'=' * 24}] {rate:,.0f} img/s - "
                           f"{dt:.1f}s{self._metrics(logs)}\n")
        else:
            self.out.write(f"{self.head} - {seen} samples in {dt:.1f}s ({rate:,.0f} img/s){self._metrics(logs)}\n")
        self.out.flush()


def _call(callbacks, hook, *args):
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def fit(model, x, y, *, loss, optimizer, epochs=1, batch_size=32, validation_data=None, shuffle=True,
        callbacks=None, verbose=1, checkpoint=None, resume=False) -> History:
    """Train ``model`` on (x, y) with ``optimizer``; returns a History with per-epoch "loss" (mean over the
    epoch's samples), "accuracy" (cross-entropy losses), and "val_loss"/"val_accuracy" with ``validation_data``.

    ``verbose``: 0 silent, 1 a progress bar on a terminal (one line per epoch otherwise), 2 one line per epoch.
    ``callbacks``: objects with any of the ``Callback`` hooks (a learning-rate schedule is one). The last step's
    tape (released: shapes and names, no arrays) is kept as ``model.last_tape``.
    ``checkpoint``: a path; after each epoch the model, optimizer, schedules, history and random state are saved
    there atomically (a crash mid-save keeps the previous checkpoint). ``resume=True`` continues from it when it
    exists: ``epochs`` counts all epochs, so the run ends as if it had never stopped.
    """
    loss_fn, kind, from_logits = resolve_loss(loss)
    x, y = _arrays(model, x, y, "fit")
    batch_size = _check_batch_size(batch_size, "fit")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
        raise TypeError(f"fit: optimizer must have step() and zero_grad(), got {type(optimizer).__name__}")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
        vx, vy = _arrays(model, *validation_data, "fit (validation_data)")
    callbacks = list(callbacks or [])
    out = sys.stdout
    n = len(x)
    batches = -(-n // batch_size)
    history = History()
    model.stop_training = False
    model._fit_loss = loss
    start = 0
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        with model.inference():
            model(x[:1])                     # build lazy layers so the checkpoint's shapes can be checked
        start = load_checkpoint(checkpoint, model, optimizer, history, callbacks) + 1
        if verbose:
            out.write(f"Resuming from {checkpoint} after epoch {start}/{epochs}\n")
    _call(callbacks, "on_train_begin", {})
    model.train()
    logs = {}
    for epoch in range(start, int(epochs)):
        _call(callbacks, "on_epoch_begin", epoch, {})
        order = get_rng().permutation(n) if shuffle else None
        progress = _Progress(epoch, int(epochs), batches, verbose, out)
        seen, loss_sum, right, counted = 0, 0.0, 0, 0
        logs = {}
        for b in range(batches):
            sel = order[b * batch_size:(b + 1) * batch_size] if shuffle else slice(b * batch_size, (b + 1) * batch_size)
            xb, yb = x[sel], y[sel]
            with Tape() as tape:
                pred = model(xb)
                loss_t = loss_fn(pred, yb)
            tape.backward(loss_t)
            optimizer.step()
            optimizer.zero_grad()
            model.last_tape = tape
            m = len(xb)
            seen += m
            loss_sum += float(loss_t.data) * m
            logs = {"loss": loss_sum / seen}
            if kind:
                r, c = _accuracy_counts(pred.data, yb, kind, from_logits)
                right, counted = right + r, counted + c
                logs["accuracy"] = right / max(counted, 1)
            progress.update(b + 1, seen, logs)
            _call(callbacks, "on_batch_end", b, {**logs, "size": m})
        if validation_data is not None:
            v = evaluate(model, vx, vy, batch_size=batch_size, loss=loss)
            logs.update({f"val_{k}": val for k, val in v.items()})
        history._record(epoch, logs)
        progress.finish(seen, logs)
        _call(callbacks, "on_epoch_end", epoch, logs)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch, history, callbacks)
        if model.stop_training:
            break
    _call(callbacks, "on_train_end", dict(logs))
    return history


def evaluate(model, x, y, *, batch_size=32, loss=None) -> dict[str, float]:
    """{"loss": mean loss over the samples, "accuracy": ... (cross-entropy losses)} in eval mode without recording.
    ``loss`` defaults to the one of the last ``fit``."""
    if loss is None:
        loss = getattr(model, "_fit_loss", None)
        if loss is None:
            raise ValueError("evaluate: no loss given and the model was never fitted; pass loss=")
    loss_fn, kind, from_logits = resolve_loss(loss)
    x, y = _arrays(model, x, y, "evaluate")
    batch_size = _check_batch_size(batch_size, "evaluate")
    total, right, counted = 0.0, 0, 0
    with model.inference():
        for s in range(0, len(x), batch_size):
            xb, yb = x[s:s + batch_size], y[s:s + batch_size]
            pred = model(xb)
            total += float(loss_fn(pred, yb).data) * len(xb)
            if kind:
                r, c = _accuracy_counts(pred.data, yb, kind, from_logits)
                right, counted = right + r, counted + c
    out = {"loss": total / len(x)}
    if kind:
        out["accuracy"] = right / max(counted, 1)
    return out


def predict(model, x, *, batch_size=32) -> np.ndarray:
    """The model's outputs for all of ``x`` (batch by batch, eval mode, no recording) as one ndarray."""
    x, _ = _arrays(model, x, None, "predict")
    batch_size = _check_batch_size(batch_size, "predict")
    result = None
    with model.inference():
        for s in range(0, len(x), batch_size):
            p = model(x[s:s + batch_size])
            p = p.data if isinstance(p, Tensor) else np.asarray(p)
            if result is None:
                result = np.empty((len(x),) + p.shape[1:], dtype=p.dtype)
            result[s:s + len(p)] = p
    return result
