"""Learning-rate schedules with PyTorch's formulas, acting on every parameter group (each group's lr at
construction is its own base lr).

``sched.step()`` advances the schedule by one and sets each group's lr; the constructor sets the lr of step 0.
A schedule is also a training callback: epoch schedules step in ``on_epoch_end``, per-batch ones
(``per_batch = True``: OneCycleLR; settable on any schedule) in ``on_batch_end``, so
``model.fit(..., callbacks=[sched])`` works. ``ReduceLROnPlateau`` steps on a metric (``step(metric)``; as a
callback it reads ``logs[monitor]``). Every schedule has ``state_dict()``/``load_state_dict()`` (plain Python
values; callables such as LambdaLR's are not saved, as in PyTorch).

The closed-form schedules compute ``lr(base_lr, epoch)`` directly (PyTorch's ``_get_closed_form_lr``), so they do
not compound with lr changes made by something else between steps.
"""
from __future__ import annotations

import bisect
import math
import warnings
from numbers import Real

import numpy as np

from .optimizer import check_bool, check_number


def _check_int(owner, name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "positive" if low == 1 else f">= {low}"
        raise ValueError(f"{owner}: {name} must be a {kind} int, got {value!r}")
    return value


def _positive(owner, name, value):
    """A finite number > 0 (TypeError for a non-number, ValueError otherwise)."""
    v = check_number(owner, name, value)
    if v == 0:
        raise ValueError(f"{owner}: {name} must be positive, got {v}")
    return v


def _per_group(owner, name, value, n, **limits):
    """A number or a list/tuple with one number per parameter group -> list of n floats."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{owner}: {name} has {len(value)} values for {n} parameter groups")
        return [check_number(owner, f"{name}[{i}]", v, **limits) for i, v in enumerate(value)]
    return [check_number(owner, name, value, **limits)] * n


class LRScheduler:
    """Base: ``base_lrs`` (each group's lr at construction), ``epoch`` (steps taken), ``step()``."""

    per_batch = False
    _unsaved = ("optimizer",)

    def __init__(self, optimizer):
        name = type(self).__name__
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list) or not groups:
            raise TypeError(f"{name}: expected a tapegraph optimizer (with param_groups), got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [float(g["lr"]) for g in groups]
        self.epoch = 0
        self.per_batch = bool(self.per_batch)       # an instance attribute (saved), from the class or a subclass

    def _start(self):
        """Called at the end of subclasses' __init__: set the lrs of step 0."""
        self._apply()

    @property
    def base_lr(self) -> float:
        return self.base_lrs[0]

    def _lr(self, base_lr: float, epoch: int, group: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The lr of every group at the current ``epoch``."""
        return [self._lr(b, self.epoch, i) for i, b in enumerate(self.base_lrs)]

    def lr_at(self, epoch: int) -> float:
        """The first group's lr at ``epoch``."""
        return self._lr(self.base_lrs[0], epoch, 0)

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def _apply(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter groups, the schedule "
                             f"was made for {len(self.base_lrs)}")
        try:
            lrs = self.get_lr()
        except OverflowError:           # gamma ** epoch past 1e308
            lrs = [math.inf]
        for i, lr in enumerate(lrs):
            # a gamma of 1e300, a lambda returning NaN: refuse the lr rather than hand the optimizer garbage
            # (a negative lr passes, as in PyTorch: OneCycleLR's linear anneal extrapolates past total_steps)
            if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, Real) or not math.isfinite(lr):
                raise ValueError(f"{type(self).__name__}: the schedule gives lr={lr!r} for parameter group {i} at "
                                 f"step {self.epoch}; expected a finite number")
        for g, lr in zip(groups, lrs):
            g["lr"] = lr

    def step(self):
        """Advance one epoch (or batch, for per-batch schedules); returns the first group's new lr."""
        self.epoch += 1
        try:
            self._apply()
        except Exception:
            self.epoch -= 1
            raise
        return self.optimizer.param_groups[0]["lr"]

    def on_epoch_end(self, epoch, logs=None):
        if not self.per_batch:
            self.step()

    def on_batch_end(self, batch, logs=None):
        if self.per_batch:
            self.step()

    def state_dict(self) -> dict:
        """The schedule's attributes except the optimizer and callables."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()
                if k not in self._unsaved and not callable(v)}

    def load_state_dict(self, state: dict):
        """Restore ``state_dict()``; the optimizer's lrs are not touched (they come with the optimizer's state)."""
        name = type(self).__name__
        if not isinstance(state, dict):
            raise TypeError(f"{name}.load_state_dict: expected a dict, got {type(state).__name__}")
        mine = self.state_dict()
        if set(state) != set(mine):
            raise ValueError(f"{name}.load_state_dict: keys differ: missing {sorted(set(mine) - set(state))}, "
                             f"unexpected {sorted(set(state) - set(mine))}")
        for k in ("base_lrs", "max_lrs", "min_lrs"):
            if k in mine and len(state[k]) != len(mine[k]):
                raise ValueError(f"{name}.load_state_dict: {k} has {len(state[k])} values, this schedule has "
                                 f"{len(mine[k])} parameter groups")
        for k, v in state.items():
            setattr(self, k, list(v) if isinstance(v, tuple) else v)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = _check_int("StepLR", "step_size", step_size)
        self.gamma = _positive("StepLR", "gamma", gamma)
        self._start()

    def _lr(self, base, epoch, group):
        return base * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch); a repeated milestone counts twice (PyTorch)."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        super().__init__(optimizer)
        try:
            ms = list(milestones)
        except TypeError:
            raise TypeError(f"MultiStepLR: milestones must be a list of ints, got {type(milestones).__name__}") \
                from None
        self.milestones = sorted(_check_int("MultiStepLR", f"milestones[{i}]", m, low=0) for i, m in enumerate(ms))
        self.gamma = check_number("MultiStepLR", "gamma", gamma)
        self._start()

    def _lr(self, base, epoch, group):
        return base * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = _positive("ExponentialLR", "gamma", gamma)
        self._start()

    def _lr(self, base, epoch, group):
        return base * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (closed form; rises again after
    T_max as the cosine does)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        self.T_max = _check_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = check_number("CosineAnnealingLR", "eta_min", eta_min)
        self._start()

    def _lr(self, base, epoch, group):
        if epoch == 0:
            return base
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); ``lr_lambda`` is a function or a list with one per parameter group."""

    def __init__(self, optimizer, lr_lambda):
        super().__init__(optimizer)
        n = len(self.base_lrs)
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(fns) != n:
            raise ValueError(f"LambdaLR: lr_lambda has {len(fns)} functions for {n} parameter groups")
        for f in fns:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be a function epoch -> factor, got {type(f).__name__}")
        self._lambdas = fns
        self._start()

    _unsaved = ("optimizer", "_lambdas")

    def _lr(self, base, epoch, group):
        try:
            factor = self._lambdas[group](epoch)
        except TypeError as e:
            raise TypeError(f"LambdaLR: lr_lambda for parameter group {group} failed on epoch {epoch}: {e} (it "
                            f"must take the epoch and return a number)") from e
        if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, Real):
            raise TypeError(f"LambdaLR: lr_lambda for parameter group {group} returned {factor!r} on epoch {epoch}; "
                            f"expected a number")
        return base * factor


