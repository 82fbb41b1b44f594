"""The explicit tape: one Node per op call, the reverse walk, no_grad and module scopes.

Everything that reads a step (backward, the renderer, the profiler, the JSON export) reads ``Tape.nodes``.
"""
from __future__ import annotations

import contextlib
import threading
import time
import weakref
from contextvars import ContextVar

import numpy as np

# Stack of tapes that are recording (innermost last). A tuple, so a ContextVar snapshot is immutable.
_active: ContextVar[tuple] = ContextVar("tapegraph_active_tapes", default=())
_grad_enabled: ContextVar[bool] = ContextVar("tapegraph_grad_enabled", default=True)
# Dotted path of the modules running now, pushed by Module.__call__ (a tuple of name parts).
_scope: ContextVar[tuple] = ContextVar("tapegraph_scope", default=())
# The clock Tape(profile=True) reads (seconds); tests swap in a fake one.
profile_clock = time.perf_counter


class Node:
    """One recorded op call; also the ``ctx`` its forward/backward rules receive.

    ``op`` is the Function class, ``attrs`` its keyword attributes, ``inputs``/``output`` the tensors by identity,
    ``saved`` what forward kept for backward, ``scope`` the module path that ran it. Ops may set other attributes
    on the ctx (argmax indices, the conv algorithm chosen): those live in ``__dict__`` and are released with
    ``saved``.
    """

    __slots__ = ("op", "attrs", "inputs", "output", "saved", "needs_input_grad", "scope", "stats", "_holders",
                 "_locked", "__dict__")

    def __init__(self, op, attrs, inputs, needs_input_grad):
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.output = None
        self.saved = ()
        self.needs_input_grad = needs_input_grad
        self.scope = ()
        self.stats = None
        self._holders = 0
        self._locked = None

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def layer(self) -> str:
        """Dotted name of the module that ran this op ('' outside any module)."""
        return ".".join(self.scope)

    def saved_nbytes(self) -> int:
        total = 0
        for v in (*self.saved, *self.__dict__.values()):
            if isinstance(v, np.ndarray):
                total += v.nbytes
        return total

    def _release(self):
        self.saved = None
        self.__dict__.clear()

    def __repr__(self):
        ins = dtype_shapes(self.inputs)
        extra = "".join(f", {k}={v!r}" for k, v in self.attrs.items() if not isinstance(v, np.ndarray))
        where = f" in {self.layer}" if self.scope else ""
        return f"{self.op.name}({ins}{extra}) -> {dtype_shape(self.output)}{where}"


# -- saved arrays are read-only while a tape holds them ----------------------------------------------------------------
# Writing into an array a recorded op saved (a parameter's .data, an op's output, the caller's ndarray) between
# forward and backward would silently change the gradient. So when a node is recorded, every array it saved for
# backward -- and the array owning that memory, walking `.base` -- is made read-only; a write then fails at once with
# numpy's "assignment destination is read-only". The flag is restored when the last tape holding the memory lets go:
# at Tape.release() (a plain tape's backward ends with it) or when the tape is garbage collected. One entry per owner:
# id(owner) -> [owner, holders, views we flipped]; the owner is restored first, then the views.
_locks: dict = {}
# Reentrant: a tape in a reference cycle can be collected (Tape.__del__ takes the mutex) at any allocation, including
# one made while this thread holds it in lock_saved.
_locks_mutex = threading.RLock()


def lock_saved(node):
    """Make the arrays ``node`` saved (and the memory they view) read-only; remembered on the node."""
    extra = node.__dict__
    locked = []
    with _locks_mutex:
        for v in (node.saved + tuple(extra.values())) if extra else node.saved:
            if type(v) is not np.ndarray:
                continue
            base = v.base
            if base is not None:
                if type(base) is not bytes:             # (memory of a bytes object is immutable: a constant)
                    _lock_view(v, locked)
                continue
            entry = _locks.get(id(v))                   # the common case: the array owns its memory
            if entry is not None:
                entry[1] += 1
                locked.append(entry)
            elif v.flags.writeable:                     # (else read-only by nature: a private constant)
                v.setflags(write=False)
                entry = _locks[id(v)] = [v, 1, _NO_VIEWS]
                locked.append(entry)
    if locked:
        node._locked = locked


_NO_VIEWS = ()


