"""Training checkpoints: model weights and buffers, optimizer state, callback (schedule) state, history and the
global random generator's state in one .npz (no pickle), written atomically, so ``fit(checkpoint=..., resume=True)``
continues exactly where the last complete epoch ended.

Layout: ``meta`` is a JSON string (format, epoch, history, RNG state, and the optimizer's and callbacks' state
dicts with every ndarray replaced by ``{"__array__": key}``); ``model/<dotted name>`` holds each parameter and
buffer; the other keys are the arrays the JSON refers to. Any optimizer or callback with ``state_dict()`` and
``load_state_dict()`` is stored through them; a callback with only an ``epoch`` attribute stores that.

Loading validates the whole file against the model, optimizer and callbacks of this run *before* changing any of
them, and names every problem; the optimizer and callbacks are restored from a snapshot if their own
``load_state_dict`` refuses.
"""
from __future__ import annotations

import functools
import json
import math
import os

import numpy as np

from ..random import get_rng
from .serialization import CHECKPOINT_FORMATS, atomic_savez, module_arrays

_V1, FORMAT = CHECKPOINT_FORMATS          # load_weights reads the model part of both
_SCALARS = (str, int, float, bool, type(None))


# -- a JSON skeleton for nested state with the arrays stored beside it ------------------------------------------------
def _encode(obj, arrays: dict, prefix: str, where: str):
    if isinstance(obj, np.ndarray):
        key = f"{prefix}{len([k for k in arrays if k.startswith(prefix)])}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, _SCALARS):
        return obj
    if isinstance(obj, dict):
        items = [[_encode(k, arrays, prefix, where), _encode(v, arrays, prefix, f"{where}[{k!r}]")]
                 for k, v in obj.items()]
        return {"__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, prefix, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, arrays, prefix, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"fit (checkpoint): cannot store {where}: a {type(obj).__name__} (state dicts may hold numbers, "
                    f"strings, None, ndarrays, and lists/tuples/dicts of them)")


def _decode(obj, arrays: dict, where: str, depth: int = 0):
    """Inverse of ``_encode``; ValueError naming ``where`` for anything malformed."""
    if depth > 50:
        raise ValueError(f"{where}: nested too deeply")
    if isinstance(obj, _SCALARS):
        return obj
    if isinstance(obj, list):
        return [_decode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]
    if isinstance(obj, dict) and len(obj) == 1:
        (tag, body), = obj.items()
        if tag == "__array__":
            if not isinstance(body, str) or body not in arrays:
                raise ValueError(f"{where}: refers to array {body!r}, which the file does not hold")
            return arrays[body]
        if tag == "__tuple__" and isinstance(body, list):
            return tuple(_decode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(body))
        if tag == "__dict__" and isinstance(body, list):
            out = {}
            for item in body:
                if not (isinstance(item, list) and len(item) == 2) or not isinstance(item[0], _SCALARS):
                    raise ValueError(f"{where}: malformed dict entry {str(item)[:60]}")
                out[item[0]] = _decode(item[1], arrays, f"{where}[{item[0]!r}]", depth + 1)
            return out
    raise ValueError(f"{where}: unexpected value {str(obj)[:60]}")


def _compatible(saved, current, where: str, problems: list):
    """Check that ``saved`` has the structure of ``current`` (a freshly made object's state dict): every key of a
    dict, the length of a list, the shape of an array where both hold one, numbers where numbers are expected."""
    if current is None or saved is None:
        return
    if isinstance(current, np.ndarray):
        if not isinstance(saved, np.ndarray):
            problems.append(f"{where}: expected an array of shape {current.shape}, got {type(saved).__name__}")
        elif saved.shape != current.shape:
            problems.append(f"{where}: shape {saved.shape}, expected {current.shape}")
        elif saved.dtype.kind not in "fiub":
            problems.append(f"{where}: dtype {saved.dtype}, expected a numeric array")
    elif isinstance(current, dict):
        if not isinstance(saved, dict):
            problems.append(f"{where}: expected a dict, got {type(saved).__name__}")
            return
        missing = [k for k in current if k not in saved]
        if missing:
            problems.append(f"{where}: missing {missing}")
        for k in current:
            if k in saved:
                _compatible(saved[k], current[k], f"{where}[{k!r}]", problems)
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, (list, tuple)):
            problems.append(f"{where}: expected a list, got {type(saved).__name__}")
        elif len(saved) != len(current):
            problems.append(f"{where}: {len(saved)} entries, expected {len(current)}")
        else:
            for i, (a, b) in enumerate(zip(saved, current)):
                _compatible(a, b, f"{where}[{i}]", problems)
    elif isinstance(current, (int, float)) and not isinstance(current, bool):
        if isinstance(saved, bool) or not isinstance(saved, (int, float)):
            problems.append(f"{where}: expected a number, got {saved!r:.60}")
        elif isinstance(saved, float) and not math.isfinite(saved) and math.isfinite(current):
            problems.append(f"{where}: {saved} is not finite")


