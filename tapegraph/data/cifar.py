"""CIFAR-10 and CIFAR-100 from the official python-pickle or binary distributions.

Pickles are read by an unpickler that admits only the globals those files need to rebuild numpy arrays; anything
else (``os.system``, ``builtins.eval``, ...) is refused before it can run.
"""
from __future__ import annotations

import codecs
import io
import os
import pickle
import pickletools

import numpy as np

from .mnist import _convert

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_PIXELS = 3 * 32 * 32


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(str, "latin1"); admit that form only.
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise pickle.UnpicklingError(f"_codecs.encode called with {type(obj).__name__}, {encoding!r}")
    return codecs.latin_1_encode(obj)[0]


_reconstruct = np.zeros(1).__reduce__()[0]       # numpy's array-rebuilding functions, wherever they live
_frombuffer = np.zeros(1).__reduce_ex__(5)[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,    # numpy 1.x pickles (the official files)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,   # numpy 2.x
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,         # protocol 5
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a global outside the CIFAR allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, name):
        super().__init__(file, encoding="bytes")
        self._name = name

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"{self._name}: refused to load global {module}.{name}; a CIFAR batch holds "
                                    "only a dict of bytes, lists and numpy arrays") from None


# Bounds on the pickle's opcode stream, checked before anything is built. An official CIFAR-100 train file has
# ~250k opcodes, ~150k memo entries, nesting 3 and a handful of memo reads; a file built from shared references
# (a list holding the same list a thousand times, three deep) needs few bytes but many memo reads or deep nesting.
MAX_PICKLE_OPS = 2_000_000
MAX_PICKLE_MEMO = 1_000_000
MAX_PICKLE_GETS = 10_000
MAX_PICKLE_DEPTH = 16
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_POP_MARK = {"APPENDS", "SETITEMS", "TUPLE", "LIST", "DICT", "FROZENSET", "ADDITEMS", "OBJ", "INST", "POP_MARK"}


def _scan_pickle(blob, name):
    """Refuse a pickle whose opcode stream exceeds the bounds above, before the unpickler builds anything."""
    ops = gets = memo = depth = 0
    try:
        for op, _, _ in pickletools.genops(io.BytesIO(blob)):
            ops += 1
            n = op.name
            if n == "MARK":
                depth += 1
                if depth > MAX_PICKLE_DEPTH:
                    raise ValueError(f"{name}: pickle nests deeper than {MAX_PICKLE_DEPTH} levels; a CIFAR batch "
                                     "is a flat dict of lists and arrays")
            elif n in _POP_MARK:
                depth -= 1
            elif n in _GETS:
                gets += 1
                if gets > MAX_PICKLE_GETS:
                    raise ValueError(f"{name}: pickle reuses shared objects more than {MAX_PICKLE_GETS} times "
                                     "(a file built from shared references?); refused")
            elif n in _PUTS:
                memo += 1
                if memo > MAX_PICKLE_MEMO:
                    raise ValueError(f"{name}: pickle memo exceeds {MAX_PICKLE_MEMO} entries; refused")
            if ops > MAX_PICKLE_OPS:
                raise ValueError(f"{name}: pickle has more than {MAX_PICKLE_OPS} opcodes; refused")
    except ValueError as e:
        if str(e).startswith(name + ":"):
            raise
        raise ValueError(f"{name}: not a readable CIFAR pickle ({e})") from None


def _load_pickle(path):
    name = os.path.basename(path)
    with open(path, "rb") as f:
        blob = f.read()          # read whole: a length field claiming 4 GiB then costs nothing (BytesIO.read)
    _scan_pickle(blob, name)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(blob), name).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # a broken file can raise nearly anything from inside pickle
        raise ValueError(f"{name}: not a readable CIFAR pickle ({type(e).__name__}: {_short(e)})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{name}: expected a dict of arrays, got {type(obj).__name__}")
    for k in obj:
        if not isinstance(k, (bytes, str)):
            raise ValueError(f"{name}: dict keys must be bytes or str, got {type(k).__name__}")
    return obj


def _short(v, n=60) -> str:
    """A repr that never walks a big structure (a shared-reference pickle can make repr exponential)."""
    if isinstance(v, (int, float, bool, str, bytes, BaseException)):
        r = repr(v) if not isinstance(v, BaseException) else str(v)
        return r if len(r) <= n else r[:n] + "..."
    return type(v).__name__


