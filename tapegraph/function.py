"""The op base class and its registry.

An op is one class::

    class Exp(Function):
        name = "exp"
        @staticmethod
        def forward(ctx, x):            # ndarrays in, one ndarray out
            y = np.exp(x); ctx.save_for_backward(y); return y
        @staticmethod
        def backward(ctx, grad):        # one gradient (or None) per input
            (y,) = ctx.saved; return (grad * y,)

``Exp.apply(tensor)`` runs it and records a Node on every active tape. Subclasses with a ``name`` register
themselves in ``REGISTRY`` (name -> class), which tests and the renderer enumerate.
"""
from __future__ import annotations

import os

import numpy as np

from . import tape as _tape
from .tape import Node, _active, _grad_enabled, _scope, dtype_shapes
from .tensor import Tensor, as_tensor

REGISTRY: dict[str, type["Function"]] = {}

_REFUSED_KINDS = {"O": "object", "U": "string", "S": "bytes", "c": "complex", "V": "void", "M": "datetime",
                  "m": "timedelta"}


class Function:
    name: str = ""
    # Input positions that are never differentiable (labels, masks): excluded from needs_input_grad.
    nondiff_inputs: tuple = ()
    # Math ops compute in floating point: integer inputs (outside nondiff_inputs) are promoted to the float dtype of
    # the other inputs (float32 if none), bool inputs are refused. Ops that only move data set this to False.
    float_only: bool = True
    # Array ops under NumPy's jurisdiction (elementwise, reductions, matmul) promote bool inputs like integers, as
    # numpy does (`t * (t > 0)`); NN ops (conv, pooling, losses) keep refusing them, as PyTorch does.
    promote_bool: bool = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.__dict__.get("name"):
            if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
                raise RuntimeError(f"op name {cls.name!r} registered twice ({REGISTRY[cls.name].__qualname__}, "
                                   f"{cls.__qualname__})")
            REGISTRY[cls.name] = cls

    @staticmethod
    def forward(ctx, *arrays, **attrs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **attrs):
        """Run forward on the inputs' arrays; record a Node when a tape is active and an input needs a gradient.

        The common call (tensors in, float arrays) takes the straight path: this runs once per op, and its Python
        is most of the tape's per-op overhead (``benchmarks/bench_tape.py``)."""
        arrays = []
        for t in inputs:
            if not isinstance(t, Tensor):
                ins, arrays = _operands(cls, inputs)
                break
            arrays.append(t.data)
        else:
            ins = inputs
        for a in arrays:
            if a.dtype.kind != "f":
                ins, arrays = _numeric(cls, ins, arrays)
                break
        tapes = _active.get()
        record = False
        if tapes and _grad_enabled.get():
            n_in = len(ins)
            if n_in == 2:
                needs = (ins[0].requires_grad, ins[1].requires_grad)
            elif n_in == 1:
                needs = (ins[0].requires_grad,)
            else:
                needs = tuple([t.requires_grad for t in ins])
            if cls.nondiff_inputs:
                needs = tuple([n and i not in cls.nondiff_inputs for i, n in enumerate(needs)])
            record = True in needs
        else:
            needs = _NO_NEEDS[len(ins)] if len(ins) < 8 else (False,) * len(ins)
        ctx = Node(cls, attrs, ins, needs)
        profile = record and (tapes[0].profile if len(tapes) == 1 else any(tp.profile for tp in tapes))
        if profile:
            t0 = _tape.profile_clock()
        try:
            out = cls.forward(ctx, *arrays, **attrs)
        except (ValueError, IndexError, TypeError, OverflowError) as e:
            if str(e).startswith(cls.name + ":"):
                raise
            kind = TypeError if isinstance(e, TypeError) else ValueError   # OverflowError: a value out of range
            raise kind(f"{cls.name}: {e} (inputs: {dtype_shapes(arrays)})") from e
        except MemoryError as e:
            if str(e).startswith(cls.name + ":"):
                raise
            raise _memory_error(cls.name, e, arrays) from None
        result = _new_tensor(Tensor)                    # Tensor._wrap, inlined
        result.data = out if isinstance(out, np.ndarray) else np.asarray(out)
        result.grad = None
        result.requires_grad = record
        result.is_leaf = not record
        result.name = None
        if record:
            ctx.output = result
            ctx.scope = _scope.get()
            if profile:
                ctx.stats = {"forward_s": _tape.profile_clock() - t0, "backward_s": None, "saved_bytes": ctx.saved_nbytes()}
            check = False
            for tp in tapes:                            # usually one
                if tp._token is not None:
                    tp.nodes.append(ctx)
                    ctx._holders += 1
                    if tp.check_nan:
                        check = True
            if ctx._holders:
                _lock_saved(ctx)
            if check:
                from .anomaly import check_forward
                check_forward(ctx, out)
        return result


