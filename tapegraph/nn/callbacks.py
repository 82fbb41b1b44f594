"""Callbacks for ``fit`` with Keras's names and semantics.

``fit`` calls, on every callback that defines them: ``set_model(model)``, ``on_train_begin(logs)``,
``on_epoch_begin(epoch, logs)``, ``on_batch_begin(batch, logs)``, ``on_batch_end(batch, logs)``,
``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``. ``logs`` at a batch's end holds the running means of the
epoch so far ("loss", metrics) and "size"; at an epoch's end the epoch's values and the "val_" ones. Setting
``model.stop_training = True`` ends training after the current batch. The learning-rate schedules of
``tapegraph.optim`` are callbacks too (``on_epoch_end``, and ``on_batch_end`` for per-batch ones).
"""
from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np

from .layers import _real
from .serialization import fspath


class Callback:
    """Base class: override any hook. ``self.model`` is the model being trained (set by ``fit``).

    ``primary_only = True`` (set by callbacks that write files, such as ``CSVLogger`` and ``ModelCheckpoint``):
    under ``fit(distributed=True)`` the callback runs on rank 0 only.
    """

    model = None
    primary_only = False

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


class History(Callback):
    """``history``: metric name -> list of per-epoch values; ``epoch``: the epoch indices run (``fit`` returns it)."""

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


def _mode(name, mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{name}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.startswith("fmeasure")) else "min"
    return mode


def _better(mode, value, best, min_delta=0.0):
    if best is None:
        return True
    return value - min_delta > best if mode == "max" else value + min_delta < best


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs (Keras).

    ``mode``: "min", "max" or "auto" (max for accuracies, min otherwise). ``restore_best_weights``: when stopping,
    put back the weights of the best epoch (if training ends without stopping, the last epoch's weights stay, as in
    Keras). ``baseline``: training stops unless the monitored value beats it within ``patience`` epochs.
    After training, ``stopped_epoch`` is the epoch it stopped at (0 when it did not) and ``best_epoch`` the best one.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        if not isinstance(patience, (int, np.integer)) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative int, got {patience!r}")
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a log name such as 'val_loss', got {monitor!r}")
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.min_delta = abs(_real(min_delta, "min_delta", "EarlyStopping"))
        self.mode = _mode("EarlyStopping", mode, monitor)
        if baseline is not None:
            baseline = _real(baseline, "baseline", "EarlyStopping")
        self.baseline, self.restore_best_weights = baseline, bool(restore_best_weights)
        if not isinstance(start_from_epoch, (int, np.integer)) or isinstance(start_from_epoch, bool) \
                or start_from_epoch < 0:
            raise ValueError(f"EarlyStopping: start_from_epoch must be a non-negative int, got {start_from_epoch!r}")
        self.start_from_epoch = int(start_from_epoch)
        self._reset()

    def _reset(self):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def on_train_begin(self, logs=None):
        if not getattr(self, "_resumed", False):
            self._reset()
        self._resumed = False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"EarlyStopping: the logs have no {self.monitor!r} (available: {sorted(logs or {})}); "
                          f"pass validation_data= or validation_split= for 'val_' values", UserWarning, stacklevel=2)
            return
        if epoch < self.start_from_epoch or (isinstance(value, float) and math.isnan(value)):
            return
        self.wait += 1
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch = float(value), epoch
            if self.restore_best_weights and self.model is not None:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or _better(self.mode, value, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            if self.model is not None:
                self.model.stop_training = True
                if self.restore_best_weights and self.best_weights is not None:
                    self.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping (best {self.monitor} {self.best:.4f} at epoch "
                      f"{self.best_epoch + 1})")

    def state_dict(self):
        """What a fit checkpoint keeps, so a resumed run stops where an uninterrupted one would."""
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state):
        bw = state["best_weights"]
        if bw is not None and not isinstance(bw, dict):
            raise ValueError(f"EarlyStopping.load_state_dict: best_weights must be a dict or None, got {type(bw)}")
        if bw is not None and self.model is not None:
            have = {k: v.shape for k, v in self.model.state_dict().items()}
            got = {k: getattr(v, "shape", None) for k, v in bw.items()}
            if got != have:
                bad = sorted(k for k in set(have) | set(got) if have.get(k) != got.get(k))
                raise ValueError(f"EarlyStopping.load_state_dict: best_weights do not fit the model ({bad[:5]})")
        self.wait, self.best_epoch, self.stopped_epoch = int(state["wait"]), int(state["best_epoch"]), \
            int(state["stopped_epoch"])
        self.best = None if state["best"] is None else float(state["best"])
        self.best_weights = bw
        self._resumed = True


