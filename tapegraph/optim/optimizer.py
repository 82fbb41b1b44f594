"""The optimizer base: PyTorch-style parameter groups, per-parameter state, argument checks and a state_dict that
holds only numpy arrays and Python scalars (``state_to_arrays`` turns it into flat arrays for an .npz file)."""
from __future__ import annotations

import json
import math
from numbers import Real

import numpy as np

from ..tensor import Tensor

NO_PARAMS = ("no parameters: if this is a model that has not been built yet, pass input_shape= or call it once on a "
             "batch")


def check_number(owner: str, name: str, value, *, low=0.0, high=None, high_open=True):
    """``value`` as a float, or TypeError (not a real number: str, bool, None ...) / ValueError (non-finite, or
    outside [low, high) / [low, high])."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{owner}: {name} must be finite, got {v}")
    if high is None:
        if v < low:
            raise ValueError(f"{owner}: {name} must be >= {low:g}, got {v}")
    elif v < low or (v >= high if high_open else v > high):
        raise ValueError(f"{owner}: {name} must be in [{low:g}, {high:g}{')' if high_open else ']'}, got {v}")
    return v


def check_bool(owner: str, name: str, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


class Optimizer:
    """Parameters in ``param_groups`` (a list of dicts: ``"params"`` plus every hyperparameter, missing ones filled
    from ``defaults``), per-parameter ``state`` made on a parameter's first step, ``step()``/``zero_grad()``.

    ``params`` is an iterable of Parameters or a list of dicts ``{"params": [...], "lr": ..., ...}`` (PyTorch's
    parameter groups); a parameter may appear only once. ``lr`` reads the first group's lr and sets every group's
    (schedules set each group's own). Subclasses define ``_check_group`` (validates and normalises a group's
    hyperparameters), ``_state_keys`` (the names of their per-parameter state) and ``step``.
    """

    _state_keys: tuple[str, ...] = ()

    def __init__(self, params, defaults: dict):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Parameters, got a single tensor; "
                            f"use model.parameters()")
        if isinstance(params, dict):
            params = [params]
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{name}: params must be an iterable of Parameters or of parameter-group dicts, got "
                            f"{type(params).__name__}") from None
        if not params:
            raise ValueError(f"{name}: {NO_PARAMS}")
        self.defaults = self._check_group(dict(defaults), name)
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}          # id(parameter) -> {"step": ..., buffer name: ndarray}
        self._scratch: dict[int, list] = {}       # id(parameter) -> temporaries reused every step
        groups = params if all(isinstance(g, dict) for g in params) else [{"params": params}]
        if any(isinstance(g, dict) for g in params) and not all(isinstance(g, dict) for g in params):
            raise TypeError(f"{name}: params mixes parameter-group dicts and tensors; give one or the other")
        for g in groups:
            self.add_param_group(g)
        if not self.params:
            raise ValueError(f"{name}: {NO_PARAMS}")

    # -- groups ------------------------------------------------------------------------------------------------
    def _check_group(self, group: dict, where: str) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def add_param_group(self, group: dict):
        """Append a group ``{"params": [...], hyperparameter: value ...}``; unset hyperparameters take the
        defaults given to the constructor."""
        name = type(self).__name__
        where = f"{name}: param_groups[{len(self.param_groups)}]"
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{where} must be a dict with a 'params' entry, got {type(group).__name__}")
        ps = group["params"]
        if isinstance(ps, Tensor):
            ps = [ps]
        elif isinstance(ps, (set, frozenset)):
            raise TypeError(f"{where}['params'] is a set, whose order changes between runs; use a list")
        ps = list(ps)
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{name}: params[{i}] is not a tensor that requires grad ({type(p).__name__})")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in ps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: a parameter appears more than once in {where[len(name) + 2:]}")
        if seen.intersection(ids):
            raise ValueError(f"{name}: a parameter of {where[len(name) + 2:]} is already in another parameter group")
        hyper = {k: v for k, v in group.items() if k != "params"}
        full = {**self.defaults, **hyper}
        full = self._check_group(full, where) if hyper else full
        self.param_groups.append({"params": ps, **full})

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.param_groups[0].items() if k != "params")
        n = len(self.param_groups)
        return (f"{type(self).__name__}({len(self.params)} parameters in {n} group{'s' * (n != 1)}; "
                f"{'first group: ' * (n != 1)}{hyper})")

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group (the order of ``state_dict``'s indices)."""
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        value = check_number(type(self).__name__, "lr", value)
        for g in self.param_groups:
            g["lr"] = value

    def zero_grad(self):
        """Drop the gradients (``grad = None``); the next backward starts from zero."""
        for p in self.params:
            p.grad = None

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers for step() ------------------------------------------------------------------------------------
    def _grads(self, group):
        """(index in group, parameter, data, grad) for the group's parameters that have a gradient."""
        for i, p in enumerate(group["params"]):
            g = p.grad
            if g is None:
                continue
            w = p.data
            if not isinstance(g, np.ndarray):
                raise TypeError(f"{type(self).__name__}: the gradient of parameter {p.name or i} is a "
                                f"{type(g).__name__}, expected an ndarray")
            if g.shape != w.shape:
                raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for parameter "
                                 f"{p.name or i} of shape {w.shape}")
            st = self.state.get(id(p))
            if st:
                for k, v in st.items():
                    if isinstance(v, np.ndarray) and v.shape != w.shape:
                        # p.data was replaced by an array of another shape after the optimizer took its state
                        raise ValueError(f"{type(self).__name__}: parameter {p.name or i} now has shape {w.shape} "
                                         f"but its optimizer state {k!r} has shape {v.shape}; make a new optimizer "
                                         f"after changing a parameter's shape")
            yield p, w, g

    @staticmethod
    def _decayed(w, grad, weight_decay, out):
        """``grad + weight_decay * w`` (L2 weight decay) written into ``out``; ``grad`` itself when the decay is 0."""
        if not weight_decay:
            return grad
        np.multiply(w, weight_decay, out=out)
        out += grad
        return out

    def _temps(self, p, w, n):
        """``n`` scratch arrays shaped and typed like ``w``, allocated once per parameter."""
        s = self._scratch.get(id(p))
        if s is None or len(s) < n or s[0].dtype != w.dtype or s[0].shape != w.shape:
            s = self._scratch[id(p)] = [np.empty_like(w) for _ in range(n)]
        return s

    # -- state_dict --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {"step": int, buffer: ndarray}}, "param_groups": [{hyperparameters..., "params":
        [indices]}]}`` as in PyTorch: parameters numbered 0.. across groups in order; arrays are copies."""
        index, state, groups = 0, {}, []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                st = self.state.get(id(p))
                if st:
                    state[index] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
                ids.append(index)
                index += 1
            groups.append({**{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k != "params"},
                           "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        """Restore what ``state_dict`` returned (also after ``state_from_arrays``). Everything is checked first:
        the number of groups, of parameters per group, buffer names and shapes, hyperparameters; on a mismatch
        ValueError says what differs and nothing is changed. Buffers take each parameter's dtype."""
        name = type(self).__name__
        who = f"{name}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{who}: expected a dict from state_dict(), got {type(state_dict).__name__}")
        state_dict = self._upgrade_legacy(state_dict)
        if "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError(f"{who}: expected keys 'state' and 'param_groups', got {sorted(state_dict)}")
        saved = list(state_dict["param_groups"])
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{who}: the saved state has {len(saved)} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        params, new_groups = self.params, []
        for gi, (sg, g) in enumerate(zip(saved, self.param_groups)):
            n_saved = len(sg.get("params", []))
            if n_saved != len(g["params"]):
                raise ValueError(f"{who}: saved parameter group {gi} has {n_saved} parameters, this optimizer's has "
                                 f"{len(g['params'])}")
            hyper = {k: v for k, v in sg.items() if k != "params"}
            missing = sorted(set(self.defaults) - set(hyper))
            if missing:
                raise ValueError(f"{who}: saved parameter group {gi} lacks {missing} (state of another optimizer "
                                 f"type?)")
            new_groups.append(self._check_group(hyper, f"{who}: saved param_groups[{gi}]"))
        new_state = {}
        for key, st in dict(state_dict["state"]).items():
            try:
                i = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"{who}: state key {key!r} is not a parameter index") from None
            if not 0 <= i < len(params):
                raise ValueError(f"{who}: state for parameter {i}, but this optimizer has {len(params)} parameters")
            p = params[i]
            unknown = sorted(set(st) - set(self._state_keys))
            if unknown:
                raise ValueError(f"{who}: state of parameter {i} has {unknown}; {name} keeps {list(self._state_keys)}")
            out = {}
            for k, v in st.items():
                if k == "step":
                    v = np.asarray(v)
                    if v.ndim != 0 or v.dtype.kind not in "iuf" or v < 0 or v != int(v):
                        raise ValueError(f"{who}: 'step' of parameter {i} must be a non-negative integer, got {v}")
                    out[k] = int(v)
                    continue
                v = np.asarray(v)
                if v.shape != p.data.shape:
                    raise ValueError(f"{who}: {k!r} of parameter {i} has shape {v.shape}, parameter {p.name or i} "
                                     f"has shape {p.data.shape}")
                if v.dtype.kind not in "iuf":
                    raise TypeError(f"{who}: {k!r} of parameter {i} has dtype {v.dtype}; expected numbers")
                if not np.isfinite(v).all():
                    # a NaN/inf moment turns every later step into NaN: a corrupt state, refused before any change
                    raise ValueError(f"{who}: {k!r} of parameter {i} holds non-finite values (NaN/inf)")
                out[k] = np.array(v, dtype=p.data.dtype, copy=True)
            new_state[id(p)] = out
        for g, hyper in zip(self.param_groups, new_groups):
            g.update(hyper)
        self.state = new_state

    def _upgrade_legacy(self, state_dict):
        return state_dict