class LinearLR(LRScheduler):
    """lr = base_lr * factor, the factor going linearly from ``start_factor`` (epoch 0) to ``end_factor`` (epoch
    ``total_iters`` and after): PyTorch's LinearLR."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        super().__init__(optimizer)
        name = type(self).__name__
        self.start_factor = check_number(name, "start_factor", start_factor, high=1.0, high_open=False)
        if self.start_factor == 0:
            raise ValueError(f"{name}: start_factor must be in (0, 1], got 0.0")
        self.end_factor = check_number(name, "end_factor", end_factor, high=1.0, high_open=False)
        self.total_iters = _check_int(name, "total_iters", total_iters)
        self._start()

    def _lr(self, base, epoch, group):
        frac = min(epoch, self.total_iters) / self.total_iters
        return base * (self.start_factor + (self.end_factor - self.start_factor) * frac)


class LinearWarmup(LinearLR):
    """``LinearLR(optimizer, start_factor, 1.0, warmup_steps)``: lr rises linearly from start_factor * base_lr to
    base_lr over ``warmup_steps`` steps, then stays. Per epoch unless ``per_batch=True``."""

    def __init__(self, optimizer, warmup_steps, start_factor=1.0 / 3, per_batch=False):
        self.per_batch = check_bool("LinearWarmup", "per_batch", per_batch)
        super().__init__(optimizer, start_factor=start_factor, end_factor=1.0,
                         total_iters=_check_int("LinearWarmup", "warmup_steps", warmup_steps))


class OneCycleLR(LRScheduler):
    """PyTorch's OneCycleLR, stepped after every batch (``per_batch``; fit calls it from ``on_batch_end``).

    lr goes from ``max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start`` of ``total_steps`` (or
    ``epochs * steps_per_epoch``), then down to ``max_lr / div_factor / final_div_factor`` (``three_phase``: back
    to the initial lr first, then down), by a cosine or linearly. With ``cycle_momentum`` (default, as PyTorch) the
    optimizer's ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam, AdamW) moves inversely between
    ``max_momentum`` and ``base_momentum``, starting at ``max_momentum``. ``max_lr`` and the momenta may be lists
    (one per group). Stepping past ``total_steps`` is a ValueError.
    """

    per_batch = True

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
        super().__init__(optimizer)
        name = "OneCycleLR"
        if total_steps is not None:
            self.total_steps = _check_int(name, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_check_int(name, "epochs", epochs) *
                                _check_int(name, "steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError(f"{name}: give total_steps, or epochs and steps_per_epoch")
        pct_start = check_number(name, "pct_start", pct_start, high=1.0, high_open=False)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        div_factor = _positive(name, "div_factor", div_factor)
        final_div_factor = _positive(name, "final_div_factor", final_div_factor)
        self.three_phase = check_bool(name, "three_phase", three_phase)
        n = len(self.base_lrs)
        self.max_lrs = _per_group(name, "max_lr", max_lr, n)
        self.initial_lrs = [m / div_factor for m in self.max_lrs]
        self.min_lrs = [lr / final_div_factor for lr in self.initial_lrs]
        t = self.total_steps
        # (end step, start key, end key, start momentum key, end momentum key), as PyTorch's phases
        if self.three_phase:
            self.phases = [(pct_start * t - 1, "initial", "max", "max", "base"),
                           (2 * pct_start * t - 2, "max", "initial", "base", "max"),
                           (t - 1, "initial", "min", "max", "max")]
        else:
            self.phases = [(pct_start * t - 1, "initial", "max", "max", "base"),
                           (t - 1, "max", "min", "base", "max")]
        self.cycle_momentum = check_bool(name, "cycle_momentum", cycle_momentum)
        if self.cycle_momentum:
            defaults = getattr(optimizer, "defaults", {})
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with momentum or betas "
                                 f"({type(optimizer).__name__} has neither); pass cycle_momentum=False")
            self.use_beta1 = "betas" in defaults
            self.max_momentums = _per_group(name, "max_momentum", max_momentum, n, high=1.0)
            self.base_momentums = _per_group(name, "base_momentum", base_momentum, n, high=1.0)
        self._start()

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, epoch, group):
        """(lr, momentum or None) of ``group`` after ``epoch`` steps."""
        if epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {epoch} times, but total_steps is {self.total_steps}; make "
                             f"total_steps (or epochs * steps_per_epoch) cover every batch of the run")
        lrs = {"initial": self.initial_lrs[group], "max": self.max_lrs[group], "min": self.min_lrs[group]}
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
            if epoch <= end or i == len(self.phases) - 1:
                pct = (epoch - start) / (end - start)
                lr = self._anneal(lrs[lr0], lrs[lr1], pct)
                if not self.cycle_momentum:
                    return lr, None
                ms = {"max": self.max_momentums[group], "base": self.base_momentums[group]}
                return lr, self._anneal(ms[m0], ms[m1], pct)
            start = end

    def _lr(self, base, epoch, group):
        return self._at(epoch, group)[0]

    def _apply(self):
        super()._apply()
        if self.cycle_momentum:
            for i, g in enumerate(self.optimizer.param_groups):
                m = self._at(self.epoch, i)[1]
                if self.use_beta1:
                    g["betas"] = (m, *g["betas"][1:])
                else:
                    g["momentum"] = m


class ReduceLROnPlateau(LRScheduler):
    """PyTorch's ReduceLROnPlateau: ``step(metric)`` after each epoch; when the metric has not improved for more
    than ``patience`` epochs (improved: below ``best * (1 - threshold)`` in "min"/"rel" mode, ``best - threshold``
    in "abs"; mirrored for "max"), every group's lr becomes ``max(lr * factor, min_lr)`` (changes smaller than
    ``eps`` are skipped), then ``cooldown`` epochs pass before bad epochs count again.

    As a callback it steps in ``on_epoch_end`` on ``logs[monitor]`` (Keras's name, default "val_loss"; a
    warning when the logs lack it).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8, monitor="val_loss"):
        super().__init__(optimizer)
        name = "ReduceLROnPlateau"
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = check_number(name, "factor", factor, high=1.0)
        self.patience = _check_int(name, "patience", patience, low=0)
        self.threshold = check_number(name, "threshold", threshold)
        self.cooldown = _check_int(name, "cooldown", cooldown, low=0)
        self.min_lrs = _per_group(name, "min_lr", min_lr, len(self.base_lrs))
        self.eps = check_number(name, "eps", eps)
        if not isinstance(monitor, str):
            raise TypeError(f"{name}: monitor must be a metric name, got {type(monitor).__name__}")
        self.mode, self.threshold_mode, self.monitor = mode, threshold_mode, monitor
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _better(self, a, best):
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metric):
        """Record this epoch's ``metric``; reduce the lrs after too many epochs without improvement."""
        try:
            current = float(metric)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metric must be a number, got {type(metric).__name__}") \
                from None
        self.epoch += 1
        if self._better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, low in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(g["lr"] * self.factor, low)
                if g["lr"] - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.optimizer.param_groups[0]["lr"]

    def get_lr(self):
        return self.get_last_lr()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            warnings.warn(f"ReduceLROnPlateau: the epoch's logs have no {self.monitor!r} (they have "
                          f"{sorted(logs)}); the lr was not changed. Pass monitor= one of them "
                          f"(val_* needs validation data).", stacklevel=2)
            return
        self.step(logs[self.monitor])
