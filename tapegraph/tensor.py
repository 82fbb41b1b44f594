"""Tensor: an ndarray plus the flags the tape needs. Operators call ops; no derivative math lives here."""
from __future__ import annotations

import numpy as np

DEFAULT_FLOAT = np.float32


class Tensor:
    """A NumPy array that ops record on the active tape.

    ``data`` is the ndarray, ``grad`` the accumulated gradient of a leaf after ``tape.backward`` (an ndarray of the
    same shape and dtype, or None), ``requires_grad`` whether ops on it are recorded, ``is_leaf`` whether it was made
    by the user rather than by a recorded op. ``name`` labels it in graphs (parameters get their dotted names).
    """

    __slots__ = ("data", "grad", "requires_grad", "is_leaf", "name", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if not isinstance(requires_grad, (bool, np.bool_, int, np.integer)):
            raise TypeError(f"{type(self).__name__}: requires_grad must be a bool, got {type(requires_grad).__name__}")
        arr = _to_array(data, dtype)
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}: only floating-point tensors can require a gradient, got dtype "
                            f"{arr.dtype}")
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.is_leaf = True
        self.name = name

    @classmethod
    def _wrap(cls, arr, requires_grad: bool):
        t = cls.__new__(cls)
        t.data = arr if isinstance(arr, np.ndarray) else np.asarray(arr)
        t.grad = None
        t.requires_grad = requires_grad
        t.is_leaf = not requires_grad
        t.name = None
        return t

    # -- array facts ---------------------------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __len__(self):
        return len(self.data)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data, False)

    def zero_grad(self):
        self.grad = None

    def __repr__(self):
        flags = ", requires_grad=True" if self.requires_grad else ""
        label = f", name={self.name!r}" if self.name else ""
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2, separator=", ")
        return f"tensor({body}, dtype={self.data.dtype}{flags}{label})"

    __hash__ = object.__hash__

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.data)

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=copy is not False)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``np.exp(t)``, ``ndarray + t``: the ufuncs tapegraph has ops for run as those ops (recorded on the tape);
        comparisons give boolean arrays, as the operators do. Any other ufunc would silently return a plain array
        and cut the graph, so it is refused."""
        name = _UFUNC_OPS.get(ufunc.__name__) if method == "__call__" and not kwargs else None
        if name is not None:
            return getattr(_ops(), name)(*inputs)
        if ufunc.__name__ in _COMPARISONS and method == "__call__" and not kwargs:
            return ufunc(*(_raw(a) for a in inputs))
        raise TypeError(f"np.{ufunc.__name__}{'' if method == '__call__' else '.' + method} on a Tensor would return a "
                        f"plain array and cut the tape: use the tapegraph op (tg.{ufunc.__name__}, if it exists) or "
                        f"pass t.data for a constant")

    # -- arithmetic (ops are imported lazily to avoid an import cycle) --------------------------------------------
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().sub(self, o)
    def __rsub__(self, o): return _ops().sub(o, self)
    def __mul__(self, o): return _ops().mul(self, o)
    def __rmul__(self, o): return _ops().mul(o, self)
    def __truediv__(self, o): return _ops().div(self, o)
    def __rtruediv__(self, o): return _ops().div(o, self)
    def __pow__(self, o): return _ops().pow(self, o)
    def __rpow__(self, o): return _ops().pow(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __neg__(self): return _ops().neg(self)
    def __abs__(self): return _ops().abs(self)
    def __getitem__(self, index): return _ops().getitem(self, index)

    # Comparisons give plain boolean arrays: they have no gradient.
    def __eq__(self, o): return self.data == _raw(o)
    def __ne__(self, o): return self.data != _raw(o)
    def __lt__(self, o): return self.data < _raw(o)
    def __le__(self, o): return self.data <= _raw(o)
    def __gt__(self, o): return self.data > _raw(o)
    def __ge__(self, o): return self.data >= _raw(o)

    # -- method forms of common ops ------------------------------------------------------------------------------
    # dtype=/out= only so that np.sum(t), np.mean(t), np.max(t) (which pass them) reach the ops
    def sum(self, axis=None, keepdims=False, dtype=None, out=None):
        return _ops().sum(self, _np_reduce_args("sum", axis, dtype, out), keepdims)

    def mean(self, axis=None, keepdims=False, dtype=None, out=None):
        return _ops().mean(self, _np_reduce_args("mean", axis, dtype, out), keepdims)

    def max(self, axis=None, keepdims=False, out=None):
        return _ops().max(self, _np_reduce_args("max", axis, None, out), keepdims)

    def min(self, axis=None, keepdims=False, out=None):
        return _ops().min(self, _np_reduce_args("min", axis, None, out), keepdims)

    def var(self, axis=None, keepdims=False, ddof=0): return _ops().var(self, axis, keepdims, ddof)
    def reshape(self, *shape): return _ops().reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes): return _ops().transpose(self, (axes[0] if len(axes) == 1 else axes) or None)
    def permute(self, *axes): return _ops().transpose(self, axes[0] if len(axes) == 1 else axes)
    def expand(self, *shape): return _ops().broadcast_to(self, shape[0] if len(shape) == 1 else shape)
    def squeeze(self, axis=None): return _ops().squeeze(self, axis)
    def unsqueeze(self, axis): return _ops().unsqueeze(self, axis)
    # NumPy's ndarray.flatten and torch's Tensor.flatten flatten every axis: the method keeps start_axis=0, while
    # tg.flatten keeps the batch axis (start_axis=1, Keras' Flatten).
    def flatten(self, start_axis=0, end_axis=-1): return _ops().flatten(self, start_axis, end_axis)
    def exp(self): return _ops().exp(self)
    def log(self): return _ops().log(self)
    def sqrt(self): return _ops().sqrt(self)
    def abs(self): return _ops().abs(self)
    def clip(self, lo=None, hi=None): return _ops().clip(self, lo, hi)
    def relu(self): return _ops().relu(self)
    def sigmoid(self): return _ops().sigmoid(self)
    def tanh(self): return _ops().tanh(self)
    def softmax(self, axis=-1): return _ops().softmax(self, axis)
    def log_softmax(self, axis=-1): return _ops().log_softmax(self, axis)

    @property
    def T(self):
        return _ops().transpose(self, None)

    @property
    def backward(self):
        """Not a method, by design: gradients come from the tape that recorded the loss."""
        raise AttributeError("Tensor has no backward(): gradients come from the tape that recorded the loss:\n"
                             "    with tg.Tape() as tape:\n        loss = ...\n    tape.backward(loss)")


_OPS = None


def _ops():
    global _OPS
    if _OPS is None:
        from . import ops
        _OPS = ops
    return _OPS



# numpy ufunc name -> tapegraph op (Tensor.__array_ufunc__)
_UFUNC_OPS = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div", "divide": "div",
              "power": "pow", "negative": "neg", "exp": "exp", "log": "log", "sqrt": "sqrt", "absolute": "abs",
              "maximum": "maximum", "minimum": "minimum", "tanh": "tanh", "matmul": "matmul"}
_COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}


def _np_reduce_args(op, axis, dtype, out):
    """The axis, after refusing numpy's dtype=/out= (a reduction's dtype is its input's; results are new Tensors)."""
    if dtype is not None or out is not None:
        raise TypeError(f"{op}: dtype= and out= are not supported on a Tensor (the result is a new Tensor of the "
                        f"input's dtype)")
    return axis