def _check_arrays(saved, where: str, problems: list, depth: int = 0):
    """Every array in a saved state must be numeric and finite (a NaN slot would poison every later step)."""
    if depth > 50:
        return
    if isinstance(saved, np.ndarray):
        if saved.dtype.kind not in "fiub":
            problems.append(f"{where}: dtype {saved.dtype}, expected a numeric array")
        elif saved.dtype.kind == "f" and not np.isfinite(saved).all():
            problems.append(f"{where}: holds NaN or Inf")
    elif isinstance(saved, dict):
        for k, v in saved.items():
            _check_arrays(v, f"{where}[{k!r}]", problems, depth + 1)
    elif isinstance(saved, (list, tuple)):
        for i, v in enumerate(saved):
            _check_arrays(v, f"{where}[{i}]", problems, depth + 1)


def _optimizer_params(optimizer):
    params = getattr(optimizer, "params", None)
    if params is None and isinstance(getattr(optimizer, "param_groups", None), list):
        params = [p for g in optimizer.param_groups if isinstance(g, dict) for p in g.get("params", ())]
    try:
        return [tuple(p.data.shape) for p in params] if params is not None else None
    except AttributeError:
        return None


def _check_param_slots(saved, shapes, where: str, problems: list, depth: int = 0):
    """Per-parameter slots, recognised by layout: a list with one array (or None) per parameter, or a dict keyed by
    parameter index (PyTorch's ``state``); their non-scalar arrays must have the parameter's shape."""
    if depth > 50 or not shapes:
        return
    n = len(shapes)
    if isinstance(saved, (list, tuple)) and len(saved) == n and saved and \
            all(v is None or isinstance(v, np.ndarray) for v in saved):
        for i, v in enumerate(saved):
            if v is not None and v.shape != shapes[i]:
                problems.append(f"{where}[{i}]: shape {v.shape}, parameter {i} has {shapes[i]}")
        return
    if isinstance(saved, dict) and saved and all(isinstance(k, int) and not isinstance(k, bool) for k in saved):
        for k, v in saved.items():
            if not 0 <= k < n:
                problems.append(f"{where}: state for parameter {k}, the optimizer has {n}")
            elif isinstance(v, dict):
                for name, a in v.items():
                    if isinstance(a, np.ndarray) and a.ndim and a.shape != shapes[k]:
                        problems.append(f"{where}[{k}][{name!r}]: shape {a.shape}, parameter {k} has {shapes[k]}")
        return
    items = saved.items() if isinstance(saved, dict) else enumerate(saved) if isinstance(saved, (list, tuple)) else ()
    for k, v in items:
        _check_param_slots(v, shapes, f"{where}[{k!r}]", problems, depth + 1)


