"""The training loop: ``compile``, ``fit``, ``evaluate``, ``predict`` (also methods of every Module), Keras-style.

Each training step is exactly the explicit-tape loop a user would write::

    with tg.Tape() as tape:
        loss = loss_fn(model(xb), yb)
    tape.backward(loss)
    optimizer.step(); optimizer.zero_grad()

With arrays and ``shuffle=True`` each epoch draws ``tapegraph.random.get_rng().permutation(len(x))`` and takes the
batches in that order (``x[order[i:i + batch_size]]``); without it, consecutive slices. The batch fed to the model
is a Tensor named "images" (4-D inputs) or "inputs", the targets one named "labels", so graphs of
``model.last_tape`` show them by name.

``loss``: a name ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
"mse"/"mean_squared_error", "mae"/"mean_absolute_error"; probabilities unless ``from_logits=True`` is given to
``compile``), a Loss object (``nn.SparseCategoricalCrossentropy(from_logits=True)``) or a callable
``(pred, target) -> scalar Tensor``. Accuracy is reported by default for the cross-entropies (names, objects, the
functions of ``tg.losses`` or ``functools.partial``s of them).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import numbers
import os
import sys
import time
import warnings

import numpy as np

from .. import optim as _optim
from ..random import get_rng
from ..tape import Tape
from ..tensor import Tensor
from .callbacks import Callback, History, TerminateOnNaN  # noqa: F401  (Callback, History: historical home)
from .checkpoint import checkpoint_epoch, load_checkpoint, save_checkpoint
from .loss_objects import LOSSES, get_loss  # noqa: F401
from .metrics import Metric, get_metric

# optimizer name -> (class name in tapegraph.optim, Keras's default learning rate)
OPTIMIZERS = {"sgd": ("SGD", 0.01), "adam": ("Adam", 1e-3), "adamw": ("AdamW", 1e-3), "rmsprop": ("RMSprop", 1e-3),
              "adagrad": ("Adagrad", 1e-3)}


def resolve_loss(loss, who="fit"):
    """(callable, accuracy kind or None, from_logits) for a loss name, Loss object or callable."""
    return get_loss(loss, who=who)


# -- compile ------------------------------------------------------------------------------------------------------
def compile(model, optimizer="rmsprop", loss=None, metrics=None, *, from_logits=None, learning_rate=None):
    """Configure ``model`` for ``fit``/``evaluate`` (Keras's ``compile``); returns the model.

    ``optimizer``: an optimizer object, or a name ("sgd", "adam", "adamw", "rmsprop", "adagrad") made with
    ``learning_rate`` (default Keras's: 0.01 for SGD, 0.001 for the others) over ``model.parameters()``, now if the
    model is built, else at the start of ``fit``. ``loss``: a name, a Loss object or a callable; ``from_logits``
    applies to a name. ``metrics``: a list of names ("accuracy"/"acc", "top_k_accuracy") or Metric objects; None
    means accuracy for the cross-entropies. ``fit(loss=, optimizer=)`` overrides what is compiled here.
    """
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"compile: unknown optimizer {optimizer!r}; expected one of {sorted(OPTIMIZERS)} or an "
                             f"optimizer object such as tg.optim.SGD(model.parameters(), lr=0.01)")
        if learning_rate is not None:
            _check_lr(learning_rate)
    elif optimizer is not None:
        if learning_rate is not None:
            raise ValueError("compile: learning_rate= applies to an optimizer given by name; set lr on the object")
        _check_optimizer(optimizer, "compile")
    resolved = None if loss is None else get_loss(loss, from_logits, who="compile")
    if loss is None and from_logits is not None:
        raise ValueError("compile: from_logits= needs a loss name (loss='sparse_categorical_crossentropy', ...)")
    if metrics is not None:
        if isinstance(metrics, (str, Metric)):
            metrics = [metrics]
        metrics = list(metrics)
        for m in metrics:
            get_metric(m, "compile")
    model.__dict__["_compiled"] = {"optimizer": optimizer, "learning_rate": learning_rate, "loss": resolved,
                                   "metrics": metrics}
    model.__dict__["optimizer"] = None if isinstance(optimizer, str) else optimizer
    if isinstance(optimizer, str) and all(m.built for m in model.modules()):
        model.__dict__["optimizer"] = _make_optimizer(model, optimizer, learning_rate)
    return model


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"compile: learning_rate must be a positive finite number, got {lr!r}")


def _check_optimizer(optimizer, who):
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
        raise TypeError(f"{who}: optimizer must have step() and zero_grad() (or be a name such as 'adam'), got "
                        f"{type(optimizer).__name__}")


def _make_optimizer(model, name, learning_rate):
    cls_name, default_lr = OPTIMIZERS[name.lower()]
    cls = getattr(_optim, cls_name, None)
    if cls is None:
        raise ValueError(f"compile: optimizer {name!r} needs tapegraph.optim.{cls_name}, which this version of "
                         f"tapegraph does not have; pass an optimizer object instead")
    return cls(model.parameters(), lr=default_lr if learning_rate is None else learning_rate)


# -- data -----------------------------------------------------------------------------------------------------------
def _is_batches(x):
    """True for a DataLoader, a list of ``(x, y)`` array pairs, or any other iterable that is not an array-like
    (ndarray, Tensor, list or tuple of numbers)."""
    if isinstance(x, list):
        return bool(x) and all(isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], (np.ndarray, Tensor))
                               for b in x)
    return not isinstance(x, (np.ndarray, Tensor, tuple, str, bytes, numbers.Number)) and hasattr(x, "__iter__")


def _raw(a, who, what):
    if isinstance(a, Tensor):
        return a.data
    try:
        return np.asarray(a)
    except Exception as e:
        raise TypeError(f"{who}: {what} is not an array ({type(e).__name__}: {e})") from None


def _cast_x(model, x, who):
    dt = model.dtype
    if x.dtype != dt:
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{who}: x must be numeric, got dtype {x.dtype}")
        x = x.astype(dt)
    return x


def _cast_y(model, y):
    if y.dtype.kind == "f" and y.dtype != model.dtype:
        y = y.astype(model.dtype)
    return y


def _arrays(model, x, y, who, stacklevel=4):
    """x as an ndarray of the model's float dtype (cast once, after the integer-image check), y as an ndarray."""
    x = _raw(x, who, "x")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{who}: x has no samples (shape {x.shape})")
    model._check_integer_input(x, who, stacklevel=stacklevel)
    x = _cast_x(model, x, who)
    if y is None:
        return x, None
    y = _raw(y, who, "y")
    if y.ndim == 0 or len(y) != len(x):
        raise ValueError(f"{who}: x has {len(x)} samples but y has shape {y.shape}")
    return x, _cast_y(model, y)


def _batch_pair(model, batch, who, index):
    """One (x, y) batch of an iterable, as arrays of the model's dtype."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"{who}: batch {index} of x is a {type(batch).__name__}"
                         f"{' of length ' + str(len(batch)) if isinstance(batch, (tuple, list)) else ''}; an iterable "
                         f"x must yield (x, y) pairs (a DataLoader does)")
    xb, yb = _raw(batch[0], who, f"batch {index}'s x"), _raw(batch[1], who, f"batch {index}'s y")
    if xb.ndim == 0 or yb.ndim == 0 or len(xb) != len(yb):
        raise ValueError(f"{who}: batch {index} has x of shape {xb.shape} and y of shape {yb.shape}; expected the "
                         f"same number of samples")
    model._check_integer_input(xb, who, stacklevel=5)
    return _cast_x(model, xb, who), _cast_y(model, yb)


def _named(arr, name):
    t = Tensor._wrap(arr, False)
    t.name = name
    return t


def _check_batch_size(batch_size, who):
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"{who}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _check_int(value, name, who, minimum=0):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{who}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


# -- progress -------------------------------------------------------------------------------------------------------
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
        return "".join(f" - {k}: {v:.4f}" for k, v in logs.items() if isinstance(v, (float, int)))

    def update(self, done, seen, logs):
        if self.mode != "bar":
            return
        now = time.perf_counter()
        if (self.batches is None or done < self.batches) and now - self.last < 0.1:
            return
        self.last = now
        rate = seen / max(now - self.t0, 1e-9)
        if self.batches is None:
            self.out.write(f"\r{self.head} {done} batches, {rate:,.0f} img/s{self._metrics(logs)}")
        else:
            width = 24
            filled = width * done // self.batches
            bar = "=" * max(filled - 1, 0) + (">" if filled < width else "=") * (filled > 0) + "." * (width - filled)
            n = len(str(self.batches))
            self.out.write(f"\r{self.head} {done:>{n}}/{self.batches} [{bar}] {rate:,.0f} img/s{self._metrics(logs)}")
        self.out.flush()

    def finish(self, done, seen, logs, note=""):
        if self.mode == "off":
            return
        dt = time.perf_counter() - self.t0
        rate = seen / max(dt, 1e-9)
        if self.mode == "bar":
            total = self.batches or done
            self.out.write(f"\r{self.head} {done}/{total} [{'=' * 24}] {rate:,.0f} img/s - "
                           f"{dt:.1f}s{self._metrics(logs)}{note}\n")
        else:
            self.out.write(f"{self.head} - {seen} samples in {dt:.1f}s ({rate:,.0f} img/s){self._metrics(logs)}"
                           f"{note}\n")
        self.out.flush()


def _call(callbacks, hook, *args):
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


class _Discard:
    """A write-only stream that drops everything (stdout of callbacks on non-primary ranks)."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def _quiet_call(callbacks, hook, *args):
    """``_call`` with stdout discarded (callbacks' prints on ranks other than the primary)."""
    with contextlib.redirect_stdout(_Discard()):
        _call(callbacks, hook, *args)


def _shared_order(n, shuffle, dist):
    """This rank's sample indices for one epoch: the primary's permutation (drawn from ``get_rng()``, so
    checkpoints and ``tg.manual_seed`` repeat it) broadcast to every rank, then ``dist.shard_for``."""
    if not shuffle:
        return dist.shard_for(n)
    order = get_rng().permutation(n).astype(np.int64) if dist.is_primary() else np.empty(n, np.int64)
    return dist.shard_for(dist.broadcast(order))


def _combine(values: dict, count: int, dist) -> dict:
    """Sample-weighted means over the ranks of per-rank means over ``count`` samples (one allreduce)."""
    if dist.size() == 1:
        return values
    keys = list(values)
    tot = dist.allreduce(np.array([count] + [values[k] * count for k in keys], np.float64), "sum",
                         what="fit (validation logs)")
    return {k: float(tot[i + 1] / tot[0]) for i, k in enumerate(keys)}


def _metric_objects(specs, kind, who):
    if specs is None:
        specs = ["accuracy"] if kind else []
    return [get_metric(m, who) for m in specs]


def _loss_and_metrics(model, loss, metrics, who):
    """The loss (callable, kind, from_logits) and metric list for fit/evaluate: arguments, else compiled/fitted."""
    compiled = model.__dict__.get("_compiled") or {}
    if loss is not None:
        resolved = get_loss(loss, who=who)
    else:
        resolved = compiled.get("loss") or model.__dict__.get("_fit_loss")
    if metrics is None:
        metrics = compiled.get("metrics")
    if isinstance(metrics, (str, Metric)):
        metrics = [metrics]
    return resolved, metrics


# -- fit ------------------------------------------------------------------------------------------------------------
def fit(model, x, y=None, *, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, initial_epoch=0, checkpoint=None, resume=False, loss=None,
        optimizer=None, metrics=None, terminate_on_nan=True, distributed=False) -> History:
    """Train ``model`` with the explicit-tape loop (Keras's ``fit``); returns a ``History``.

    Arguments:
        x: training inputs: an array (NCHW images, (N, features) ...; integer images with values above 1 get a
            warning: scale them with ``x / 255``), or a ``tg.data.DataLoader`` or any re-iterable of ``(x, y)``
            batches (then ``y`` is None; a one-shot generator can feed one epoch only).
        y: targets for array ``x``: integer labels (N,), one-hot (N, C) or values of the output's shape.
        batch_size: samples per step for array data (a DataLoader brings its own).
        epochs: the index of the last epoch, counted from the start of the whole run (Keras): with
            ``initial_epoch=2, epochs=5`` three epochs run; after a resume from a checkpoint of 3 epochs,
            ``epochs=5`` runs two more. Nothing to run gives a warning.
        verbose: 0 silent; 1 or "auto": a progress bar on a terminal, one line per epoch otherwise; 2: one line
            per epoch.
        callbacks: Callback objects (``EarlyStopping``, ``ModelCheckpoint``, ``LearningRateScheduler``,
            ``CSVLogger``, ``TerminateOnNaN``) or anything with some of their hooks, such as the schedules of
            ``tg.optim``. A ``TerminateOnNaN`` is added unless ``terminate_on_nan=False``: a NaN/Inf batch loss
            stops training before that step is applied, with a RuntimeWarning naming the epoch and step.
        validation_split: fraction of array data held out for validation: the *last* samples, taken before any
            shuffling (Keras); ignored when ``validation_data`` is given.
        validation_data: ``(x_val, y_val)`` arrays or an iterable of batches, evaluated after every epoch into
            the "val_" logs.
        shuffle: reshuffle array data every epoch (from ``tg.get_rng()``, so ``tg.manual_seed`` repeats runs).
        initial_epoch: epoch to start from (its index, from 0).
        checkpoint: a file path; after each complete epoch the model, the optimizer's state dict, the callbacks'
            state (schedules, EarlyStopping...), the history and the random state are saved there atomically.
        resume: with ``checkpoint``, continue from that file when it exists (validated as a whole first; a file
            that does not fit this model/optimizer/callbacks raises a ValueError naming what is wrong and changes
            nothing). The resumed run ends bit for bit as an uninterrupted one would.
        loss, optimizer, metrics: override what ``compile`` set (see ``compile``); one of the two must give a
            loss and an optimizer.
        distributed: data-parallel training on the MPI world of ``tapegraph.distributed`` (launch the script with
            ``mpirun -n N``; alone it is a one-rank world and trains exactly as ``distributed=False``). Every rank
            runs the same ``fit``: the model is built and rank 0's weights broadcast, the optimizer is wrapped in
            ``DistributedOptimizer`` (gradients averaged each step), and array data is sharded: every epoch rank 0's
            permutation is broadcast and each rank trains on its contiguous ``n // N`` slice (the last ``n % N``
            samples of the permutation are dropped), so ``batch_size`` is PER RANK (global batch ``N *
            batch_size``). A DataLoader must be made with ``shard="auto"`` (refused otherwise); any other iterable
            must yield this rank's own batches, the same number on every rank. The batch loss is averaged over the
            ranks (the NaN test and "loss" are global), a ``stop_training`` set on any rank stops all, epoch logs
            are averaged, BatchNorm buffers are broadcast from rank 0 before validation (array validation data is
            split over the ranks and the results combined) and checkpointing. Only rank 0 prints, writes the
            ``checkpoint`` and runs the callbacks that write files (``primary_only = True``: ``CSVLogger``,
            ``ModelCheckpoint``); the other callbacks run everywhere with their output discarded off rank 0.
            ``resume`` loads the checkpoint on every rank (a filesystem shared by all ranks). The History gets
            ``allreduce_ms``: per epoch, the mean milliseconds per step spent in the gradient allreduce (including
            waiting for the slowest rank).

    Returns:
        ``History``: ``.history`` maps "loss", each metric ("accuracy"...), and their "val_" versions to per-epoch
        values (means over the epoch's samples); ``.epoch`` lists the epochs run. Also kept as ``model.history``;
        the last step's tape (released: names and shapes, no arrays) is ``model.last_tape``.

    Example::

        (x, y), (xt, yt) = tg.data.load_mnist(dtype="float32")
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True,
                      metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=64, validation_split=0.1,
                            callbacks=[nn.EarlyStopping(patience=1)])
    """
    who = "fit"
    resolved, metric_specs = _loss_and_metrics(model, loss, metrics, who)
    if resolved is None:
        raise ValueError("fit: no loss: call model.compile(optimizer=..., loss=...) first or pass loss= "
                         "(e.g. loss='sparse_categorical_crossentropy')")
    loss_fn, kind, from_logits = resolved
    batch_size = _check_batch_size(batch_size, who)
    epochs = _check_int(epochs, "epochs", who)
    initial_epoch = _check_int(initial_epoch, "initial_epoch", who)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}")
    if verbose not in (0, 1, 2, "auto") or isinstance(verbose, bool):
        raise ValueError(f"fit: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    verbose = 1 if verbose == "auto" else verbose
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
            not 0 <= validation_split < 1:
        raise ValueError(f"fit: validation_split must be a number in [0, 1), got {validation_split!r}")
    if resume and checkpoint is None:
        raise ValueError("fit: resume=True needs checkpoint= (the file to resume from)")
    dist = None
    if distributed:
        from .. import distributed as dist
        dist.init()
        if not dist.is_primary():
            verbose = 0
    world = 1 if dist is None else dist.size()

    # data
    batched = _is_batches(x)
    if batched:
        if y is not None:
            raise ValueError(f"fit: x is a {type(x).__name__} (batches of (x, y)), so y must be None")
        if validation_split:
            raise ValueError("fit: validation_split needs array data; with batches give validation_data=")
        data, n, batches = x, None, (len(x) if hasattr(x, "__len__") else None)
        if iter(x) is x and epochs - initial_epoch > 1 and not resume:
            raise ValueError(f"fit: x is a one-shot iterator ({type(x).__name__}), which can feed one epoch only, "
                             f"but epochs={epochs}; pass a DataLoader or a re-iterable (e.g. a list of batches)")
        if world > 1:
            _check_distributed_batches(x, batches, dist)
    else:
        if y is None:
            raise ValueError("fit: y is None but x is an array; pass the targets (model.fit(x, y)), or give x as a "
                             "DataLoader / iterable of (x, y) batches")
        xa, ya = _arrays(model, x, y, who, stacklevel=5)
        if validation_split and validation_data is None:
            split = int(len(xa) * (1.0 - validation_split))
            if split == 0 or split == len(xa):
                raise ValueError(f"fit: validation_split={validation_split} of {len(xa)} samples leaves "
                                 f"{split} for training and {len(xa) - split} for validation; both need some")
            validation_data = (xa[split:], ya[split:])
            xa, ya = xa[:split], ya[:split]
        n = len(xa)
        if n < world:
            raise ValueError(f"fit (distributed): {n} training samples cannot give each of {world} ranks one")
        batches = -(-(n // world) // batch_size)
    if validation_data is not None and _is_batches(validation_data) and iter(validation_data) is validation_data \
            and epochs - initial_epoch > 1:
        raise ValueError(f"fit: validation_data is a one-shot iterator ({type(validation_data).__name__}), which "
                         f"can be evaluated after one epoch only, but epochs={epochs}; pass a list of batches, a "
                         f"DataLoader or (x_val, y_val) arrays")
    if validation_data is not None and not _is_batches(validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val) or an iterable of batches")
        validation_data = _arrays(model, *validation_data, "fit (validation_data)", stacklevel=5)

    # optimizer (a name is made now, after the model is built)
    compiled = model.__dict__.get("_compiled") or {}
    if optimizer is None:
        optimizer = model.__dict__.get("optimizer") or compiled.get("optimizer")
    if optimizer is None:
        raise ValueError("fit: no optimizer: call model.compile(optimizer='adam', ...) first or pass optimizer=")
    needs_build = isinstance(optimizer, str) or (resume and checkpoint is not None) or dist is not None
    if needs_build and not all(m.built for m in model.modules()):
        if batched:
            it = iter(data)
            first = next(it, None)
            if first is None:
                raise ValueError("fit: x yielded no batches")
            if it is data:                       # a one-shot iterator: put the batch back
                data = itertools.chain([first], it)
            sample = _batch_pair(model, first, who, 0)[0][:1]
        else:
            sample = xa[:1]
        with model.inference():
            model(sample)                        # build lazy layers (parameters for the optimizer / the checkpoint)
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"fit: unknown optimizer {optimizer!r}; expected one of {sorted(OPTIMIZERS)} or an "
                             f"optimizer object")
        lr = compiled.get("learning_rate") if compiled.get("optimizer") == optimizer else None
        optimizer = _make_optimizer(model, optimizer, lr)
    _check_optimizer(optimizer, who)
    groups = getattr(optimizer, "param_groups", None)
    if isinstance(groups, list) and all(m.built for m in model.modules()):
        mine = {id(p) for p in model.parameters()}
        held = {id(p) for g in groups if isinstance(g, dict) for p in g.get("params", ())}
        if mine and not mine & held:
            # an optimizer made for another model (or before a rebuild) would step nothing of this one, silently
            raise ValueError(f"fit: the optimizer ({type(optimizer).__name__}) holds none of this model's "
                             f"{len(mine)} parameters; make it from model.parameters()")
    model.__dict__["optimizer"] = optimizer
    model.__dict__["_fit_loss"] = resolved
    stepper = optimizer                          # what the loop steps: the optimizer, or its distributed wrapper
    if dist is not None:
        dist.broadcast_parameters(model)         # rank 0's initial weights and buffers everywhere
        if isinstance(optimizer, dist.DistributedOptimizer):
            optimizer = optimizer.optimizer      # checkpoints and callbacks see the wrapped one
            model.__dict__["optimizer"] = optimizer
        stepper = dist.DistributedOptimizer(optimizer)

    if callbacks is None:
        callbacks = []
    elif isinstance(callbacks, (Callback, str)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"fit: callbacks must be a list of callbacks, got a {type(callbacks).__name__}; "
                        f"write callbacks=[...]")
    callbacks = list(callbacks)
    if terminate_on_nan and not any(isinstance(cb, TerminateOnNaN) for cb in callbacks):
        callbacks.append(TerminateOnNaN())
    terminators = [cb for cb in callbacks if isinstance(cb, TerminateOnNaN)]
    for cb in callbacks:
        if hasattr(cb, "set_model"):
            cb.set_model(model)
    stateful = callbacks                         # what checkpoints save and load: the same list on every rank
    call = _call
    if dist is not None and not dist.is_primary():
        callbacks = [cb for cb in callbacks if not getattr(cb, "primary_only", False)]   # file writers: rank 0
        call = _quiet_call                       # and no callback prints off rank 0
    train_metrics = _metric_objects(metric_specs, kind, who)
    metric_names = [m.name for m in train_metrics]
    out = sys.stdout
    history = History()
    history.set_model(model)
    model.__dict__["history"] = history
    model.stop_training = False
    start = initial_epoch
    if resume and _checkpoint_exists(checkpoint, dist):
        done = load_checkpoint(checkpoint, model, optimizer, history, stateful) + 1
        if dist is not None:                     # every rank read the same file; make sure they agree
            dist.broadcast_parameters(model)
            dist.broadcast_optimizer_state(optimizer)
        start = max(start, done)
        if epochs <= done:
            warnings.warn(f"fit: the checkpoint {checkpoint} already holds {done} epochs and epochs={epochs}, so "
                          f"there is nothing to train: epochs is the index of the last epoch of the whole run "
                          f"(Keras); pass epochs > {done} to train more", UserWarning, stacklevel=3)
        elif verbose:
            out.write(f"Resuming from {checkpoint} after epoch {done}/{epochs}\n")
    elif start >= epochs and epochs > 0:
        warnings.warn(f"fit: initial_epoch={start} and epochs={epochs}: nothing to train (epochs is the index of "
                      f"the last epoch, not a count)", UserWarning, stacklevel=3)

    call(callbacks, "on_train_begin", {})
    model.train()
    logs = {}
    if dist is not None:
        history.allreduce_ms = []
    for epoch in range(start, epochs):
        call(callbacks, "on_epoch_begin", epoch, {})
        if batched:
            stream = ((b, *_batch_pair(model, batch, who, b)) for b, batch in enumerate(data))
        elif dist is not None:
            mine = _shared_order(n, shuffle, dist)
            lo, m_local = int(mine[0]), len(mine)
            stream = ((b, xa[sl], ya[sl]) for b, sl in
                      ((b, mine[b * batch_size:(b + 1) * batch_size] if shuffle else
                        slice(lo + b * batch_size, lo + min((b + 1) * batch_size, m_local))) for b in range(batches)))
        else:
            order = get_rng().permutation(n) if shuffle else None
            stream = ((b, xa[sl], ya[sl]) for b, sl in
                      ((b, order[b * batch_size:(b + 1) * batch_size] if shuffle else
                        slice(b * batch_size, (b + 1) * batch_size)) for b in range(batches)))
        progress = _Progress(epoch, epochs, batches, verbose, out)
        for m in train_metrics:
            m.reset()
        seen, loss_sum, done, nan_stop, cut, reduce_s = 0, 0.0, 0, False, False, 0.0
        logs = {}
        for b, xb, yb in stream:
            m = len(xb)
            call(callbacks, "on_batch_begin", b, {"batch": b, "size": m})
            with Tape() as tape:
                pred = model(_named(xb, "images" if xb.ndim == 4 else "inputs"))
                loss_t = loss_fn(pred, _named(yb, "labels"))
            value = float(np.asarray(loss_t.data if isinstance(loss_t, Tensor) else loss_t))
            if dist is not None:                 # the global batch's loss: every rank tests the same number
                value = dist.allreduce(value, "mean", what="fit (batch loss)")
            if not math.isfinite(value) and terminators:
                for t in terminators:
                    t.nonfinite(epoch, b, value)
                nan_stop = True
                tape.release()                   # no backward: drop what the tape saved
            else:
                tape.backward(loss_t)
                stepper.step()
                stepper.zero_grad()
                if dist is not None:
                    reduce_s += stepper.allreduce_seconds
            model.last_tape = tape
            seen += m
            done += 1
            loss_sum += value * m
            logs = {"loss": loss_sum / seen}
            pdata = pred.data if isinstance(pred, Tensor) else np.asarray(pred)
            for met in train_metrics:
                met.update(pdata, yb, from_logits if kind else None)
                logs[met.name] = met.result()
            progress.update(done, seen * world, logs)
            call(callbacks, "on_batch_end", b, {**logs, "size": m})
            if dist is not None and world > 1:   # a stop on any rank stops every rank after this batch
                model.stop_training = bool(dist.allreduce(float(bool(model.stop_training)), "max",
                                                          what="fit (stop_training)"))
            if nan_stop or model.stop_training:
                cut = batches is None or done < batches
                break
        if done == 0:
            raise ValueError(f"fit: x yielded no batches in epoch {epoch + 1}"
                             + ("; a generator can be iterated only once: pass a DataLoader or a re-iterable"
                                if batched else ""))
        note = ""
        if dist is not None:
            logs = dist.average_logs(logs)       # every rank's callbacks see the same numbers
            dist.broadcast_buffers(model)        # rank 0's BatchNorm statistics for validation and checkpoints
            history.allreduce_ms.append(1e3 * reduce_s / done)
            if world > 1:
                note = f" - allreduce {history.allreduce_ms[-1]:.1f} ms/step ({world} ranks)"
        if validation_data is not None and not nan_stop:
            val_args = (validation_data,) if _is_batches(validation_data) else validation_data
            if dist is not None and world > 1 and len(val_args) == 2 and len(val_args[0]) >= world:
                first, last = np.array_split(np.arange(len(val_args[0])), world)[dist.rank()][[0, -1]]
                val_args = (val_args[0][first:last + 1], val_args[1][first:last + 1])   # this rank's part
            v, count = evaluate(model, *val_args, batch_size=batch_size, loss=loss_fn,
                                metrics=metric_names if metric_specs is None else metric_specs, _resolved=resolved,
                                _with_count=True)
            if dist is not None:
                v = _combine(v, count, dist)
            logs.update({f"val_{k}": val for k, val in v.items()})
        progress.finish(done, seen * world, logs, note)
        call(callbacks, "on_epoch_end", epoch, logs)
        history._record(epoch, dict(logs))
        if dist is not None and world > 1:
            model.stop_training = bool(dist.allreduce(float(bool(model.stop_training)), "max",
                                                      what="fit (stop_training)"))
        if checkpoint is not None and not cut:           # only complete epochs are checkpointed
            if dist is None:
                save_checkpoint(checkpoint, model, optimizer, epoch, history, stateful)
            else:                                        # rank 0 writes; the others wait for the file
                dist.primary_only(save_checkpoint)(checkpoint, model, optimizer, epoch, history, stateful)
        if model.stop_training:
            break
    call(callbacks, "on_train_end", dict(logs))
    if dist is not None:
        dist.barrier()                           # files written by rank 0's callbacks exist when fit returns
    return history


def _check_distributed_batches(x, batches, dist):
    """Under ``fit(distributed=True)`` with more than one rank: a DataLoader must be sharded over this world, and
    ranks must agree on the number of batches per epoch (where it is known) -- else collectives would mismatch."""
    from ..data import DataLoader
    world = dist.size()
    if isinstance(x, DataLoader) and (x.shard is None or x.shard[1] != world):
        raise ValueError(f"fit (distributed): the DataLoader is sharded {x.shard} but the world has {world} ranks: "
                         f"make it with shard='auto' (each rank then trains on its own slice of every epoch)")
    counts = dist.allreduce(np.array([-1 if batches is None else batches] * 2, np.int64) * [1, -1], "max",
                            what="fit (batches per epoch)")
    lo, hi = -int(counts[1]), int(counts[0])
    if lo != hi:
        raise ValueError(f"fit (distributed): the ranks' data give different numbers of batches per epoch "
                         f"({lo} to {hi}; this rank: {batches}); every rank must feed the same number of steps")


def _checkpoint_exists(path, dist) -> bool:
    """``os.path.exists(path)``, agreed on by every rank (they all load it: a shared filesystem is needed)."""
    here = os.path.exists(path)
    if dist is None or dist.size() == 1:
        return here
    count = int(dist.allreduce(int(here), "sum", what="fit (checkpoint exists)"))
    if 0 < count < dist.size():
        raise ValueError(f"fit (distributed): the checkpoint {path} exists on {count} of {dist.size()} ranks "
                         f"(here: {here}); resuming needs it on a filesystem every rank sees")
    return count > 0


# -- evaluate / predict ---------------------------------------------------------------------------------------------
def evaluate(model, x, y=None, *, batch_size=32, loss=None, metrics=None, _resolved=None,
             _with_count=False) -> dict[str, float]:
    """Mean loss and metrics over a dataset, in eval mode without recording: ``{"loss": ..., "accuracy": ...}``.

    ``x``, ``y``: arrays, or ``x`` a DataLoader/iterable of ``(x, y)`` batches. ``loss`` and ``metrics`` default to
    those of ``compile`` or the last ``fit``. Without any loss the result holds the metrics that apply to the
    outputs (accuracy for class scores against labels or one-hot targets); a ValueError when none does.
    """
    who = "evaluate"
    if _resolved is not None:
        resolved, specs = _resolved, metrics
    else:
        resolved, specs = _loss_and_metrics(model, loss, metrics, who)
    kind, from_logits = (resolved[1], resolved[2]) if resolved else (None, None)
    batch_size = _check_batch_size(batch_size, who)
    if _is_batches(x):
        if y is not None:
            raise ValueError(f"evaluate: x is a {type(x).__name__} (batches of (x, y)), so y must be None")
        stream = (_batch_pair(model, batch, who, i) for i, batch in enumerate(x))
    else:
        if y is None:
            raise ValueError("evaluate: y is None but x is an array; pass the targets, or x as batches of (x, y)")
        xa, ya = _arrays(model, x, y, who, stacklevel=5 if _resolved is None else 6)
        stream = ((xa[s:s + batch_size], ya[s:s + batch_size]) for s in range(0, len(xa), batch_size))
    auto = resolved is None and specs is None            # no loss, no metrics: whatever applies
    mets = _metric_objects(["accuracy"] if auto else specs, kind, who)
    total, count = 0.0, 0
    with model.inference():
        for xb, yb in stream:
            pred = model(xb)
            pdata = pred.data if isinstance(pred, Tensor) else np.asarray(pred)
            if resolved is not None:
                total += float(np.asarray(resolved[0](pred, yb).data)) * len(xb)
            if auto and count == 0:
                mets = [m for m in mets if m.applies(pdata, yb)]
                if not mets:
                    raise ValueError(f"evaluate: no loss (compile or fit the model first, or pass loss=) and no "
                                     f"metric applies to outputs {pdata.shape} with targets {np.shape(yb)}")
            for m in mets:
                m.update(pdata, yb, from_logits if kind else None)
            count += len(xb)
    if count == 0:
        raise ValueError("evaluate: x holds no samples")
    out = {"loss": total / count} if resolved is not None else {}
    out.update((m.name, m.result()) for m in mets)
    return (out, count) if _with_count else out


def predict(model, x, *, batch_size=32) -> np.ndarray:
    """The model's outputs for all of ``x`` (batch by batch, eval mode, no recording) as one ndarray. ``x`` may
    be an array, or a DataLoader/iterable of batches (``(x, y)`` pairs or inputs alone)."""
    batch_size = _check_batch_size(batch_size, "predict")
    if _is_batches(x):
        parts = []
        with model.inference():
            for i, batch in enumerate(x):
                xb = batch[0] if isinstance(batch, (tuple, list)) else batch
                xb = _raw(xb, "predict", f"batch {i}")
                model._check_integer_input(xb, "predict", stacklevel=4)
                p = model(_cast_x(model, xb, "predict"))
                parts.append(np.array(p.data if isinstance(p, Tensor) else p))
        if not parts:
            raise ValueError("predict: x yielded no batches")
        return np.concatenate(parts)
    x, _ = _arrays(model, x, None, "predict")
    result = None
    with model.inference():
        for s in range(0, len(x), batch_size):
            p = model(x[s:s + batch_size])
            p = p.data if isinstance(p, Tensor) else np.asarray(p)
            if result is None:
                result = np.empty((len(x),) + p.shape[1:], dtype=p.dtype)
            result[s:s + len(p)] = p
    return result



def _share_docs():
    """``help(model.fit)`` shows the full documentation."""
    from .module import Module
    for name, fn in (("compile", compile), ("fit", fit), ("evaluate", evaluate), ("predict", predict)):
        getattr(Module, name).__doc__ = fn.__doc__


_share_docs()