def _lock_view(v, locked):
    """lock_saved for a view: lock the array owning the memory, and the views in between (``_locks_mutex`` held)."""
    root, chain = v, []
    while isinstance(root.base, np.ndarray):
        chain.append(root)
        root = root.base
    if root.base is not None:
        return                                          # foreign memory (as_strided, frombuffer): numpy cannot
        #                                                 make it writable again, so it is left unguarded
    entry = _locks.get(id(root))
    if entry is None:
        if not root.flags.writeable:
            return                                      # a broadcast view's owner, a read-only buffer
        root.setflags(write=False)
        entry = _locks[id(root)] = [root, 1, []]
    else:
        entry[1] += 1
    for view in chain:
        if view.flags.writeable:
            view.setflags(write=False)
            if entry[2] is _NO_VIEWS:
                entry[2] = []
            entry[2].append(view)
    locked.append(entry)


def _unlock(node):
    """Give back ``node``'s hold on its saved arrays, the last holder making them writable again; called with
    ``_locks_mutex`` held (Tape._let_go takes it once for all its nodes)."""
    locked, node._locked = node._locked, None
    for entry in locked:
        entry[1] -= 1
        if entry[1] == 0 and _locks.get(id(entry[0])) is entry:
            del _locks[id(entry[0])]
            entry[0].setflags(write=True)
            for view in entry[2]:
                view.setflags(write=True)


def _writable_again(d):
    """An op's output ``d``, a read-only view: if it was made while its memory was locked (a reshape of a saved
    activation), it was born read-only and stays so when the memory is unlocked; make it writable once nothing holds
    the memory. Broadcast views (a zero stride: cells alias) and views of memory that is read-only for other reasons
    stay read-only."""
    if any(st == 0 and n > 1 for st, n in zip(d.strides, d.shape)):
        return
    root = _root(d)
    if root.base is None and root.flags.writeable:
        try:
            d.setflags(write=True)
        except ValueError:                              # numpy refuses (e.g. a view it made read-only itself)
            pass


def _root(a):
    """The last ndarray down ``a``'s ``.base`` chain: the array owning the memory (its own ``.base``, if any, is
    foreign memory such as bytes)."""
    while isinstance(getattr(a, "base", None), np.ndarray):
        a = a.base
    return a


def holders(array) -> int:
    """How many recorded nodes hold ``array``'s memory read-only (0: tapegraph holds none of it)."""
    root = _root(array)
    entry = _locks.get(id(root))
    return entry[1] if entry is not None and entry[0] is root else 0


def _check_unmodified(node, index):
    """Backward guard: the arrays locked for ``node`` must still be read-only (nobody set writeable=True)."""
    for entry in node._locked:
        if entry[0].flags.writeable or (entry[2] and any(v.flags.writeable for v in entry[2])):
            root = entry[0]
            who = "an array it saved"
            for k, t in enumerate((*node.inputs, node.output)):
                d = getattr(t, "data", None)
                while isinstance(d, np.ndarray) and d is not root:
                    d = d.base
                if d is root:
                    label = f" {t.name!r}" if getattr(t, "name", None) else ""
                    role = f"input {k}" if k < len(node.inputs) else "output"
                    who = f"tensor{label} {dtype_shape(t)} ({role})"
                    break
            where = f", layer {node.layer!r}" if node.scope else ""
            raise RuntimeError(
                f"backward: {who} saved by op {node.op.name} (tape index {index}{where}) was made writable after "
                f"the forward pass, so it may have been modified and the gradient would be wrong; tapegraph keeps "
                f"saved arrays read-only until backward -- record the step again after changing the data")


def _owner(a):
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    return a if getattr(a, "base", None) is None else a.base


def dtype_shape(t) -> str:
    """``float32[64, 10]``: how every error message and the tape's repr name a tensor or array."""
    return f"{t.dtype}{list(t.shape)}"


def dtype_shapes(arrays) -> str:
    return ", ".join(dtype_shape(a) for a in arrays)


