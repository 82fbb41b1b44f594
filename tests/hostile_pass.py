"""A hostile pass over the public API (issue 13): random shapes, dtypes, None, strings, NaN, huge sizes into every
public ``tg.*`` function and the layer constructors. Not collected by pytest; run it by hand:

    PYTHONPATH=$PWD python tests/hostile_pass.py [n_per_function] [seed]

Every call either returns, or raises ValueError/TypeError/MemoryError (IndexError/KeyError for getitem, as numpy)
whose message starts with a name: the function, an op, a layer class. Anything else is a "bare" error; they are
printed grouped by function and exception, with one example each.
"""
from __future__ import annotations

import collections
import resource
import signal
import sys
import warnings

import numpy as np

import tapegraph as tg
from tapegraph import nn

resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))   # a 4 GiB address space: huge shapes fail fast

FUNCS = ["abs", "add", "avg_pool2d", "batch_norm", "binary_crossentropy", "broadcast_to", "categorical_crossentropy",
         "clip", "concatenate", "conv2d", "div", "dropout", "exp", "expand", "flatten", "getitem", "leaky_relu", "log",
         "log_softmax", "matmul", "max", "max_pool2d", "maximum", "mean", "mean_squared_error", "min", "minimum", "mul",
         "neg", "pad", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sub",
         "sum", "tanh", "transpose", "unsqueeze", "var", "where", "zeros", "ones", "randn", "tensor", "manual_seed"]
LAYERS = ["AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten", "LeakyReLU", "MaxPool2D", "ReLU",
          "Sigmoid", "Softmax", "Tanh"]
NAMES = set(FUNCS) | set(LAYERS) | set(tg.REGISTRY) | {"tensor", "backward", "Tensor", "rng", "Sequential", "Layer"}


def values(rng):
    """One hostile value."""
    shapes = [(), (0,), (3,), (2, 3), (1, 1, 4, 4), (2, 0, 3), (2, 3, 5, 5)]
    k = rng.integers(0, 24)
    shape = shapes[rng.integers(0, len(shapes))]
    dtype = [np.float32, np.float64, np.float16, np.int64, np.uint8, np.bool_][rng.integers(0, 6)]
    if k < 6:
        arr = rng.standard_normal(shape).astype(dtype) if np.dtype(dtype).kind == "f" else \
            rng.integers(0, 3, shape).astype(dtype)
        if np.dtype(dtype).kind == "f" and arr.size and rng.random() < 0.3:
            arr.flat[0] = [np.nan, np.inf, -np.inf][rng.integers(0, 3)]
        return tg.tensor(arr, requires_grad=np.dtype(dtype).kind == "f" and rng.random() < 0.5, dtype=arr.dtype)
    if k < 9:
        return rng.standard_normal(shape).astype(dtype)
    return [None, "abc", b"x", 1.5, -1, 0, 2, 2 ** 70, float("nan"), float("inf"), True, [], [[1, 2], [3]],
            (2 ** 40, 2 ** 20), (-1, 2), {"a": 1}, np.array(["x", "y"]), np.array([1 + 2j]),
            np.empty(2, object), slice(None), (1.5, 2)][k - 9] if k - 9 < 21 else None