class ModelCheckpoint(Callback):
    """Save the model's weights (``model.save``) after every epoch, or only when ``monitor`` improved
    (``save_best_only``). ``path`` may hold Keras's placeholders: ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``
    (``epoch`` counts from 1). Read the files back with ``model.load_weights(path)``. Distributed: rank 0 writes."""

    primary_only = True

    def __init__(self, path, monitor="val_loss", verbose=0, save_best_only=False, mode="auto", save_weights_only=True):
        self.path, self.monitor, self.verbose = fspath(path, "ModelCheckpoint"), monitor, verbose
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"ModelCheckpoint: {self.path!r} is a directory; pass a file path such as "
                                    f"{os.path.join(self.path, 'model.npz')!r}")
        self.save_best_only = bool(save_best_only)
        self.mode = _mode("ModelCheckpoint", mode, monitor)
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill the path {self.path!r} from epoch and logs "
                             f"{sorted(logs)} ({type(e).__name__}: {e})") from None
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                warnings.warn(f"ModelCheckpoint: the logs have no {self.monitor!r} (available: {sorted(logs)}); "
                              f"saving every epoch", UserWarning, stacklevel=2)
            elif not _better(self.mode, value, self.best):
                return
            else:
                self.best = float(value)
        self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved the model to {path}")

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = None if state["best"] is None else float(state["best"])


def _set_lr(optimizer, lr):
    optimizer.lr = lr
    for group in getattr(optimizer, "param_groups", None) or ():
        if isinstance(group, dict) and "lr" in group:
            group["lr"] = lr


class LearningRateScheduler(Callback):
    """At the start of each epoch set the optimizer's lr to ``schedule(epoch, lr)`` (epoch counts from 0; a
    one-argument ``schedule(epoch)`` works too). The lr used is logged as "learning_rate"."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable (epoch, lr) -> lr, got "
                            f"{type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose

    def _optimizer(self):
        opt = getattr(self.model, "optimizer", None)
        if opt is None or not hasattr(opt, "lr"):
            raise ValueError("LearningRateScheduler: the model has no optimizer with an lr (fit sets "
                             "model.optimizer)")
        return opt

    def on_epoch_begin(self, epoch, logs=None):
        opt = self._optimizer()
        try:
            lr = self.schedule(epoch, float(opt.lr))
        except TypeError:
            lr = self.schedule(epoch)
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise TypeError(f"LearningRateScheduler: schedule returned {lr!r}, expected a number") from None
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"LearningRateScheduler: schedule returned lr={lr} for epoch {epoch}; expected a finite "
                             f"non-negative number")
        _set_lr(opt, lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting the learning rate to {lr:g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self._optimizer().lr)


class CSVLogger(Callback):
    """Write one row per epoch (``epoch`` then the logs' keys, sorted) to ``path``. ``append=True`` continues an
    existing file (use it when resuming). Distributed: rank 0 writes."""

    primary_only = True

    def __init__(self, path, separator=",", append=False):
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be a one-character string, got {separator!r}")
        self.path, self.sep, self.append = fspath(path, "CSVLogger"), separator, bool(append)
        self._file = self._writer = self._keys = None
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"CSVLogger: {self.path!r} is a directory; pass a file path")

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.isfile(self.path) and os.path.getsize(self.path) > 0
        self._keys = None
        if exists:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f, delimiter=self.sep), None)
            self._keys = header[1:] if header and header[0] == "epoch" else None
        self._file = open(self.path, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.sep)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [logs.get(k, "NA") for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or Inf (``fit`` adds one unless ``terminate_on_nan=False``).

    ``fit`` checks the batch loss *before* the optimizer step, so the weights stay those of the last finite step;
    training stops (``model.stop_training``), the epoch's logs hold the NaN, no checkpoint is written for it, and a
    RuntimeWarning names the epoch and step and suggests ``tg.detect_anomaly()``. ``fit`` then returns normally,
    as in Keras.
    """

    def __init__(self):
        self.tripped = None          # (epoch, batch, value) once it stopped training

    def on_train_begin(self, logs=None):
        self.tripped = None

    def nonfinite(self, epoch, batch, value):
        """Called by ``fit`` with the non-finite loss of step ``batch`` (0-based) of ``epoch`` (0-based)."""
        self.tripped = (epoch, batch, value)
        if self.model is not None:
            self.model.stop_training = True
        warnings.warn(f"fit: the loss is {value} at epoch {epoch + 1}, step {batch + 1}; training stopped before "
                      f"applying that step. Find the op that made it with `with tg.detect_anomaly(): ...` around "
                      f"one training step (learning rate too high? unscaled inputs? probabilities where logits "
                      f"belong?)", RuntimeWarning, stacklevel=3)

    def on_batch_end(self, batch, logs=None):
        value = (logs or {}).get("loss")
        if self.tripped is None and value is not None and not math.isfinite(value):
            self.nonfinite(getattr(self, "_epoch", 0), batch, value)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