def _labels(value, key, n_classes, name):
    """A 1-d int64 array from a list of Python ints or an integer ndarray; anything else is refused (1.7, "3",
    True, nested lists) without walking into it."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise ValueError(f"{name}: b{key!r} is not a list of integer labels (array {value.dtype} "
                             f"{value.shape})")
        y = value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if type(v) is not int:
                raise ValueError(f"{name}: b{key!r} is not a list of integer labels (entry {i} is "
                                 f"{type(v).__name__} {_short(v)})")
        if value and (min(value) < 0 or max(value) >= n_classes):
            bad = max(value) if max(value) >= n_classes else min(value)
            raise ValueError(f"{name}: {key} label {_short(bad)} out of range 0..{n_classes - 1}")
        y = np.array(value, dtype=np.int64)
    else:
        raise ValueError(f"{name}: b{key!r} is not a list of integer labels (got {type(value).__name__})")
    return y.astype(np.int64, copy=False)


def _field(d, key, name):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    keys = ", ".join(_short(k) for k in list(d)[:20])
    raise ValueError(f"{name}: missing key b{key!r}; found {keys}")


def _read_pickle_batch(path, label_keys, n_classes):
    name = os.path.basename(path)
    d = _load_pickle(path)
    data = _field(d, "data", name)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{name}: b'data' must be a uint8 array of shape (N, {_PIXELS}), got {desc}")
    labels = []
    for key, nc in zip(label_keys, n_classes):
        y = _labels(_field(d, key, name), key, nc, name)
        if y.shape != (len(data),):
            raise ValueError(f"{name}: {y.shape[0] if y.ndim else 0} entries in b{key!r} for {len(data)} images")
        _check_labels(y, nc, name, key)
        labels.append(y)
    return data, labels


def _check_labels(y, n_classes, name, what):
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = int(y.max()) if y.max() >= n_classes else int(y.min())
        raise ValueError(f"{name}: {what} label {bad} out of range 0..{n_classes - 1}")


def _read_binary_batch(path, n_label_bytes, label_names, n_classes):
    name = os.path.basename(path)
    rec = n_label_bytes + _PIXELS
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % rec:
        raise ValueError(f"{name}: {raw.size} bytes is not a whole number of {rec}-byte records "
                         f"({n_label_bytes} label byte{'s' if n_label_bytes > 1 else ''} + {_PIXELS} pixel bytes)")
    raw = raw.reshape(-1, rec)
    labels = []
    for j, (what, nc) in enumerate(zip(label_names, n_classes)):
        y = raw[:, j].astype(np.int64)
        _check_labels(y, nc, name, what)
        labels.append(y)
    return raw[:, n_label_bytes:], labels


def _layout(path, who, names):
    """(directory, kind) for the first of path, path/<official folder> that holds a complete set of files."""
    path = os.fspath(path)
    for d in [path] + [os.path.join(path, sub) for sub in names["folders"]]:
        for kind in ("pickle", "binary"):
            files = names[kind]
            if os.path.isfile(os.path.join(d, files[0])):
                for f in files:
                    if not os.path.isfile(os.path.join(d, f)):
                        raise FileNotFoundError(f"{who}: {d} holds {files[0]} but not {f}")
                return d, kind
    other = names["other"]
    if any(os.path.isfile(os.path.join(path, f)) for f in other[1]):
        raise FileNotFoundError(f"{who}: {path} holds {other[0]} files; use load_{other[0].lower().replace('-', '')}")
    raise FileNotFoundError(f"{who}: no {names['title']} files in {path}; expected the python version "
                            f"({', '.join(names['pickle'])}) or the binary version ({', '.join(names['binary'])}), "
                            f"directly or in {' or '.join(names['folders'])}")


_C10 = {"title": "CIFAR-10", "folders": ("cifar-10-batches-py", "cifar-10-batches-bin"),
        "pickle": tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
        "binary": tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",),
        "other": ("CIFAR-100", ("train", "train.bin"))}
_C100 = {"title": "CIFAR-100", "folders": ("cifar-100-python", "cifar-100-binary"),
         "pickle": ("train", "test"), "binary": ("train.bin", "test.bin"),
         "other": ("CIFAR-10", ("data_batch_1", "data_batch_1.bin"))}


def _assemble(parts, which, dtype, who):
    x = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)  # rows are R plane, G plane, B plane
    y = np.concatenate([p[1][which] for p in parts])
    return _convert(x, y, dtype, who)


def load_cifar10(path, dtype="uint8"):
    """CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``: x ``(N, 3, 32, 32)`` uint8 (or float in [0, 1] with
    ``dtype=``), y int64 in 0..9 (names in ``CIFAR10_CLASSES``).

    ``path`` holds the python version (``data_batch_1..5``, ``test_batch``) or the binary one (``*.bin``), directly
    or in its official folder ``cifar-10-batches-py``/``cifar-10-batches-bin``.
    """
    d, kind = _layout(path, "load_cifar10", _C10)
    files = [os.path.join(d, f) for f in _C10[kind]]
    if kind == "pickle":
        parts = [_read_pickle_batch(f, ("labels",), (10,)) for f in files]
    else:
        parts = [_read_binary_batch(f, 1, ("class",), (10,)) for f in files]
    return _assemble(parts[:5], 0, dtype, "load_cifar10"), _assemble(parts[5:], 0, dtype, "load_cifar10")


def load_cifar100(path, label_mode="fine", dtype="uint8"):
    """CIFAR-100 as ``(x_train, y_train), (x_test, y_test)``: x ``(N, 3, 32, 32)`` uint8, y int64 fine labels
    (0..99) or, with ``label_mode="coarse"``, superclass labels (0..19).

    ``path`` holds the python version (``train``, ``test``) or the binary one (``train.bin``, ``test.bin``),
    directly or in its official folder ``cifar-100-python``/``cifar-100-binary``.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"load_cifar100: label_mode must be 'fine' or 'coarse', got {label_mode!r}")
    d, kind = _layout(path, "load_cifar100", _C100)
    files = [os.path.join(d, f) for f in _C100[kind]]
    if kind == "pickle":  # labels in order (coarse, fine), like the binary records
        parts = [_read_pickle_batch(f, ("coarse_labels", "fine_labels"), (20, 100)) for f in files]
    else:
        parts = [_read_binary_batch(f, 2, ("coarse", "fine"), (20, 100)) for f in files]
    which = 1 if label_mode == "fine" else 0
    return _assemble(parts[:1], which, dtype, "load_cifar100"), _assemble(parts[1:], which, dtype, "load_cifar100")
