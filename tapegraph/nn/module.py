"""Module, Parameter and ModuleList: the tree that holds parameters, names them, switches modes and saves them.

Assigning a Parameter, a Module or a list of Modules to an attribute registers it; ``register_buffer`` registers a
non-trained array (running statistics). Names are dotted paths from the root module (``layers.0.weight``).

Calling a module pushes its name onto the tape's scope (``tapegraph.tape.scope``), so every op recorded inside has
``node.scope``: one part per nested module call, each part the callee's dotted path relative to its caller (a
``Sequential`` calling ``layers.0`` gives ``("layers.0",)``; ``node.layer`` joins the parts). The outermost call
(the root) also names every Parameter by its dotted path; the names are cached and recomputed only after the module
tree has changed.
"""
from __future__ import annotations

import contextlib
import warnings
from itertools import count

import numpy as np

from ..tape import _scope, no_grad, scope
from ..tensor import DEFAULT_FLOAT, Tensor

# Bumped on every structural change of any module tree; a root renames its tree when this moved.
_version = count(1)
_current = [0]


def _bump():
    _current[0] = next(_version)


def _dotted(prefix: str, name: str) -> str:
    """``layers.0`` + ``weight`` -> ``layers.0.weight``; the root's prefix is ''."""
    return f"{prefix}.{name}" if prefix else name


class Parameter(Tensor):
    """A trainable Tensor (``requires_grad=True``; float32 unless ``dtype`` says otherwise)."""

    __slots__ = ()

    def __init__(self, data, dtype=None, name: str | None = None):
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)   # refuses non-float data

    def __repr__(self):
        return f"Parameter({self.name!r}, {self.data.dtype}{list(self.data.shape)})"


