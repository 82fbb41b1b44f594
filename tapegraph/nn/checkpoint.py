"""Training checkpoints: model weights and buffers, optimizer state, schedule positions, history and the global
random generator's state in one .npz (no pickle), written atomically, so ``fit(checkpoint=..., resume=True)``
continues exactly where the last complete epoch ended.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..random import get_rng
from .serialization import atomic_savez

FORMAT = "tapegraph-checkpoint-1"


def save_checkpoint(path, model, optimizer, epoch: int, history, callbacks=()):
    meta = {"format": FORMAT, "epoch": int(epoch), "history": history.history, "epochs_run": history.epoch,
            "rng": get_rng().bit_generator.state,
            "schedules": [getattr(cb, "epoch", None) for cb in callbacks]}
    arrays = {"meta": np.array(json.dumps(meta))}
    for k, p in model.named_parameters():
        arrays[f"model/{k}"] = p.data
    for k, b in model.named_buffers():
        arrays[f"model/{k}"] = b
    if hasattr(optimizer, "state_dict"):
        from ..optim import state_to_arrays
        arrays.update(state_to_arrays(optimizer.state_dict(), "optim/"))
    meta["schedule_states"] = [cb.state_dict() if _is_schedule(cb) else None for cb in callbacks]
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_savez(path, arrays)


def load_checkpoint(path, model, optimizer, history, callbacks=()) -> int:
    """Restore everything ``save_checkpoint`` wrote; returns the last completed epoch."""
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
        with data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
            arrays = {k: data[k] for k in data.files}
    except Exception as e:
        raise ValueError(f"fit: cannot resume from {path}: not a complete tapegraph checkpoint "
                         f"({type(e).__name__}: {e})") from e
    model.load_state_dict({k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")})
    if hasattr(optimizer, "load_state_dict") and "optim/json" in arrays:
        from ..optim import state_from_arrays
        optimizer.load_state_dict(state_from_arrays(arrays, "optim/"))
    elif hasattr(optimizer, "load_state_dict") and "optim/lr" in arrays:     # written before parameter groups
        slots = meta.get("optim_slots", 0)
        optimizer.load_state_dict({"lr": float(arrays["optim/lr"]),
                                   "velocity": [arrays.get(f"optim/velocity/{i}") for i in range(slots)]})
    states = meta.get("schedule_states") or [None] * len(meta["schedules"])
    for cb, pos, st in zip(callbacks, meta["schedules"], states):
        if st is not None and _is_schedule(cb):
            cb.load_state_dict(st)
        elif pos is not None and hasattr(cb, "epoch"):
            cb.epoch = pos
    get_rng().bit_generator.state = meta["rng"]
    for e, i in enumerate(meta["epochs_run"]):
        history._record(i, {k: v[e] for k, v in meta["history"].items()})
    return int(meta["epoch"])


def _is_schedule(cb):
    from ..optim import LRScheduler
    return isinstance(cb, LRScheduler)