def call(fn, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            with tg.Tape() as tape:
                out = fn(*args, **kwargs)
            if isinstance(out, tg.Tensor) and out.requires_grad and not out.is_leaf and out.dtype.kind == "f":
                tape.backward(out, grad=np.ones(out.shape, out.dtype))
    return out


def clean(name, e) -> bool:
    msg = str(e)
    head = msg.split(":", 1)[0].strip()
    okay = (ValueError, TypeError, MemoryError) + ((IndexError, KeyError) if name == "getitem" else ())
    named = head in NAMES or head.split(".")[0] in NAMES or head.split(" ")[0] in NAMES or \
        any(msg.startswith(n + ":") or msg.startswith(n + " ") for n in NAMES)
    if isinstance(e, TypeError) and ("()" in head or msg.startswith(("__init__()", name + "()"))):
        return True               # Python's own signature errors (missing/unexpected argument) name the function
    if isinstance(e, (UnicodeDecodeError,)):
        return False
    return isinstance(e, okay) and named


class Timeout(Exception):
    pass


def main(n=150, seed=0):
    rng = np.random.default_rng(seed)
    tried = ok = named = 0
    bare = collections.defaultdict(list)
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(Timeout()))
    targets = [(f, getattr(tg, f)) for f in FUNCS] + [(c, getattr(nn, c)) for c in LAYERS]
    for name, fn in targets:
        for _ in range(n):
            nargs = rng.integers(0, 4)
            args = [values(rng) for _ in range(nargs)]
            kwargs = {}
            if rng.random() < 0.3:
                key = ["axis", "dtype", "keepdims", "ddof", "rng", "padding", "strides", "momentum", "epsilon",
                       "from_logits", "requires_grad", "shape"][rng.integers(0, 12)]
                kwargs[key] = values(rng)
            if name in LAYERS and rng.random() < 0.5:
                layer_args, args = args, [values(rng)]
            else:
                layer_args = None
            tried += 1
            signal.alarm(3)
            try:
                if name in LAYERS:
                    layer = fn(*(layer_args or args), **kwargs)
                    if layer_args is not None:
                        call(layer, args, {})
                else:
                    call(fn, args, kwargs)
                ok += 1
            except Timeout:
                bare[(name, "Timeout")].append(repr((args, kwargs))[:160])
            except Exception as e:
                if clean(name, e):
                    named += 1
                else:
                    key = (name, type(e).__name__, str(e)[:70])
                    bare[key].append(repr((args, kwargs))[:200])
            finally:
                signal.alarm(0)
    n_bare = sum(len(v) for v in bare.values())
    print(f"inputs tried {tried}, returned {ok}, clean named errors {named}, bare errors {n_bare} "
          f"({len(bare)} distinct)")
    for key, examples in sorted(bare.items()):
        print(f"  {len(examples):4d}  {key}\n        e.g. {examples[0]}")
    return n_bare


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))


def files(n=300, seed=0):
    """Mutated idx (raw/gzip), CIFAR pickles and tape JSON files: every failure must be a ValueError naming the file."""
    import gzip
    import os
    import pickle
    import tempfile

    from tests.data.writers import idx_bytes, write_cifar10

    rng = np.random.default_rng(seed)
    tried = clean_n = ok = 0
    bare = collections.Counter()
    with tempfile.TemporaryDirectory() as d:
        write_cifar10(d, "pickle")
        w = tg.tensor(np.ones(3, np.float32), requires_grad=True, name="w")
        with tg.Tape() as tape:
            (w * 2.0).sum()
        seeds = {"idx": idx_bytes(rng.integers(0, 255, (3, 4, 4))), "json": tape.to_json(),
                 "pickle": open(os.path.join(d, "test_batch"), "rb").read()}
        import json as _json
        seeds["json"] = _json.dumps(seeds["json"]).encode()
        for i in range(n):
            kind = ["idx", "idxgz", "pickle", "json"][i % 4]
            blob = bytearray(seeds["idx" if kind == "idxgz" else kind])
            for _ in range(rng.integers(1, 4)):
                op = rng.integers(0, 3)
                pos = int(rng.integers(0, len(blob)))
                if op == 0:
                    blob[pos] = int(rng.integers(0, 256))
                elif op == 1:
                    del blob[pos:pos + int(rng.integers(1, 64))]
                else:
                    blob[pos:pos] = bytes(rng.integers(0, 256, int(rng.integers(1, 16))).astype(np.uint8))
            data = gzip.compress(bytes(blob)) if kind == "idxgz" else bytes(blob)
            name = {"idx": "x-idx3-ubyte", "idxgz": "x-idx3-ubyte.gz", "pickle": "test_batch", "json": "t.json"}[kind]
            path = os.path.join(d, name)
            open(path, "wb").write(data)
            tried += 1
            signal.alarm(5)
            try:
                if kind.startswith("idx"):
                    tg.data.read_idx(path)
                elif kind == "pickle":
                    tg.data.load_cifar10(d)
                else:
                    tg.profile.load_json(path)
                ok += 1
            except Exception as e:
                if isinstance(e, ValueError) and (name in str(e)) and not isinstance(e, UnicodeDecodeError):
                    clean_n += 1
                else:
                    bare[(kind, type(e).__name__, str(e)[:60])] += 1
            finally:
                signal.alarm(0)
            if kind == "pickle":
                open(path, "wb").write(seeds["pickle"])
    print(f"files tried {tried}, read {ok}, clean named errors {clean_n}, bare {sum(bare.values())}")
    for k, v in bare.most_common():
        print(f"  {v:4d}  {k}")


if __name__ == "__main__" and len(sys.argv) > 3:
    files(int(sys.argv[3]), int(sys.argv[2]))