class Tape:
    """Records every op run inside ``with Tape() as tape:`` and differentiates through them.

    ``persistent=False`` (default): one backward/gradient call, after which saved arrays are released.
    Tapes nest; an op is recorded on every active tape. ``profile=True`` times each op forward and backward.
    """

    def __init__(self, persistent: bool = False, profile: bool = False, check_nan: bool = False):
        self.persistent = persistent
        self.profile = profile
        self._check_nan_arg = check_nan
        self.check_nan = check_nan
        self.nodes: list[Node] = []
        self._token = None
        self._used = False
        self._released = False

    # -- recording ---------------------------------------------------------------------------------------------
    def __enter__(self):
        if self._token is not None:
            raise RuntimeError("Tape: this tape is already recording; a tape cannot be entered twice")
        from .anomaly import anomaly_enabled
        self.check_nan = self._check_nan_arg or anomaly_enabled()
        self._token = _active.set(_active.get() + (self,))
        return self

    def __exit__(self, *exc):
        _active.reset(self._token)
        self._token = None
        return False

    @contextlib.contextmanager
    def stop_recording(self):
        """Ops run inside this block are not recorded on any tape."""
        with no_grad():
            yield

    # -- list-like access --------------------------------------------------------------------------------------
    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def __getitem__(self, i):
        return self.nodes[i]

    def __repr__(self):
        head = f"Tape({len(self.nodes)} ops{', persistent' if self.persistent else ''})"
        lines = [f"  {i:4d}  {n!r}" for i, n in enumerate(self.nodes[:200])]
        if len(self.nodes) > 200:
            lines.append(f"  ... {len(self.nodes) - 200} more")
        return "\n".join([head, *lines])

    # -- views of the tape (implemented in viz.py and profile.py; they read only the records) ----------------------
    def to_dot(self, **options):
        """The tape as a ``graphviz.Digraph`` (see ``tapegraph.viz.to_dot`` for the options)."""
        from .viz import to_dot
        return to_dot(self, **options)

    def render(self, path=None, **options):
        """Write the graph to ``path`` (.svg/.png/.pdf by suffix), or return it when ``path`` is None; see
        ``tapegraph.viz.render``."""
        from .viz import render
        return render(self, path, **options)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """Jupyter shows the graph by layer (SVG; text without Graphviz); see ``tapegraph.viz.tape_mimebundle``."""
        from .viz import tape_mimebundle
        return tape_mimebundle(self, include, exclude)

    def summary(self, file=None, top=None):
        """Print the profile table of a ``Tape(profile=True)`` (see ``tapegraph.profile.summary``)."""
        from .profile import summary
        return summary(self, file=file, top=top)

    def to_json(self) -> dict:
        """The tape as plain data (no arrays); schema in ``tapegraph.profile.to_json``."""
        from .profile import to_json
        return to_json(self)

    def save_json(self, path):
        from .profile import save_json
        return save_json(self, path)

    def to_onnx(self, path, inputs=None, outputs=None, **options):
        """Write this tape (recorded in inference) as ONNX; see ``tapegraph.onnx.to_onnx``. ``inputs``: the graph's
        input tensors (default: the non-trainable leaves read first by an op); ``outputs``: default, the values no
        op reads. ``options``: opset, dynamic_batch, input_names, output_names. Returns ``path``."""
        from .onnx import to_onnx
        return to_onnx(self, path, inputs=inputs, outputs=outputs, **options)

    # -- differentiation ---------------------------------------------------------------------------------------
    def backward(self, target, grad=None):
        """Accumulate d(target)/d(leaf) into ``.grad`` of every leaf tensor that requires a gradient."""
        from .tensor import Tensor
        grads, tensors = self._walk(target, grad, keep=None)
        # .grad must be writable and share memory with nothing else: a rule may return a broadcast view, one array
        # for two inputs, or (a view of) the caller's `grad`. Memory is named by its owner (the view's base);
        # a view of a fresh temporary (a reshape, say) needs no copy.
        held = set() if grad is None else {id(_owner(grad.data if isinstance(grad, Tensor) else grad))}
        for k, g in grads.items():
            t = tensors[k]
            if t.is_leaf:
                if t.grad is None:
                    if not g.flags.writeable or id(_owner(g)) in held:
                        g = g.copy()
                    held.add(id(_owner(g)))
                    t.grad = g
                else:
                    t.grad = t.grad + g
        self._finish()

    def gradient(self, target, sources, output_gradients=None, unconnected: str = "none"):
        """Return d(target)/d(source) for each source, without touching ``.grad``.

        ``sources`` is a tensor or a list of tensors (leaves or intermediates recorded on this tape). A source the
        target does not depend on gets ``None`` (``unconnected="none"``, as TensorFlow) or zeros
        (``unconnected="zero"``).
        """
        from .tensor import Tensor

        if unconnected not in ("none", "zero"):
            raise ValueError(f"Tape.gradient: unconnected must be 'none' or 'zero', got {unconnected!r}")
        single = isinstance(sources, Tensor)
        srcs = [sources] if single else list(sources)
        for s in srcs:
            if not isinstance(s, Tensor):
                raise TypeError(f"Tape.gradient: sources must be Tensors, got {type(s).__name__}")
        keep = {id(s) for s in srcs}
        found, _ = self._walk(target, output_gradients, keep=keep)
        out = []
        for s in srcs:
            g = found.get(id(s))
            if g is None and unconnected == "zero":
                g = np.zeros_like(s.data)
            out.append(g)
        self._finish()
        return out[0] if single else out

    def _finish(self):
        self._used = True
        if not self.persistent:
            self.release()

    def __del__(self):
        # A tape dropped without backward/release gives back its hold on the saved arrays (they become writable).
        if not self._released and self.nodes:
            try:
                self._let_go()
            except Exception:  # interpreter shutdown
                pass

    def _let_go(self) -> list:
        """Drop this tape's hold on its nodes; the nodes no other tape holds get their saved arrays unlocked and
        are returned."""
        free = []
        with _locks_mutex:
            for n in self.nodes:
                n._holders -= 1
                if n._holders <= 0:
                    if n._locked:
                        _unlock(n)
                    free.append(n)
        for n in free:
            d = getattr(n.output, "data", None)
            if type(d) is np.ndarray and d.base is not None and not d.flags.writeable:
                _writable_again(d)
        return free

    def release(self):
        """Drop saved arrays now (a non-persistent tape does this after its backward)."""
        if self._released:
            return
        self._released = True
        # Keep the graph's structure (shapes, dtypes, names) but not the activations' arrays: each intermediate
        # tensor becomes one shared TensorMeta. The tape is topological, so an intermediate input was already met
        # as an earlier node's output. `keep` holds the replaced tensors until the loop ends (ids stay unique).
        metas: dict = {}
        keep = []
        for n in self._let_go():
            n.saved = None
            if n.__dict__:
                n.__dict__.clear()
            out = n.output
            if not isinstance(out, TensorMeta):
                keep.append(out)
                n.output = metas[id(out)] = TensorMeta(out)
            n.inputs = tuple([metas.get(id(t)) or _released_leaf(t, metas, keep) for t in n.inputs])

    def _walk(self, target, grad, keep):
        from .ops.elementwise import _binary
        from .tensor import Tensor

        if not isinstance(target, Tensor):
            raise TypeError(f"backward: target must be a Tensor, got {type(target).__name__}")
        if self._used and not self.persistent:
            raise RuntimeError("backward: this tape was already used for a backward pass and its saved arrays "
                               "are released; record with Tape(persistent=True) to differentiate more than once")
        if self._token is not None:
            raise RuntimeError("backward: call it after the `with Tape()` block has closed")
        if self._released:
            raise RuntimeError("backward: this tape's saved arrays were released (Tape.release()); record the "
                               "step again to differentiate it")
        if grad is None:
            if target.data.size != 1:
                raise RuntimeError(f"backward: target has shape {target.shape}; only a single-element target gets "
                                   f"an implicit gradient of 1, pass grad= of shape {target.shape}")
            grad = np.ones_like(target.data)
        else:
            raw = grad.data if isinstance(grad, Tensor) else grad
            try:
                arr = np.asarray(raw)
                if arr.dtype.kind not in "fiub":
                    raise TypeError
                grad = arr.astype(target.dtype, copy=False)
            except (TypeError, ValueError):
                got = f"{arr.dtype} array" if "arr" in locals() and isinstance(arr, np.ndarray) else type(raw).__name__
                raise TypeError(f"backward: grad must be numbers of the target's shape {target.shape} (a Tensor or "
                                f"array), got {got}") from None
            if grad.shape != target.shape:
                raise ValueError(f"backward: grad has shape {grad.shape}, target has shape {target.shape}")
        nodes = self.nodes
        start = len(nodes)
        while start > 0 and nodes[start - 1].output is not target:
            start -= 1
        if start == 0 and not (keep and id(target) in keep) and not (target.is_leaf and target.requires_grad):
            # (a leaf that requires grad is its own gradient's target, as in torch: Dropout(0.0) returns its input)
            raise RuntimeError(f"backward: target {dtype_shape(target)} was not recorded on this tape (was it "
                               f"computed outside the `with Tape()` block, or under no_grad?)")

        check = self.check_nan
        profile = self.profile
        grads = {id(target): grad}
        tensors = {id(target): target}
        found = {}
        for i in range(start - 1, -1, -1):
            node = nodes[i]
            oid = id(node.output)
            g = grads.pop(oid, None)
            if g is None:
                continue
            if keep is not None and oid in keep:
                found[oid] = g
            if node.saved is None:
                raise RuntimeError(f"backward: op {node.op.name} (tape index {i}) has released its saved arrays")
            if node._locked:
                for entry in node._locked:              # the arrays it saved must still be read-only
                    if entry[0].flags.writeable or entry[2]:
                        _check_unmodified(node, i)
                        break
            if profile:
                t0 = profile_clock()
            try:
                in_grads = node.op.backward(node, g)
            except MemoryError as e:
                shape, dtype = getattr(e, "shape", None), getattr(e, "dtype", None)
                what = f" an array of shape {tuple(shape)} {dtype}" if shape is not None else ""
                raise MemoryError(f"backward of {node.op.name} (tape index {i}): cannot allocate{what} ({e})") \
                    from None
            if profile:
                node.stats["backward_s"] = profile_clock() - t0
            if check:
                from .anomaly import check_backward
                check_backward(node, i, in_grads)
            for inp, ig, need in zip(node.inputs, in_grads, node.needs_input_grad):
                if ig is None or not need:
                    continue
                if type(ig) is not np.ndarray:
                    ig = np.asarray(ig)                # numpy returns scalars for 0-d results
                d = inp.data
                if ig.shape != d.shape:
                    ig = unbroadcast(ig, d.shape, node.op.name)
                if ig.dtype is not d.dtype and ig.dtype != d.dtype:
                    ig = ig.astype(d.dtype)
                k = id(inp)
                prev = grads.get(k)
                if prev is None:
                    grads[k] = ig
                    tensors[k] = inp
                else:
                    # a reused tensor: large sums go into a pooled array, on the threads (no fresh pages per step)
                    total = _binary(np.add, prev, ig)
                    grads[k] = total if type(total) is np.ndarray else np.asarray(total)   # 0-d sums are scalars
        if keep is not None:
            for k in keep:
                if k in grads:
                    found[k] = grads[k]
            return found, tensors
        return grads, tensors