def _encode(obj, arrays, path):
    if isinstance(obj, np.ndarray):
        key = "/".join(path)
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        if any(k == "__array__" for k in obj):
            raise ValueError("state_to_arrays: the key '__array__' is reserved")
        return {str(k): _encode(v, arrays, path + (str(k),)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, path + (str(i),)) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"state_to_arrays: cannot store {type(obj).__name__} at {'/'.join(path)!r}")


def state_to_arrays(state_dict: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """A state_dict (an optimizer's or a schedule's) as flat ``{name: ndarray}`` for ``np.savez`` (no pickle):
    arrays under ``prefix + "state/3/exp_avg"``-style names, everything else as JSON in ``prefix + "json"``.
    Dict keys become strings; ``load_state_dict`` accepts them."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state_dict, arrays, ())
    out = {prefix + k: v for k, v in arrays.items()}
    out[prefix + "json"] = np.array(json.dumps(tree, allow_nan=True))
    return out


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def state_from_arrays(arrays: dict, prefix: str = "") -> dict:
    """The inverse of ``state_to_arrays`` (the arrays may come from ``np.load``)."""
    if prefix + "json" not in arrays:
        raise ValueError(f"state_from_arrays: no {prefix + 'json'!r} entry; not written by state_to_arrays")
    tree = json.loads(str(arrays[prefix + "json"]))
    return _decode(tree, {k[len(prefix):]: np.asarray(v) for k, v in arrays.items() if k.startswith(prefix)})