def _raw(o):
    return o.data if isinstance(o, Tensor) else o


def _to_array(data, dtype=None) -> np.ndarray:
    """float64 input becomes float32 (the default float); other dtypes are kept unless ``dtype`` is given."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except (TypeError, ValueError):
            raise TypeError(f"tensor: dtype {_short(dtype)} is not a numpy dtype") from None
    try:
        if dtype is not None:
            return np.asarray(data, dtype=dtype)
        arr = np.asarray(data)
    except MemoryError as e:
        raise MemoryError(f"tensor: cannot allocate the array ({e})") from None
    except (TypeError, ValueError, OverflowError) as e:
        what = "ragged nested sequences (rows of different lengths)" if "inhomogeneous" in str(e) \
            else f"{type(data).__name__} data"
        raise (TypeError if isinstance(e, TypeError) else ValueError)(
            f"tensor: cannot make an array from {what}" + (f" with dtype {dtype!r}" if dtype is not None else "")
            + f" ({e})") from None
    return arr.astype(DEFAULT_FLOAT) if arr.dtype == np.float64 else arr


def _short(v, n=40) -> str:
    r = repr(v) if isinstance(v, (str, int, float, type, np.dtype)) else type(v).__name__
    return r if len(r) <= n else r[:n] + "..."


def tensor(data, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Make a Tensor. Float data becomes float32 unless ``dtype`` says otherwise; integer data keeps its dtype."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


_PY_SCALARS = (bool, int, float)
# (type, value, dtype) -> a read-only 0-d array: `x * 0.5` in a loop makes its constant once. Zeros and NaN are not
# cached (0.0 and -0.0 are equal keys; NaN equals no key).
_CONSTANTS: dict = {}


def _constant(value, dtype: np.dtype, op: str) -> np.ndarray:
    """A private 0-d array holding ``value`` in ``dtype``, over an immutable ``bytes``: numpy cannot make it writable
    (so one cached array can serve every op, and the tape need not lock it)."""
    key = (type(value), value, dtype)
    arr = _CONSTANTS.get(key)
    if arr is None:
        try:
            raw = np.asarray(value, dtype=dtype).tobytes()
        except OverflowError:
            raise ValueError(f"{op}: the constant {_short(value)} is out of range for {dtype}") from None
        arr = np.ndarray((), dtype=dtype, buffer=raw)
        if value and value == value and len(_CONSTANTS) < 4096:
            _CONSTANTS[key] = arr
    return arr


def as_tensor(value, like_dtype=None, op: str = "op") -> Tensor:
    """Wrap a constant operand; a Python scalar takes the dtype of the tensor it meets (no float64 upcast)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, _PY_SCALARS) and like_dtype is not None:
        like = like_dtype if isinstance(like_dtype, np.dtype) else np.dtype(like_dtype)
        if like.kind == "f":
            return Tensor._wrap(_constant(value, like, op), False)
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{op}: cannot use {type(value).__name__} as an operand ({e})") from None
    if arr.dtype.kind == "f" and arr.dtype == np.float64 and not isinstance(value, np.ndarray):
        arr = arr.astype(like_dtype if like_dtype is not None and np.dtype(like_dtype).kind == "f" else DEFAULT_FLOAT)
    return Tensor._wrap(arr, False)