_new_tensor = object.__new__
_lock_saved = _tape.lock_saved
_NO_NEEDS = tuple((False,) * n for n in range(8))


def _operands(cls, inputs):
    """Tensors as they are; constants (scalars, arrays, lists) wrapped, a Python scalar in the dtype of the first
    tensor operand."""
    ref_dtype = None
    for t in inputs:
        if isinstance(t, Tensor):
            ref_dtype = t.data.dtype
            break
    ins, arrays = [], []
    for t in inputs:
        if not isinstance(t, Tensor):
            t = as_tensor(t, ref_dtype, cls.name)
        ins.append(t)
        arrays.append(t.data)
    return tuple(ins), arrays


def _numeric(cls, ins, arrays):
    """Refuse non-numeric arrays (and bool where the op wants numbers); promote integer operands of math ops."""
    promote = False
    for i, a in enumerate(arrays):
        kind = a.dtype.kind
        if kind == "f":
            continue
        if kind in _REFUSED_KINDS:
            raise TypeError(f"{cls.name}: got a {_REFUSED_KINDS[kind]} array ({a.dtype}, shape {a.shape}); "
                            f"expected numeric data")
        if cls.float_only and i not in cls.nondiff_inputs:
            if kind == "b" and not cls.promote_bool:
                raise TypeError(f"{cls.name}: got a bool array (shape {a.shape}) where a number is expected; "
                                f"cast it first, e.g. x.astype(np.float32)")
            promote = True
    return _promote(cls, ins, arrays) if promote else (ins, arrays)


def _promote(cls, ins, arrays):
    """Integer inputs of a math op become the float dtype of its other inputs (float32 when there is none)."""
    floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
    target = np.result_type(*floats) if floats else np.dtype(np.float32)
    ins, arrays = list(ins), list(arrays)
    for i, a in enumerate(arrays):
        if a.dtype.kind in "iub" and i not in cls.nondiff_inputs:
            arrays[i] = a.astype(target)
            ins[i] = Tensor._wrap(arrays[i], False)
    return tuple(ins), arrays


def _memory_error(op: str, e: MemoryError, arrays) -> MemoryError:
    """numpy's allocation failure, restated with the op, the shape and the bytes it asked for."""
    shape, dtype = getattr(e, "shape", None), getattr(e, "dtype", None)
    if shape is not None and dtype is not None:
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
        what = f"an array of shape {tuple(shape)} {np.dtype(dtype)} ({_human(nbytes)}, {nbytes} bytes)"
    else:
        what = f"its result ({e})"
    return MemoryError(f"{op}: cannot allocate {what} (inputs: {dtype_shapes(arrays)})")


def check_fits(op: str, nbytes: int, what: str, *arrays) -> None:
    """MemoryError naming ``op`` when ``nbytes`` exceed the machine's physical memory. NumPy reserves such an
    array lazily (overcommit) and the kernel then kills the process while it is filled; sizes that come from an
    argument (interpolate's size, a layer's filters) are asked about first."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):          # no sysconf: leave it to numpy
        return
    if nbytes > total:
        raise MemoryError(f"{op}: cannot allocate {what}: {_human(nbytes)} ({nbytes} bytes) is more than this "
                          f"machine's {_human(total)} of memory" + (f" (inputs: {dtype_shapes(arrays)})" if arrays
                                                                  else ""))


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if unit != "bytes" else f"{n} bytes"
        n /= 1024
    return ""


def op_error(op: str, message: str, *arrays) -> ValueError:
    """A ValueError that names the op, what was expected, and the shapes/dtypes it got."""
    return ValueError(f"{op}: {message}" + (f" (got {dtype_shapes(arrays)})" if arrays else ""))