def _stateful(callbacks):
    """The callbacks whose state a checkpoint keeps, in order."""
    return [cb for cb in callbacks if (hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict"))
            or isinstance(getattr(cb, "epoch", None), int)]


def _state_of(obj):
    if hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
        return obj.state_dict()
    return {"epoch": obj.epoch}


# -- save ---------------------------------------------------------------------------------------------------------
def save_checkpoint(path, model, optimizer, epoch: int, history, callbacks=()):
    arrays = module_arrays(model, "model/")
    meta = {"format": FORMAT, "epoch": int(epoch), "history": history.history, "epochs_run": history.epoch,
            "rng": get_rng().bit_generator.state, "optimizer": None, "callbacks": []}
    if hasattr(optimizer, "state_dict") and hasattr(optimizer, "load_state_dict"):
        meta["optimizer"] = {"class": type(optimizer).__name__,
                             "state": _encode(optimizer.state_dict(), arrays, "optim/", "optimizer.state_dict()")}
    for i, cb in enumerate(_stateful(callbacks)):
        try:
            trial: dict = {}
            entry = {"class": type(cb).__name__, "state": _encode(_state_of(cb), trial, f"callback/{i}/",
                                                                  f"{type(cb).__name__}.state_dict()")}
        except TypeError:
            if not isinstance(getattr(cb, "epoch", None), int):
                raise
            trial = {}                               # a state dict JSON cannot hold (functions...): the position
            entry = {"class": type(cb).__name__, "state": {"__dict__": [["epoch", cb.epoch]]}, "via": "epoch"}
        arrays.update(trial)
        meta["callbacks"].append(entry)
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_savez(path, arrays, who="fit (checkpoint)")


# -- load ---------------------------------------------------------------------------------------------------------
def _read(path):
    """(meta dict, arrays) of a checkpoint file; ValueError when it is not one."""
    try:
        with open(path, "rb") as f:                     # closed on every path (np.load(path) leaks it on a bad zip)
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with data:
                if "meta" not in data.files:
                    raise ValueError("no 'meta' entry")
                raw = data["meta"]
                if raw.ndim != 0 or raw.dtype.kind != "U":
                    raise ValueError(f"'meta' is a {raw.dtype} array of shape {raw.shape}, expected a JSON string")
                meta = json.loads(str(raw))
                arrays = {k: data[k] for k in data.files if k != "meta"}
    except Exception as e:
        raise ValueError(f"not a complete tapegraph checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"not a complete tapegraph checkpoint ('meta' is a {type(meta).__name__}, expected an object)")
    if meta.get("format") not in (FORMAT, _V1):
        raise ValueError(f"not a complete tapegraph checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    return meta, arrays


def _v1_to_v2(meta, arrays, callbacks):
    """Checkpoints of format 1 stored SGD's lr/velocity and one schedule position per callback."""
    opt = None
    if "optim/lr" in arrays:
        slots = meta.get("optim_slots", 0)
        if not isinstance(slots, int) or slots < 0:
            raise ValueError(f"optim_slots is {slots!r}")
        opt = {"class": None, "state": {"lr": float(arrays["optim/lr"]),
                                         "velocity": [arrays.get(f"optim/velocity/{i}") for i in range(slots)]}}
    schedules = meta.get("schedules", [])
    if not isinstance(schedules, list):
        raise ValueError(f"'schedules' is a {type(schedules).__name__}")
    cbs = [{"class": type(cb).__name__, "state": {"epoch": pos}}
           for cb, pos in zip(callbacks, schedules) if pos is not None]
    return opt, cbs


def _check_history(meta, problems):
    epoch, run, hist = meta.get("epoch"), meta.get("epochs_run"), meta.get("history")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        problems.append(f"epoch is {epoch!r}, expected a non-negative int")
    if not isinstance(run, list) or not all(isinstance(e, int) and not isinstance(e, bool) for e in run):
        problems.append(f"epochs_run is {str(run)[:60]}, expected a list of ints")
        return
    if isinstance(epoch, int) and run and run[-1] != epoch:
        problems.append(f"epochs_run ends at {run[-1]} but epoch is {epoch}")
    if not isinstance(hist, dict):
        problems.append(f"history is {str(hist)[:60]}, expected an object of lists")
        return
    for k, v in hist.items():
        if not isinstance(v, list) or len(v) != len(run) or \
                not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v):
            problems.append(f"history[{k!r}] is not a list of {len(run)} numbers")


def _check_rng(state, problems):
    current = get_rng().bit_generator
    if not isinstance(state, dict) or state.get("bit_generator") != type(current).__name__:
        problems.append(f"rng: expected the state of a {type(current).__name__} generator, got {str(state)[:80]}")
        return
    try:
        type(current)().state = state
    except Exception as e:
        problems.append(f"rng: invalid {type(current).__name__} state ({type(e).__name__}: {e})")


def _check_model(model, arrays, problems):
    state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    slots = model._state_slots()
    missing = [k for k in slots if k not in state]
    unexpected = [k for k in state if k not in slots]
    if missing:
        problems.append(f"model: missing {missing}")
    if unexpected:
        problems.append(f"model: unexpected {unexpected}")
    for k, (_, _, arr) in slots.items():
        v = state.get(k)
        if v is None:
            continue
        if v.shape != arr.shape:
            problems.append(f"model: {k} has shape {v.shape}, the model has {arr.shape}")
        elif v.dtype.kind not in "fiu" or (arr.dtype.kind == "f" and v.dtype.kind != "f"):
            problems.append(f"model: {k} has dtype {v.dtype}, the model has {arr.dtype}")
        elif v.dtype.kind == "f" and not np.isfinite(v).all():
            problems.append(f"model: {k} holds NaN or Inf")
    return state


def load_checkpoint(path, model, optimizer, history, callbacks=()) -> int:
    """Restore everything ``save_checkpoint`` wrote; returns the last completed epoch.

    Nothing is changed unless the whole file fits this run: ValueError ``fit: cannot resume from <path>: ...``
    listing every problem otherwise.
    """
    path = os.fspath(path)
    who = f"fit: cannot resume from {path}"
    try:
        meta, arrays = _read(path)
    except ValueError as e:
        raise ValueError(f"{who}: {e}") from None
    problems: list[str] = []
    stateful = _stateful(callbacks)
    try:
        if meta["format"] == _V1:
            opt_entry, cb_entries = _v1_to_v2(meta, arrays, callbacks)
        else:
            opt_entry, cb_entries = meta.get("optimizer", None), meta.get("callbacks", [])
            if opt_entry is not None:
                if not isinstance(opt_entry, dict) or "state" not in opt_entry:
                    raise ValueError(f"optimizer entry is {str(opt_entry)[:60]}")
                opt_entry = {"class": opt_entry.get("class"),
                             "state": _decode(opt_entry["state"], arrays, "optimizer")}
            if not isinstance(cb_entries, list) or not all(isinstance(c, dict) and "state" in c for c in cb_entries):
                raise ValueError(f"callbacks entry is {str(cb_entries)[:60]}")
            cb_entries = [{"class": c.get("class"), "state": _decode(c["state"], arrays, f"callbacks[{i}]"),
                           "via": c.get("via")} for i, c in enumerate(cb_entries)]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{who}: malformed checkpoint: {e}") from None

    _check_history(meta, problems)
    _check_rng(meta.get("rng"), problems)
    model_state = _check_model(model, arrays, problems)

    # the optimizer: same class, same structure as its current state dict
    if opt_entry is None and hasattr(optimizer, "state_dict") and hasattr(optimizer, "load_state_dict"):
        # (saved from an optimizer without state dicts): resuming would silently restart this one's moments
        problems.append(f"optimizer: the checkpoint holds no optimizer state, this run's {type(optimizer).__name__} "
                        f"has some")
    if opt_entry is not None:
        if not (hasattr(optimizer, "state_dict") and hasattr(optimizer, "load_state_dict")):
            problems.append(f"optimizer: the checkpoint holds {opt_entry['class'] or 'optimizer'} state but "
                            f"{type(optimizer).__name__} has no load_state_dict()")
        elif opt_entry["class"] not in (None, type(optimizer).__name__):
            problems.append(f"optimizer: the checkpoint holds {opt_entry['class']} state, this run's optimizer is "
                            f"{type(optimizer).__name__}")
        elif opt_entry["class"] is not None:         # format 1 (SGD's lr/velocity): load_state_dict validates it
            _compatible(opt_entry["state"], optimizer.state_dict(), "optimizer", problems)
            _check_arrays(opt_entry["state"], "optimizer", problems)
            _check_param_slots(opt_entry["state"], _optimizer_params(optimizer), "optimizer", problems)
    # the callbacks with state: same classes in the same order
    saved_names = [c["class"] for c in cb_entries]
    names = [type(cb).__name__ for cb in stateful]
    if saved_names != names:
        problems.append(f"callbacks: the checkpoint holds the state of {saved_names}, this run has {names}")
    else:
        for cb, entry in zip(stateful, cb_entries):
            by_epoch = entry.get("via") == "epoch" or not (hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict"))
            if not by_epoch:
                _compatible(entry["state"], cb.state_dict(), type(cb).__name__, problems)
                _check_arrays(entry["state"], type(cb).__name__, problems)
            elif not isinstance(entry["state"], dict) or not isinstance(entry["state"].get("epoch"), int):
                problems.append(f"{type(cb).__name__}: expected {{'epoch': int}}, got {str(entry['state'])[:60]}")
    if problems:
        raise ValueError(f"{who}: " + "; ".join(problems))

    # apply: the objects with their own load_state_dict first (rolled back if one refuses), then the rest
    undo = []
    try:
        if opt_entry is not None:
            undo.append((optimizer, functools.partial(optimizer.load_state_dict, optimizer.state_dict())))
            optimizer.load_state_dict(opt_entry["state"])
        for cb, entry in zip(stateful, cb_entries):
            if entry.get("via") == "epoch" or not hasattr(cb, "load_state_dict"):
                undo.append((cb, functools.partial(setattr, cb, "epoch", cb.epoch)))
                cb.epoch = entry["state"]["epoch"]
            else:
                undo.append((cb, functools.partial(cb.load_state_dict, cb.state_dict())))
                cb.load_state_dict(entry["state"])
    except Exception as e:
        failed = []
        for obj, restore in reversed(undo):
            try:
                restore()
            except Exception:
                failed.append(type(obj).__name__)
        if failed:
            raise ValueError(f"{who}: {type(undo[-1][0]).__name__}.load_state_dict refused its state "
                             f"({type(e).__name__}: {e}), and restoring {failed} failed too") from e
        raise ValueError(f"{who}: {type(undo[-1][0]).__name__}.load_state_dict refused its state "
                         f"({type(e).__name__}: {e}); nothing was changed") from e
    model.load_state_dict(model_state)
    get_rng().bit_generator.state = meta["rng"]
    for e, i in enumerate(meta["epochs_run"]):
        history._record(i, {k: v[e] for k, v in meta["history"].items()})
    return int(meta["epoch"])


def checkpoint_epoch(path) -> int | None:
    """The last completed epoch stored in a checkpoint, or None when ``path`` is not a readable one."""
    try:
        meta, _ = _read(os.fspath(path))
    except ValueError:
        return None
    e = meta.get("epoch")
    return e if isinstance(e, int) else None