class Module:
    """Base class of layers and models: override ``forward``; call the module, not ``forward``."""

    built = True  # layers that create their parameters from the first input set this to False

    def __init__(self):
        d = self.__dict__
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_modules"] = {}
        d["training"] = True
        d["_path"] = None           # dotted path from the root as a tuple; () for a root; None before naming
        d["_names_version"] = -1
        d["_dtype"] = None          # float dtype for parameters created later (set by dtype= or astype)

    # -- registration -------------------------------------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            Module.__init__(self)
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
            value = ModuleList(value)
        params, mods, bufs = d["_parameters"], d["_modules"], d["_buffers"]
        if isinstance(value, Parameter):
            if name not in params:
                self._unregister(name)
            params[name] = value                        # a replacement keeps its place in the order
            value.name = self._child_name(name)
            _bump()
        elif isinstance(value, Module):
            if name not in mods:
                self._unregister(name)
            mods[name] = value
            if d["_path"] is not None:
                value._set_path(d["_path"] + (name,))
            _bump()
        elif name in bufs:
            if not isinstance(value, np.ndarray):
                raise TypeError(f"{self._label()}: buffer {name!r} must be an ndarray, got {type(value).__name__}")
            bufs[name] = value
        elif name in params or name in mods:
            self._unregister(name)
            _bump()
        d[name] = value

    def __delattr__(self, name):
        if name in self._parameters or name in self._modules:
            _bump()
        self._unregister(name)
        del self.__dict__[name]

    def _unregister(self, name):
        for reg in (self._parameters, self._modules, self._buffers):
            reg.pop(name, None)

    def _child_name(self, name):
        return ".".join(self._path + (name,)) if self._path else name

    def _set_path(self, path):
        self.__dict__["_path"] = path

    def register_buffer(self, name: str, array: np.ndarray):
        """Register a non-trained array (saved in the state dict, not returned by ``parameters()``)."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{self._label()}: buffer {name!r} must be an ndarray, got {type(array).__name__}")
        self._unregister(name)
        self._buffers[name] = array
        self.__dict__[name] = array

    # -- traversal ----------------------------------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module ('' or ``prefix``) and every descendant, depth first, once each."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(_dotted(name, k), c) for k, c in m._modules.items()]
            stack.extend(reversed(kids))

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    def named_parameters(self):
        """(dotted name, Parameter) pairs in registration order; a shared Parameter appears once."""
        seen = set()
        out = []
        for mname, m in self.named_modules():
            for k, p in m._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((_dotted(mname, k), p))
        return out

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        return [(_dotted(mname, k), b) for mname, m in self.named_modules() for k, b in m._buffers.items()]

    def buffers(self) -> list[np.ndarray]:
        return [b for _, b in self.named_buffers()]

    def count_params(self) -> int:
        """Number of trainable values."""
        return int(sum(p.data.size for p in self.parameters()))

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    # -- modes and dtype ----------------------------------------------------------------------------------------
    def train(self, mode: bool = True):
        """Training mode (batch statistics, dropout active) for this module and all descendants; returns self."""
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def astype(self, dtype):
        """Cast parameters and buffers in place (Parameter objects are kept) and build later ones in ``dtype``.

        Call it before creating the optimizer: momentum buffers keep the dtype they were made with.
        """
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"{self._label()}.astype: expected a floating-point dtype, got {dt}")
        _bump()                                         # cached root dtypes are stale
        for m in self.modules():
            m.__dict__["_dtype"] = dt
            for p in m._parameters.values():
                if p.data.dtype != dt:
                    p.data = p.data.astype(dt)
                    p.grad = None
            for k, b in list(m._buffers.items()):
                if b.dtype != dt:
                    m._buffers[k] = m.__dict__[k] = b.astype(dt)
        return self

    @property
    def dtype(self) -> np.dtype:
        """Float dtype of the parameters (float32 unless requested otherwise)."""
        for p in self.parameters():
            return p.data.dtype
        return self._dtype or np.dtype(DEFAULT_FLOAT)

    # -- names --------------------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """Dotted name from the root ('' for the root or a module never called inside a tree)."""
        return ".".join(self._path or ())

    def _label(self) -> str:
        """How errors name this module: ``layers.0 (Conv2D)``, or the class name alone outside a tree."""
        kind = type(self).__name__
        return f"{'.'.join(self._path)} ({kind})" if self._path else kind

    def _ensure_names(self):
        if not self._path and self._names_version != _current[0]:
            self._name_tree()

    def _name_tree(self):
        """Give every descendant its path and every Parameter its dotted name (this module is the root)."""
        named = set()
        for mname, m in self.named_modules():
            path = tuple(mname.split(".")) if mname else ()
            m.__dict__["_path"] = path
            for k, p in m._parameters.items():
                if id(p) not in named:                 # a shared Parameter keeps its first name
                    named.add(id(p))
                    p.name = _dotted(mname, k)
        self.__dict__["_input_dtype"] = self.dtype
        self.__dict__["_names_version"] = _current[0]

    # -- calling ------------------------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Module must define forward()")

    def build(self, input_shape):
        """Create the parameters for inputs of ``input_shape`` (batch axis included; it may be None) by running
        one zero sample through the model in eval mode without recording. Returns self."""
        shape = tuple(input_shape)
        if not shape:
            raise ValueError(f"{self._label()}.build: input_shape must include the batch axis, got {shape}")
        dims = shape[1:]
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < 2 ** 31 for s in dims):
            raise ValueError(f"{self._label()}.build: input_shape must be (batch, *dims) with non-negative int "
                             f"dims, got {tuple(input_shape)}")
        with self.inference():
            self(np.zeros((1,) + tuple(int(s) for s in dims), dtype=self.dtype))
        return self

    @contextlib.contextmanager
    def inference(self):
        """Eval mode and no recording inside; every module's own mode is restored after (evaluate, predict,
        build and summary all run this way)."""
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with no_grad():
                yield self
        finally:
            for m, t in modes:
                m.__dict__["training"] = t

    def __call__(self, *args, **kwargs):
        path = self._path
        if not path:                                    # a root: name the tree if it changed
            if self._names_version != _current[0]:
                self._name_tree()
            if args and isinstance(args[0], (np.ndarray, Tensor)):
                a0 = args[0]
                if a0.dtype.kind in "iu" and not self.__dict__.get("_integer_input_warned"):
                    self._check_integer_input(a0.data if isinstance(a0, Tensor) else a0, type(self).__name__)
                if isinstance(a0, np.ndarray):
                    args = (self._as_input(a0),) + args[1:]
            part = None
        else:
            cur = tuple(".".join(_scope.get()).split(".")) if _scope.get() else ()   # the caller's path, by part
            n = len(cur)
            part = ".".join(path[n:] if path[:n] == cur else path)
        if part is None:
            if not self.built:
                self.build(np.shape(args[0]))
            return self.forward(*args, **kwargs)
        with scope(part, type(self).__name__):
            if not self.built:
                self.build(np.shape(args[0]))
            return self.forward(*args, **kwargs)

    def _check_integer_input(self, arr: np.ndarray, who: str, stacklevel: int = 4):
        """Warn once per model when integer data with values above 1 (raw 0-255 pixels) reaches it."""
        if arr.dtype.kind not in "iu" or arr.size == 0 or self.__dict__.get("_integer_input_warned"):
            return
        lo, hi = arr.min(), arr.max()
        if hi <= 1:
            return
        self.__dict__["_integer_input_warned"] = True
        warnings.warn(f"{who}: integer input ({arr.dtype}, values {lo}..{hi}) reaches {type(self).__name__} "
                      f"unscaled; raw pixel values make training diverge or stall. Scale it first: x / 255 "
                      f"(or load_mnist(dtype=\"float32\"), which gives [0, 1] floats). Warned once per model.",
                      UserWarning, stacklevel=stacklevel)

    def _as_input(self, arr: np.ndarray) -> Tensor:
        """An ndarray given to a root module becomes a Tensor of the model's float dtype (ints/bools are kept)."""
        if arr.dtype.kind in "fiu":
            dt = self.__dict__.get("_input_dtype") or self.dtype     # cached by _name_tree
            if arr.dtype != dt:
                arr = arr.astype(dt)
        return Tensor._wrap(arr, False)

    # -- state --------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        out = {k: p.data.copy() for k, p in self.named_parameters()}
        out.update((k, b.copy()) for k, b in self.named_buffers())
        return out

    def _state_slots(self):
        """name -> (module, attribute, array) for every parameter and buffer."""
        slots, shared = {}, set()
        for mname, m in self.named_modules():
            for k, p in m._parameters.items():
                if id(p) in shared:                    # a shared Parameter is stored once, under its first name
                    continue
                shared.add(id(p))
                slots.setdefault(_dotted(mname, k), (m, k, p.data))
            for k, b in m._buffers.items():
                slots.setdefault(_dotted(mname, k), (m, k, b))
        return slots

    def load_state_dict(self, state, strict: bool = True):
        """Copy arrays into the existing parameters and buffers (in place, cast to their dtype).

        ``strict``: missing or unexpected keys raise ValueError naming them; a shape mismatch always raises.
        Returns ``(missing, unexpected)`` key lists.
        """
        slots = self._state_slots()
        missing = [k for k in slots if k not in state]
        unexpected = [k for k in state if k not in slots]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        for k, (_, _, arr) in slots.items():
            if k in state:
                v = np.asarray(state[k])
                if v.shape != arr.shape:
                    problems.append(f"{k}: model has shape {arr.shape}, state has {v.shape}")
                elif v.dtype.kind not in "fiub":
                    problems.append(f"{k}: expected a numeric array, got dtype {v.dtype}")
        if problems:
            hint = ""
            if any(not m.built for m in self.modules()):
                hint = " (some layers are not built yet: call build(input_shape) or run one batch first)"
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems) + hint)
        for k, (_, _, arr) in slots.items():
            if k in state:
                arr[...] = state[k]
        return missing, unexpected

    def save(self, path):
        """Write the state dict to ``path`` as an .npz archive, atomically (see ``tapegraph.nn.save_weights``)."""
        from .serialization import save_weights
        save_weights(self, path)

    def load_weights(self, path, strict: bool = True):
        """Load a file written by ``save`` (see ``tapegraph.nn.load_weights``)."""
        from .serialization import load_weights
        return load_weights(self, path, strict=strict)

    # -- training loop (tapegraph.nn.training) ------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, *, from_logits=None, learning_rate=None):
        """Set the optimizer, loss and metrics for ``fit``/``evaluate`` (Keras); see ``tapegraph.nn.training.compile``."""
        from .training import compile
        return compile(self, optimizer, loss, metrics, from_logits=from_logits, learning_rate=learning_rate)

    def fit(self, x, y=None, **kwargs):
        """Train with the explicit-tape loop; see ``tapegraph.nn.training.fit`` (this docstring is replaced by
        that one when tapegraph.nn is imported)."""
        from .training import fit
        return fit(self, x, y, **kwargs)

    def evaluate(self, x, y=None, **kwargs):
        """Loss and metrics over a dataset; see ``tapegraph.nn.training.evaluate``."""
        from .training import evaluate
        return evaluate(self, x, y, **kwargs)

    def predict(self, x, **kwargs):
        """Outputs for a dataset as one ndarray; see ``tapegraph.nn.training.predict``."""
        from .training import predict
        return predict(self, x, **kwargs)

    # -- display ------------------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for k, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {sub}")
        return "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules registered under their indices (``layers.0``, ``layers.1``, ...)."""

    def __init__(self, modules=()):
        super().__init__()
        self.__dict__["_list"] = []
        for m in modules:
            self.append(m)

    def append(self, module: Module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(module).__name__}")
        key = str(len(self._list))
        self._list.append(module)
        self._modules[key] = module
        if self._path is not None:
            module._set_path(self._path + (key,))
        _bump()
        return self

    def __getitem__(self, i):
        return self._list[i]

    def __len__(self):
        return len(self._list)

    def __iter__(self):
        return iter(self._list)

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList: not callable; iterate over it and call its modules")