class TensorMeta:
    """What a released tape keeps of an intermediate tensor: shape, dtype, name; never the array."""

    __slots__ = ("shape", "dtype", "name", "requires_grad", "is_leaf", "ref")

    def __init__(self, t):
        self.shape, self.dtype, self.name = t.data.shape, t.data.dtype, t.name
        self.requires_grad, self.is_leaf = t.requires_grad, t.is_leaf
        self.ref = weakref.ref(t)  # the tensor itself while the user still holds it (the loss, a prediction)

    def refers_to(self, tensor) -> bool:
        return self.ref() is tensor

    @property
    def ndim(self):
        return len(self.shape)


def _released_leaf(t, metas, keep):
    """Parameters and scalar constants stay; data leaves (an input batch, labels, masks) become TensorMeta, so a
    released tape holds no arrays the model does not own."""
    if isinstance(t, TensorMeta) or t.requires_grad or t.data.ndim == 0:
        return t
    keep.append(t)
    m = metas[id(t)] = TensorMeta(t)
    return m


def unbroadcast(grad: np.ndarray, shape: tuple, op_name: str = "?") -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting. The one place where this happens."""
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise RuntimeError(f"backward of {op_name}: gradient has shape {grad.shape}, input has shape {shape}")
    axes = tuple(range(extra)) + tuple(i + extra for i, s in enumerate(shape) if s == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if extra:
        grad = grad.reshape(grad.shape[extra:])
    if grad.shape != tuple(shape):
        raise RuntimeError(f"backward of {op_name}: gradient of shape {grad.shape} cannot be summed to the input's "
                           f"shape {tuple(shape)}")
    return grad


@contextlib.contextmanager
def no_grad():
    """Ops inside run without recording on any tape."""
    token = _grad_enabled.set(False)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


def is_grad_enabled() -> bool:
    return _grad_enabled.get()


class ScopePart(str):
    """A scope entry: the module's dotted name (compares as that str) carrying ``kind``, the module's class name."""
    kind = None


@contextlib.contextmanager
def scope(name: str, kind: str | None = None):
    """Push a module name (and its class name, ``kind``) onto the recording scope (Module.__call__ uses this)."""
    if kind is not None:
        name = ScopePart(name)
        name.kind = kind
    token = _scope.set(_scope.get() + (name,))
    try:
        yield
    finally:
        _scope.reset(token)
