"""Hostile-input driver for the public op/layer/optimizer/loop surface (issue 13).

Each target is a valid *base* call plus, per argument, a kind ("int", "pair", "float", "flag", "choice", "array",
...). ``cases()`` mutates one argument at a time with hostile values (wrong types, NaN/inf, negatives, huge, bools,
None, strings, complex) and the primary array with hostile layouts (dtypes, ranks, zero-size dims, non-contiguous,
read-only, lists, Tensors, NaN/inf). ``classify`` runs one case (forward, then backward where a gradient exists) and
returns one of

  OK      a result; where the mutation keeps the math (float64, layout, read-only, list, Tensor) it equals the base's
  CLEAN   ValueError/TypeError/... whose message names the op/layer/argument
  BARE    any other error, or one whose message names nothing the user wrote
  SILENT  a result that differs from the base one, or an argument that must be refused (bool/NaN/non-integer) taken
  SUSPECT accepted a dubious argument (float where an int is due, a string flag...): review by hand
  HANG    ran past the time bound
"""
from __future__ import annotations

import math
import os
import signal
import tempfile
import traceback
import warnings

import numpy as np

import tapegraph as tg
from tapegraph import nn, optim

STRICT = False    # misc targets: a message must name the class/function itself, not only the argument
CLEAN_TYPES = (ValueError, TypeError, MemoryError, OSError, NotImplementedError, ImportError)
RNG = np.random.default_rng(0)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def rnd(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# -- hostile values per argument kind -----------------------------------------------------------------------------
BAD_COMMON = [None, "x", b"x", complex(1, 1), object(), [], {}, float("nan"), float("inf"), -float("inf")]
BAD_INT = BAD_COMMON + [True, False, -1, 0, 1.5, 2.0, np.float64(2.5), 10 ** 12, 2 ** 70, -(2 ** 70), (1, 2, 3),
                        (1,), (2, True), (2, 1.5), (2, None), (2, -1), np.int64(2), np.array([2, 2])]
BAD_FLOAT = BAD_COMMON + [True, -1.0, 0.0, 1e308, -1e308, np.float16(0.5), np.array(0.5), np.array([0.5, 0.5]), "0.5"]
BAD_FLAG = [None, "x", "False", 2, -1, 0.5, float("nan"), np.bool_(True), np.array([True, False])]
BAD_CHOICE = [None, "", "x", "VALID", 1, True, float("nan"), ("same",)]

# A value "must be refused" for a kind when accepting it would be a silent coercion.
def must_refuse(kind, v, nullable=False):
    if v is None:
        return not nullable
    if isinstance(v, (bool, np.bool_)):
        return kind in ("int", "pair", "float", "choice")
    if isinstance(v, (str, bytes, complex, dict)) or type(v) is object:
        return kind != "choice" or not isinstance(v, str)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return kind in ("int", "pair", "float", "flag")
    if kind in ("int", "pair") and isinstance(v, (float, np.floating)) and not float(v).is_integer():
        return True
    if kind == "pair" and isinstance(v, tuple) and any(isinstance(e, (bool, float, type(None))) for e in v):
        return True
    if kind == "flag" and not isinstance(v, (bool, np.bool_)):
        return isinstance(v, (str, float, np.ndarray)) or v is None
    return False


def suspicious(kind, v):
    """Accepted but dubious: integral floats for ints, floats for flags."""
    if kind in ("int", "pair") and isinstance(v, (float, np.floating)):
        return True
    if kind == "flag" and isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return True
    return False


BAD_VALUES = {"int": BAD_INT, "pair": BAD_INT, "float": BAD_FLOAT, "flag": BAD_FLAG, "choice": BAD_CHOICE}


# -- array mutations ------------------------------------------------------------------------------------------------
def array_variants(x):
    """(label, value, same_math) for hostile versions of the primary input array ``x``."""
    out = []
    out.append(("float64", x.astype(np.float64), "close"))
    out.append(("float16", x.astype(np.float16), "loose"))
    out.append(("int32", np.round(x).astype(np.int32), None))
    out.append(("bool", x > 0, None))
    out.append(("complex64", x.astype(np.complex64), None))
    out.append(("object", x.astype(object), None))
    out.append(("str", x.astype(str), None))
    big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype) if x.ndim else None
    if big is not None:
        big[..., ::2] = x
        out.append(("noncontig", big[..., ::2], "exact"))
    out.append(("fortran", np.asfortranarray(x), "exact"))
    ro = x.copy()
    ro.flags.writeable = False
    out.append(("readonly", ro, "exact"))
    out.append(("list", x.tolist(), "exact"))
    out.append(("tensor", tg.Tensor(x.copy()), "exact"))
    out.append(("tensor_rg", tg.Tensor(x.copy(), requires_grad=True), "exact"))
    if x.ndim:
        nan = x.copy(); nan.flat[0] = np.nan
        out.append(("nan", nan, None))
        inf = x.copy(); inf.flat[0] = np.inf
        out.append(("inf", inf, None))
    out.append(("rank-1", x[0] if x.ndim else x, None))
    out.append(("rank+1", x[None], None))
    out.append(("scalar", np.float32(1.0), None))
    out.append(("none", None, None))
    for ax in range(x.ndim):
        z = np.take(x, [], axis=ax)
        out.append((f"zero-dim{ax}", z, None))
    out.append(("huge-stride-view", np.lib.stride_tricks.as_strided(x, shape=x.shape, strides=(0,) * x.ndim), None))
    return out


# -- targets --------------------------------------------------------------------------------------------------------
class Target:
    def __init__(self, name, fn, base_args, kinds, names=None, primary=0, grad=True, nullable=(), documented=()):
        self.name = name              # what a message must mention (any of names)
        self.fn = fn                  # callable(*args) -> result
        self.base_args = base_args    # list of argument values (positional for fn)
        self.kinds = kinds            # list of kinds parallel to base_args ("array", "int", ..., or None: skip)
        self.names = [n.lower() for n in (names or [name])]
        self.primary = primary
        self.grad = grad
        self.nullable = set(nullable)
        # argument indices where NaN/inf/None-in-a-pair are documented values (pad's fill value, adaptive pools'
        # None = keep that axis), not silent coercions
        self.documented = set(documented)


def _F(fn, keys):
    """Adapt fn(**kw) with keyword order ``keys`` to a positional call."""
    return lambda *a: fn(**dict(zip(keys, a)))


def op_targets():
    T = []
    x4 = rnd(2, 4, 7, 7)
    T.append(Target("conv2d", _F(tg.conv2d, ["x", "weight", "bias", "stride", "padding", "dilation", "groups"]),
                    [x4, rnd(6, 2, 3, 3), rnd(6), 1, 1, 1, 2],
                    ["array", "array", "array", "pair", "pair", "pair", "int"], nullable={2}))
    T.append(Target("conv1d", _F(tg.conv1d, ["x", "weight", "bias", "stride", "padding", "dilation", "groups"]),
                    [rnd(2, 4, 9), rnd(6, 2, 3), rnd(6), 1, 1, 1, 2],
                    ["array", "array", "array", "int", "int", "int", "int"], nullable={2}))
    T.append(Target("conv_transpose2d", _F(tg.conv_transpose2d, ["x", "weight", "bias", "stride", "padding",
                                                                 "output_padding", "dilation", "groups"]),
                    [x4, rnd(4, 3, 3, 3), rnd(6), 2, 1, 1, 1, 2],
                    ["array", "array", "array", "pair", "pair", "pair", "pair", "int"], nullable={2}))
    T.append(Target("max_pool2d", _F(tg.max_pool2d, ["x", "pool_size", "strides", "padding", "dilation",
                                                     "ceil_mode", "return_indices"]),
                    [x4, 3, 2, 1, 1, True, False], ["array", "pair", "pair", "pair", "pair", "flag", "flag"],
                    nullable={2}))
    T.append(Target("avg_pool2d", _F(tg.avg_pool2d, ["x", "pool_size", "strides", "padding", "ceil_mode",
                                                     "count_include_pad"]),
                    [x4, 3, 2, 1, True, True], ["array", "pair", "pair", "pair", "flag", "flag"], nullable={2, 5}))
    y, idx = tg.max_pool2d(tg.tensor(x4), 2, return_indices=True)
    T.append(Target("max_unpool2d", _F(tg.max_unpool2d, ["x", "indices", "pool_size", "strides", "padding",
                                                         "output_size"]),
                    [y.data, idx.data if hasattr(idx, "data") else idx, 2, 2, 0, (7, 7)],
                    ["array", "indices", "pair", "pair", "pair", "pair"], nullable={3, 5}))
    T.append(Target("adaptive_avg_pool2d", tg.adaptive_avg_pool2d, [x4, (3, 2)], ["array", "pair"], documented={1}))
    T.append(Target("adaptive_max_pool2d", _F(tg.adaptive_max_pool2d, ["x", "output_size", "return_indices"]),
                    [x4, (3, 2), False], ["array", "pair", "flag"], documented={1}))
    T.append(Target("interpolate", _F(tg.interpolate, ["x", "scale_factor", "size", "mode", "align_corners"]),
                    [x4, None, (5, 9), "bilinear", True], ["array", "float", "pair", "choice", "flag"],
                    nullable={1, 2}))
    T.append(Target("interpolate", _F(tg.interpolate, ["x", "scale_factor", "size", "mode", "align_corners"]),
                    [x4, 1.5, None, "nearest", False], ["array", "float", "pair", "choice", "flag"],
                    nullable={1, 2}))
    T.append(Target("pad", _F(tg.pad, ["a", "pad_width", "mode", "value"]),
                    [x4, ((0, 0), (0, 0), (1, 2), (2, 1)), "reflect", 0], ["array", "pair", "choice", "float"],
                    documented={3}))
    T.append(Target("pad", _F(tg.pad, ["a", "pad_width", "mode", "value"]),
                    [x4, ((0, 0), (0, 0), (-2, 1), (1, -3)), "constant", 0.5], ["array", "pair", "choice", "float"],
                    documented={3}))
    T.append(Target("flatten", _F(tg.flatten, ["a", "start_axis", "end_axis"]), [x4, 1, -1],
                    ["array", "int", "int"], names=["flatten", "reshape"]))
    T.append(Target("gelu", _F(tg.gelu, ["a", "approximate"]), [x4, "tanh"], ["array", "choice"]))
    T.append(Target("silu", tg.silu, [x4], ["array"]))
    T.append(Target("elu", _F(tg.elu, ["a", "alpha"]), [x4, 0.7], ["array", "float"]))
    T.append(Target("softplus", _F(tg.softplus, ["a", "beta", "threshold"]), [x4, 2.0, 5.0],
                    ["array", "float", "float"]))
    T.append(Target("hard_sigmoid", tg.hard_sigmoid, [x4], ["array"]))
    T.append(Target("hard_swish", tg.hard_swish, [x4], ["array"]))
    T.append(Target("layer_norm", _F(tg.layer_norm, ["x", "normalized_shape", "weight", "bias", "eps"]),
                    [x4, (7, 7), rnd(7, 7), rnd(7, 7), 1e-5], ["array", "pair", "array", "array", "float"],
                    nullable={2, 3}))
    T.append(Target("group_norm", _F(tg.group_norm, ["x", "num_groups", "weight", "bias", "eps"]),
                    [x4, 2, rnd(4), rnd(4), 1e-5], ["array", "int", "array", "array", "float"], nullable={2, 3}))
    p = rnd(5, 4)
    t = rnd(5, 4)
    probs = np.exp(p) / np.exp(p).sum(1, keepdims=True)
    onehot = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 1]]
    labels = np.array([0, 1, 2, 3, 1])
    T.append(Target("mean_squared_error", _F(tg.losses.mean_squared_error, ["pred", "target", "reduction"]),
                    [p, t, "sum"], ["array", "target", "choice"]))
    T.append(Target("mean_absolute_error", _F(tg.losses.mean_absolute_error, ["pred", "target", "reduction"]),
                    [p, t, "none"], ["array", "target", "choice"]))
    T.append(Target("huber", _F(tg.losses.huber, ["pred", "target", "delta", "reduction"]),
                    [p, t, 0.5, "mean"], ["array", "target", "float", "choice"]))
    T.append(Target("kl_divergence", _F(tg.losses.kl_divergence, ["pred", "target", "reduction", "log_input",
                                                                  "log_target"]),
                    [np.log(probs), probs, "batchmean", True, False],
                    ["array", "target", "choice", "flag", "flag"]))
    T.append(Target("binary_crossentropy", _F(tg.losses.binary_crossentropy, ["pred", "target", "from_logits",
                                                                              "pos_weight", "reduction"]),
                    [p, (t > 0).astype(np.float32), True, np.full(4, 2.0, np.float32), "sum"],
                    ["array", "target", "flag", "array", "choice"], nullable={3}))
    T.append(Target("categorical_crossentropy", _F(tg.losses.categorical_crossentropy,
                                                   ["pred", "target", "from_logits", "label_smoothing",
                                                    "ignore_index", "class_weights", "reduction"]),
                    [p, labels, True, 0.1, 2, np.array([1, 2, 3, 4], np.float32), "mean"],
                    ["array", "labels", "flag", "float", "int", "array", "choice"], nullable={4, 5}))
    T.append(Target("categorical_crossentropy", _F(tg.losses.categorical_crossentropy,
                                                   ["pred", "target", "from_logits", "label_smoothing",
                                                    "ignore_index", "class_weights", "reduction"]),
                    [probs, onehot, False, 0.2, None, None, "sum"],
                    ["array", "target", "flag", "float", "int", "array", "choice"], nullable={4, 5}))
    T.append(Target("sparse_categorical_crossentropy",
                    _F(tg.losses.sparse_categorical_crossentropy, ["pred", "target", "from_logits"]),
                    [p, labels, True], ["array", "labels", "flag"], names=["crossentropy"]))
    return T


def _layer(cls, *a, **kw):
    return lambda *args: _call_layer(cls, args, kw, a)


def layer_targets():
    """Constructor hostility: each positional constructor argument mutated; the layer is then called on a valid x."""
    x4 = rnd(2, 4, 7, 7)
    x3 = rnd(2, 4, 9)
    x2 = rnd(3, 5)

    def build(cls, names, x):
        def run(*args):
            kw = dict(zip(names, args[1:]))
            tg.manual_seed(0)
            layer = cls(**kw)
            return layer(tg.Tensor(args[0], requires_grad=np.asarray(args[0]).dtype.kind == "f")
                         if isinstance(args[0], np.ndarray) else args[0])
        return run

    T = []
    spec = [
        (nn.Conv2D, x4, ["filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "activation"],
         [6, 3, 1, "same", 1, 2, "relu"], ["int", "pair", "pair", "choice", "pair", "int", "choice"]),
        (nn.Conv1D, x3, ["filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "activation"],
         [6, 3, 1, "same", 2, 2, "gelu"], ["int", "int", "int", "choice", "int", "int", "choice"]),
        (nn.DepthwiseConv2D, x4, ["kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate"],
         [3, 2, "same", 2, 1], ["pair", "pair", "choice", "int", "pair"]),
        (nn.Conv2DTranspose, x4, ["filters", "kernel_size", "strides", "padding", "output_padding", "dilation_rate"],
         [3, 3, 2, "same", 1, 1], ["int", "pair", "pair", "choice", "pair", "pair"]),
        (nn.Dense, x2, ["units", "activation", "use_bias"], [4, "silu", True], ["int", "choice", "flag"]),
        (nn.MaxPool2D, x4, ["pool_size", "strides", "padding", "dilation", "ceil_mode"], [3, 2, "same", 1, True],
         ["pair", "pair", "choice", "pair", "flag"]),
        (nn.AvgPool2D, x4, ["pool_size", "strides", "padding", "ceil_mode", "count_include_pad"],
         [3, 2, "valid", True, False], ["pair", "pair", "choice", "flag", "flag"]),
        (nn.GlobalAveragePooling2D, x4, ["keepdims"], [True], ["flag"]),
        (nn.GlobalMaxPooling2D, x4, ["keepdims"], [False], ["flag"]),
        (nn.UpSampling2D, x4, ["size", "interpolation"], [(2, 3), "bilinear"], ["pair", "choice"]),
        (nn.ZeroPadding2D, x4, ["padding"], [((1, 2), (0, 1))], ["pair"]),
        (nn.LayerNormalization, x4, ["axis", "epsilon", "center", "scale"], [-1, 1e-3, True, False],
         ["int", "float", "flag", "flag"]),
        (nn.GroupNormalization, x4, ["groups", "axis", "epsilon", "center", "scale"], [2, 1, 1e-3, True, True],
         ["int", "int", "float", "flag", "flag"]),
        (nn.BatchNorm, x4, ["epsilon", "momentum"], [1e-3, 0.9], ["float", "float"]),
        (nn.Dropout, x4, ["rate"], [0.3], ["float"]),   # rate=0 returns x itself: backward(x) is a core matter
        (nn.LeakyReLU, x4, ["negative_slope"], [0.2], ["float"]),
        (nn.Softmax, x4, ["axis"], [1], ["int"]),
        (nn.GELU, x4, ["approximate"], ["tanh"], ["choice"]),
        (nn.ELU, x4, ["alpha"], [0.5], ["float"]),
        (nn.Softplus, x4, ["beta", "threshold"], [1.0, 20.0], ["float", "float"]),
        (nn.SiLU, x4, [], [], []),
        (nn.HardSigmoid, x4, [], [], []),
        (nn.HardSwish, x4, [], [], []),
    ]
    for cls, x, names, vals, kinds in spec:
        nullable = {"strides", "output_padding", "activation", "count_include_pad"}
        T.append(Target(cls.__name__, build(cls, names, x), [x] + vals, ["array"] + kinds,
                        names=[cls.__name__] + names,
                        nullable={i + 1 for i, n in enumerate(names) if n in nullable}))
    return T


def _call_layer(cls, args, kw, a):  # pragma: no cover - unused helper kept for clarity
    return cls(*a, **kw)(*args)


# -- running one case -----------------------------------------------------------------------------------------------
def _to_np(r):
    if isinstance(r, tuple):
        return tuple(_to_np(e) for e in r)
    return np.asarray(r.data if isinstance(r, tg.Tensor) else r)


def _backward(args, out):
    o = out[0] if isinstance(out, tuple) else out
    if not isinstance(o, tg.Tensor) or not o.requires_grad:
        return
    return o


def run_call(fn, args, timeout=10):
    """Run fn(*args) under a tape with a time bound; backward with ones. Returns (result ndarray(s), grads) or raises."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            targs = [tg.Tensor(a, requires_grad=True) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                     and i == 0 else a for i, a in enumerate(args)]
            with tg.Tape() as tape:
                out = fn(*targs)
            o = _backward(targs, out)
            grads = None
            if o is not None:
                tape.backward(o, grad=np.ones(o.shape, o.dtype))
                grads = [t.grad for t in targs if isinstance(t, tg.Tensor) and t.requires_grad]
                for t, g in zip([t for t in targs if isinstance(t, tg.Tensor) and t.requires_grad], grads):
                    if g is not None and (g.shape != t.shape):
                        raise AssertionError(f"SILENT grad shape {g.shape} != {t.shape}")
            return _to_np(out), grads
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _same(a, b, mode):
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y, mode) for x, y in zip(a, b))
    if a.shape != b.shape:
        return False
    if a.dtype.kind not in "fc":
        return np.array_equal(a, b)
    tol = {"exact": (1e-6, 1e-6), "close": (1e-4, 1e-4), "loose": (5e-2, 5e-2)}[mode]
    return np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol[0], atol=tol[1], equal_nan=True)


def classify_exc(e, target):
    msg = str(e).lower()
    if isinstance(e, Hang):
        return "HANG"
    if isinstance(e, AssertionError) and str(e).startswith("SILENT"):
        return "SILENT"
    if isinstance(e, CLEAN_TYPES) and any(n in msg for n in target.names):
        return "CLEAN"
    # a layer's error may name the op it calls ("avg_pool2d: ..."), a file error the file
    if isinstance(e, CLEAN_TYPES) and msg.split(":")[0].strip() in tg.REGISTRY:
        return "CLEAN"
    if isinstance(e, OSError) and (getattr(e, "filename", None) or "cannot write" in msg):
        return "CLEAN"
    # the user's own callable raising: propagated unchanged, as PyTorch/Keras do
    tb = traceback.extract_tb(e.__traceback__)
    if tb and tb[-1].filename == __file__ and isinstance(e, ZeroDivisionError):
        return "CLEAN"
    return "BARE"


def cases(targets, with_arrays=True):
    """Yield (target, label, args, check) where check is (kind_of_check, info)."""
    for t in targets:
        yield t, "base", list(t.base_args), ("base", None)
        for i, kind in enumerate(t.kinds):
            if kind in BAD_VALUES:
                for v in BAD_VALUES[kind]:
                    a = list(t.base_args); a[i] = v
                    if i in t.documented and (v is None or isinstance(v, (float, tuple))):
                        yield t, f"arg{i}={_short(v)}", a, ("documented", None)
                        continue
                    yield t, f"arg{i}={_short(v)}", a, ("arg", (kind, v, i in t.nullable))
            elif kind in ("array", "target", "labels", "indices") and with_arrays:
                if not isinstance(t.base_args[i], np.ndarray):
                    continue
                base = t.base_args[i]
                if kind == "labels":
                    vs = [("labels-float", base.astype(np.float32) + 0.5, None), ("labels-neg", base - 10, None),
                          ("labels-big", base + 100, None), ("labels-2d", base[:, None], None),
                          ("labels-bool", base > 1, None), ("labels-short", base[:-1], None),
                          ("labels-list", base.tolist(), "exact"), ("labels-none", None, None),
                          ("labels-str", base.astype(str), None)]
                elif kind == "indices":
                    vs = [("idx-float", base.astype(np.float32), None), ("idx-neg", base - 1000, None),
                          ("idx-big", base + 10 ** 6, None), ("idx-shape", base[:, :, :1], None),
                          ("idx-other", np.zeros((1, 1, 1, 1), np.int64), None), ("idx-none", None, None),
                          ("idx-int32", base.astype(np.int32), "exact")]
                else:
                    vs = array_variants(base)
                for label, v, same in vs:
                    a = list(t.base_args); a[i] = v
                    if kind == "array" and i != t.primary and label == "none" and i in t.nullable:
                        same = None
                    yield t, f"arr{i}:{label}", a, ("array", same)


def _short(v):
    s = repr(v)
    return s if len(s) < 25 else s[:22] + "..."


def classify(target, args, check, base_result):
    """Return (class, detail)."""
    try:
        res, grads = run_call(target.fn, args)
    except Exception as e:  # noqa: BLE001 - classification is the point
        c = classify_exc(e, target)
        detail = f"{type(e).__name__}: {str(e)[:160]}"
        if c == "BARE":
            tb = traceback.extract_tb(e.__traceback__)[-1]
            detail += f"  @ {os.path.relpath(tb.filename, os.getcwd()) if tb.filename else '?'}:{tb.lineno}"
        return c, detail
    kind, info = check
    if kind == "arg":
        akind, v, nullable = info
        if must_refuse(akind, v, nullable):
            return "SILENT", f"accepted {_short(v)} for a {akind} argument"
        if suspicious(akind, v):
            return "SUSPECT", f"accepted {_short(v)} for a {akind} argument"
    if kind == "array" and info and base_result is not None:
        if not _same(res, base_result, info):
            return "SILENT", f"differs from base ({info})"
    if kind == "array" and info is None:
        flat = res if isinstance(res, tuple) else (res,)
        for r in flat:
            if r.dtype.kind in "fc" and r.size and not np.isfinite(r).any():
                pass    # NaN-in, NaN-out is fine; the hand review looks at the list
    return "OK", ""


def run_all(targets, with_arrays=True, log=None):
    counts = {}
    findings = []
    bases = {}
    for t, label, args, check in cases(targets, with_arrays):
        key = id(t)
        if label == "base":
            try:
                bases[key] = run_call(t.fn, args)[0]
                c, d = "OK", ""
            except Exception as e:  # noqa: BLE001
                bases[key] = None
                c, d = "BASEFAIL", f"{type(e).__name__}: {e}"
        else:
            c, d = classify(t, args, check, bases.get(key))
        counts[c] = counts.get(c, 0) + 1
        if c not in ("OK", "CLEAN"):
            findings.append((c, t.name, label, d))
        if log:
            log(c, t.name, label, d)
    return counts, findings


# -- optimizers / schedules / loop ----------------------------------------------------------------------------------
def _params(n=2):
    return [tg.Tensor(rnd(3, 2), requires_grad=True) for _ in range(n)]


def misc_cases():
    """(name, names, thunk) for the optimizer/scheduler/fit/callback/checkpoint surface."""
    C = []
    opt_specs = {
        optim.SGD: dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, dampening=0.0),
        optim.Adam: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, amsgrad=True),
        optim.AdamW: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, amsgrad=False),
        optim.RMSprop: dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.5, centered=True),
        optim.Adagrad: dict(lr=1e-2, lr_decay=0.01, weight_decay=0.0, initial_accumulator_value=0.1, eps=1e-10),
    }

    def step(opt, ps):
        for p in ps:
            p.grad = np.ones_like(p.data)
        opt.step()
        huge = any(isinstance(v, float) and abs(v) > 1e300 for g in opt.param_groups for v in g.values()
                   if not isinstance(v, list))
        for p in ps:
            if not huge and not np.all(np.isfinite(p.data)):
                raise AssertionError("SILENT non-finite parameter after step")
        return opt

    for cls, kw in opt_specs.items():
        nm = cls.__name__
        for key, base in kw.items():
            kind = "flag" if isinstance(base, bool) else "pair" if isinstance(base, tuple) else "float"
            bad = BAD_VALUES[kind] + ([(0.9,), (1.0, 0.999), (-0.1, 0.9), (0.9, 1.5), (0.9, float("nan"))]
                                      if kind == "pair" else [])
            for v in bad:
                k2 = dict(kw); k2[key] = v
                C.append((nm, [nm, key], f"{key}={_short(v)}",
                          (lambda c=cls, k=k2: step(c(_params(), **k), None) if False else _opt_step(c, k, step)),
                          ("arg", ("pair" if kind == "pair" else kind, v, False))))
        # weird params / groups
        for label, params in [("empty", []), ("none", None), ("ndarray", [rnd(2)]), ("int-tensor",
                              [tg.Tensor(np.ones(2, np.int64))]), ("dup", "dup"), ("generator", "gen"),
                              ("group-no-params", [{"lr": 0.1}]), ("group-bad-key", [{"params": _params(), "bogus": 1}]),
                              ("group-lr-str", [{"params": _params(), "lr": "x"}]),
                              ("group-overlap", "overlap"), ("str", "abc"), ("dict", {"params": _params()}),
                              ("nograd-param", [tg.Tensor(rnd(2))])]:
            def thunk(c=cls, params=params, kw=kw):
                if params == "dup":
                    p = _params(1); params = p + p
                elif params == "gen":
                    params = (p for p in _params())
                elif params == "overlap":
                    p = _params(1); params = [{"params": p}, {"params": p}]
                opt = c(params, **kw)
                ps = [p for g in opt.param_groups for p in g["params"]]
                return step(opt, ps)
            C.append((nm, [nm, "param", "group"], f"params:{label}", thunk, None))
        # state dicts
        for label, mut in [("not-dict", lambda sd: [1]), ("empty", lambda sd: {}),
                           ("no-state", lambda sd: {k: v for k, v in sd.items() if k != "state"}),
                           ("no-groups", lambda sd: {k: v for k, v in sd.items() if k != "param_groups"}),
                           ("extra-group", lambda sd: {**sd, "param_groups": sd["param_groups"] * 2}),
                           ("state-shape", "shape"), ("state-nan", "nan"), ("state-str-key", "strkey"),
                           ("group-lr-none", "lrnone"), ("other-opt", "other")]:
            def thunk(c=cls, kw=kw, label=label, mut=mut):
                ps = _params()
                opt = step(c(ps, **kw), ps)
                sd = opt.state_dict()
                if mut == "shape":
                    sd = _deep_map(sd, lambda a: np.zeros((7,)) if isinstance(a, np.ndarray) and a.ndim == 2 else a)
                elif mut == "nan":
                    sd = _deep_map(sd, lambda a: np.full_like(a, np.nan) if isinstance(a, np.ndarray) and
                                   a.dtype.kind == "f" else a)
                elif mut == "strkey":
                    sd = dict(sd); sd["state"] = {"zz": v for v in sd.get("state", {}).values()}
                elif mut == "lrnone":
                    sd = dict(sd); sd["param_groups"] = [dict(g, lr=None) for g in sd["param_groups"]]
                elif mut == "other":
                    other = optim.SGD if c is not optim.SGD else optim.Adam
                    ps2 = _params(); o2 = step(other(ps2, lr=0.1), ps2); sd = o2.state_dict()
                else:
                    sd = mut(sd)
                opt2 = c(ps, **kw)
                opt2.load_state_dict(sd)
                return step(opt2, ps)
            C.append((nm, [nm, "state", "param_groups", "load_state_dict"], f"state_dict:{label}", thunk, None))

        # gradients of the wrong kind, parameters resized after the optimizer took state
        for label, g in [("grad-f64", np.ones((3, 2))), ("grad-shape", np.ones((2, 3), np.float32)),
                         ("grad-bcast", np.ones(2, np.float32)), ("grad-int", np.ones((3, 2), np.int64)),
                         ("grad-list", [[1.0, 1.0]] * 3), ("grad-str", "x"), ("grad-scalar", np.float32(1)),
                         ("grad-f16", np.ones((3, 2), np.float16)), ("param-resized", "resize")]:
            def thunk(c=cls, kw=kw, g=g):
                ps = _params(1)
                opt = c(ps, **kw)
                ps[0].grad = np.ones((3, 2), np.float32)
                opt.step()
                if isinstance(g, str) and g == "resize":
                    ps[0].data = np.ones((4, 2), np.float32)
                    ps[0].grad = np.ones((4, 2), np.float32)
                else:
                    ps[0].grad = g
                opt.step()
                if not np.all(np.isfinite(ps[0].data)) or ps[0].data.dtype != np.float32:
                    raise AssertionError("SILENT parameter dtype/values changed")
            C.append((nm, [nm], f"step:{label}", thunk, None))

    # schedules
    def sched(cls, **kw):
        def thunk():
            ps = _params()
            opt = optim.SGD(ps, lr=0.1)
            s = cls(opt, **kw)
            for _ in range(5):
                for p in ps:
                    p.grad = np.ones_like(p.data)
                opt.step()
                s.step() if cls is not optim.ReduceLROnPlateau else s.step(1.0)
            lr = opt.param_groups[0]["lr"]
            if not (isinstance(lr, (float, int, np.floating)) and math.isfinite(lr)):
                raise AssertionError(f"SILENT lr became {lr!r}")
            return lr
        return thunk
    sched_specs = [
        (optim.StepLR, dict(step_size=2, gamma=0.5)), (optim.MultiStepLR, dict(milestones=[1, 3], gamma=0.5)),
        (optim.ExponentialLR, dict(gamma=0.9)), (optim.CosineAnnealingLR, dict(T_max=4, eta_min=0.0)),
        (optim.LambdaLR, dict(lr_lambda=lambda e: 0.9 ** e)),
        (optim.LinearLR, dict(start_factor=0.5, end_factor=1.0, total_iters=3)),
        (optim.LinearWarmup, dict(warmup_steps=3, start_factor=0.5)),
        (optim.OneCycleLR, dict(max_lr=0.5, total_steps=10, pct_start=0.3)),
        (optim.ReduceLROnPlateau, dict(mode="min", factor=0.5, patience=1, threshold=1e-4)),
    ]
    for cls, kw in sched_specs:
        nm = cls.__name__
        C.append((nm, [nm], "base", sched(cls, **kw), None))
        for key, base in kw.items():
            if callable(base):
                bad = [None, 1, "x", lambda e: "x", lambda e: float("nan"), lambda e: -1.0, lambda e: 1 / 0,
                       lambda: 1.0]
                kind = "callable"
            elif isinstance(base, list):
                bad = [None, [], [3, 1], [1, 1], [-1], [1.5], ["a"], 3, "13", [True]]
                kind = "list"
            elif isinstance(base, str):
                bad, kind = BAD_CHOICE, "choice"
            elif isinstance(base, int):
                bad, kind = BAD_INT, "int"
            else:
                bad, kind = BAD_FLOAT, "float"
            for v in bad:
                k2 = dict(kw); k2[key] = v
                C.append((nm, [nm, key], f"{key}={_short(v)}", sched(cls, **k2),
                          ("arg", (kind, v, False)) if kind in BAD_VALUES else None))
        C.append((nm, [nm, "optimizer"], "optimizer=None", lambda c=cls, kw=kw: c(None, **kw), None))
        C.append((nm, [nm, "optimizer"], "optimizer=list", lambda c=cls, kw=kw: c(_params(), **kw), None))

    # clip
    for fn, nm, good in [(optim.clip_grad_norm, "clip_grad_norm", 1.0), (optim.clip_grad_value, "clip_grad_value", 0.5)]:
        for v in BAD_FLOAT:
            def thunk(fn=fn, v=v):
                ps = _params()
                for p in ps:
                    p.grad = np.ones_like(p.data)
                r = fn(ps, v)
                for p in ps:
                    if not np.all(np.isfinite(p.grad)):
                        raise AssertionError("SILENT non-finite grad after clipping")
                return r
            C.append((nm, [nm, "max_norm", "clip_value"], f"arg={_short(v)}", thunk,
                      None if isinstance(v, float) and v == float("inf") else ("arg", ("float", v, False))))
        for label, ps in [("none", None), ("empty", []), ("nograd", "nograd"), ("ndarray", [np.ones(2)]),
                          ("nan-grad", "nan"), ("int-grad", "int")]:
            def thunk(fn=fn, ps=ps, good=good):
                if ps == "nograd":
                    ps = _params()
                elif ps == "nan":
                    ps = _params(); ps[0].grad = np.full_like(ps[0].data, np.nan); ps[1].grad = np.ones_like(ps[1].data)
                elif ps == "int":
                    ps = _params(); ps[0].grad = np.ones(ps[0].shape, np.int64)
                return fn(ps, good)
            C.append((nm, [nm], f"params:{label}", thunk, None))
    C.extend(loop_cases())
    C.extend(semantic_cases())
    C.extend(extra_cases())
    C.extend(checkpoint_cases())
    return C


def checkpoint_cases():
    """A valid fit(checkpoint=) file, one entry mutated (meta keys, arrays dropped/reshaped/NaN/retyped), then
    fit(resume=True): a clean refusal that changes nothing, or a correct resume."""
    import copy
    import json
    x = rnd(20, 5)
    y = np.random.default_rng(1).integers(0, 3, 20)

    def model():
        tg.manual_seed(0)
        m = nn.Sequential([nn.Dense(4, activation="relu"), nn.BatchNorm(), nn.Dense(3)], input_shape=(5,))
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
        return m
    d = tempfile.mkdtemp()
    good = os.path.join(d, "c.npz")
    model().fit(x, y, epochs=2, verbose=0, checkpoint=good, callbacks=[nn.EarlyStopping(monitor="loss", patience=5)])
    with np.load(good) as f:
        base = {k: f[k] for k in f.files}
    meta = json.loads(str(base["meta"]))
    muts = [
        ("drop-rng", lambda M, A: M.pop("rng")), ("rng-str", lambda M, A: M.__setitem__("rng", "x")),
        ("rng-state-str", lambda M, A: M.__setitem__("rng", {"bit_generator": "PCG64", "state": "x"})),
        ("epoch-neg", lambda M, A: M.__setitem__("epoch", -3)), ("epoch-str", lambda M, A: M.__setitem__("epoch", "2")),
        ("epoch-huge", lambda M, A: M.__setitem__("epoch", 10 ** 30)),
        ("epoch-float", lambda M, A: M.__setitem__("epoch", 1.5)),
        ("history-list", lambda M, A: M.__setitem__("history", [1])),
        ("history-ragged", lambda M, A: M["history"].__setitem__("loss", [1.0])),
        ("history-str", lambda M, A: M["history"].__setitem__("loss", ["a", "b"])),
        ("epochs_run-str", lambda M, A: M.__setitem__("epochs_run", "x")),
        ("optimizer-none", lambda M, A: M.__setitem__("optimizer", None)),
        ("optimizer-class", lambda M, A: M["optimizer"].__setitem__("class", "SGD")),
        ("optimizer-state-list", lambda M, A: M["optimizer"].__setitem__("state", [1])),
        ("callbacks-extra", lambda M, A: M["callbacks"].append({"class": "StepLR", "state": {}})),
        ("callbacks-none", lambda M, A: M.__setitem__("callbacks", None)),
        ("callbacks-missing", lambda M, A: M.__setitem__("callbacks", [])),
        ("callback-state-junk", lambda M, A: [c.__setitem__("state", {"wait": "x"}) for c in M["callbacks"]]),
        ("format-bad", lambda M, A: M.__setitem__("format", "x")),
        ("extra-array", lambda M, A: A.__setitem__("model/bogus", np.zeros(3))),
    ]
    for k in sorted(base):
        if k == "meta":
            continue
        muts += [(f"drop:{k}", lambda M, A, k=k: A.pop(k)),
                 (f"shape:{k}", lambda M, A, k=k: A.__setitem__(k, np.zeros((7, 7), A[k].dtype))),
                 (f"nan:{k}", lambda M, A, k=k: A.__setitem__(k, np.full(A[k].shape, np.nan))),
                 (f"str:{k}", lambda M, A, k=k: A.__setitem__(k, np.array("x")))]

    def thunk(mut):
        M = copy.deepcopy(meta)
        A = {k: v.copy() for k, v in base.items() if k != "meta"}
        mut(M, A)
        q = os.path.join(tempfile.mkdtemp(), "m.npz")
        np.savez(q, meta=np.array(json.dumps(M)), **A)
        m = model()
        before = [p.data.copy() for p in m.parameters()]
        try:
            m.fit(x, y, epochs=4, verbose=0, checkpoint=q, resume=True,
                  callbacks=[nn.EarlyStopping(monitor="loss", patience=5)])
        except Exception:
            if any(not np.array_equal(b, p.data) for b, p in zip(before, m.parameters())):
                raise AssertionError("SILENT half-applied checkpoint") from None
            raise
        if any(not np.all(np.isfinite(p.data)) for p in m.parameters()):
            raise AssertionError("SILENT non-finite parameters after resume")
    return [("fit", ["checkpoint", "resume"], f"ckpt:{label}", (lambda mut=mut: thunk(mut)), None)
            for label, mut in muts]


def _fwd_bwd(fn):
    """Run fn() under a tape; backward with ones when the result requires a gradient."""
    with tg.Tape() as tape:
        out = fn()
    o = out[0] if isinstance(out, tuple) else out
    if isinstance(o, tg.Tensor) and o.requires_grad:
        tape.backward(o, grad=np.ones(o.shape, o.dtype))
    return out


def _T(a):
    return tg.Tensor(np.asarray(a, np.float32), requires_grad=True)


def semantic_cases():
    """Valid-looking types, inconsistent meaning: every one must be refused with the op's name."""
    x = rnd(2, 4, 7, 7)
    p, labels = rnd(5, 4), np.array([0, 1, 2, 3, 1])
    ce = tg.losses.categorical_crossentropy
    cases = [
        ("conv2d", "groups-not-dividing", lambda: tg.conv2d(_T(x), _T(rnd(6, 1, 3, 3)), groups=3)),
        ("conv2d", "weight-channels", lambda: tg.conv2d(_T(x), _T(rnd(6, 3, 3, 3)))),
        ("conv2d", "kernel>input", lambda: tg.conv2d(_T(x), _T(rnd(6, 4, 9, 9)))),
        ("conv2d", "bias-shape", lambda: tg.conv2d(_T(x), _T(rnd(6, 4, 3, 3)), _T(rnd(5)))),
        ("conv_transpose2d", "output_padding>=stride", lambda: tg.conv_transpose2d(_T(x), _T(rnd(4, 2, 3, 3)),
                                                                                   stride=2, output_padding=2)),
        ("conv_transpose2d", "groups-not-dividing", lambda: tg.conv_transpose2d(_T(x), _T(rnd(4, 2, 3, 3)),
                                                                                groups=3)),
        ("conv_transpose2d", "padding-crops-all", lambda: tg.conv_transpose2d(_T(rnd(1, 4, 1, 1)),
                                                                              _T(rnd(4, 2, 1, 1)), padding=1)),
        ("conv1d", "groups-not-dividing", lambda: tg.conv1d(_T(rnd(2, 4, 9)), _T(rnd(6, 2, 3)), groups=3)),
        ("conv1d", "4d-input", lambda: tg.conv1d(_T(x), _T(rnd(6, 4, 3)))),
        ("max_pool2d", "pad>half-window", lambda: tg.max_pool2d(_T(x), 2, padding=2)),
        ("max_pool2d", "window>input", lambda: tg.max_pool2d(_T(x), 9)),
        ("avg_pool2d", "pad>half-window", lambda: tg.avg_pool2d(_T(x), 3, padding=(1, 2))),
        ("max_unpool2d", "indices-other-shape", lambda: tg.max_unpool2d(_T(rnd(2, 4, 3, 3)),
                                                                        np.zeros((2, 4, 2, 2), np.int64), 2)),
        ("max_unpool2d", "indices-out-of-range", lambda: tg.max_unpool2d(_T(rnd(2, 4, 3, 3)),
                                                                         np.full((2, 4, 3, 3), 99, np.int64), 2)),
        ("max_unpool2d", "indices-negative", lambda: tg.max_unpool2d(_T(rnd(2, 4, 3, 3)),
                                                                     np.full((2, 4, 3, 3), -1, np.int64), 2)),
        ("max_unpool2d", "output_size-bad", lambda: tg.max_unpool2d(*tg.max_pool2d(_T(x), 2, return_indices=True),
                                                                    2, output_size=(20, 20))),
        ("max_unpool2d", "indices-float", lambda: tg.max_unpool2d(_T(rnd(2, 4, 3, 3)),
                                                                  np.zeros((2, 4, 3, 3)), 2)),
        ("adaptive_avg_pool2d", "zero-size", lambda: tg.adaptive_avg_pool2d(_T(x), 0)),
        ("interpolate", "both-size-and-scale", lambda: tg.interpolate(_T(x), scale_factor=2, size=3)),
        ("interpolate", "scale-to-empty", lambda: tg.interpolate(_T(x), scale_factor=0.01)),
        ("interpolate", "align_corners-nearest", lambda: tg.interpolate(_T(x), scale_factor=2, align_corners=True)),
        ("pad", "negative>axis", lambda: tg.pad(_T(x), ((0, 0), (0, 0), (-8, 0), (0, 0)))),
        ("pad", "negative-both>axis", lambda: tg.pad(_T(x), ((0, 0), (0, 0), (-4, -4), (0, 0)))),
        ("pad", "wrong-rank-widths", lambda: tg.pad(_T(x), ((1, 1), (1, 1)))),
        ("pad", "value-with-reflect", lambda: tg.pad(_T(x), 1, mode="reflect", value=3)),
        ("flatten", "start>end", lambda: tg.flatten(_T(x), 3, 1)),
        ("flatten", "axis-out-of-range", lambda: tg.flatten(_T(x), 1, 9)),
        ("layer_norm", "shape-mismatch", lambda: tg.layer_norm(_T(x), (6, 7))),
        ("layer_norm", "weight-shape", lambda: tg.layer_norm(_T(x), (7,), _T(rnd(6)))),
        ("layer_norm", "too-many-dims", lambda: tg.layer_norm(_T(x), (1, 2, 4, 7, 7))),
        ("group_norm", "groups-not-dividing", lambda: tg.group_norm(_T(x), 3)),
        ("group_norm", "groups>C", lambda: tg.group_norm(_T(x), 8)),
        ("group_norm", "weight-shape", lambda: tg.group_norm(_T(x), 2, _T(rnd(3)))),
        ("categorical_crossentropy", "ignore_index>=C", lambda: ce(_T(p), labels, True, ignore_index=7)),
        ("categorical_crossentropy", "labels-out-of-range", lambda: ce(_T(p), labels + 4, True)),
        ("categorical_crossentropy", "labels-negative", lambda: ce(_T(p), labels - 2, True)),
        ("categorical_crossentropy", "class_weights-len", lambda: ce(_T(p), labels, True, class_weights=np.ones(3))),
        ("categorical_crossentropy", "class_weights-neg", lambda: ce(_T(p), labels, True,
                                                                     class_weights=-np.ones(4))),
        ("categorical_crossentropy", "class_weights-nan", lambda: ce(_T(p), labels, True,
                                                                     class_weights=np.full(4, np.nan))),
        ("categorical_crossentropy", "label_smoothing>1", lambda: ce(_T(p), labels, True, label_smoothing=1.5)),
        ("categorical_crossentropy", "label_smoothing-nan", lambda: ce(_T(p), labels, True,
                                                                       label_smoothing=float("nan"))),
        ("categorical_crossentropy", "ignore_index-probs", lambda: ce(_T(p), np.eye(4)[labels], True,
                                                                      ignore_index=1)),
        ("categorical_crossentropy", "1d-pred", lambda: ce(_T(rnd(4)), np.array(1), True)),
        ("categorical_crossentropy", "reduction-bad", lambda: ce(_T(p), labels, True, reduction="avg")),
        ("binary_crossentropy", "pos_weight-shape", lambda: tg.losses.binary_crossentropy(
            _T(p), (p > 0).astype(np.float32), True, pos_weight=np.ones(3))),
        ("binary_crossentropy", "pos_weight-neg", lambda: tg.losses.binary_crossentropy(
            _T(p), (p > 0).astype(np.float32), True, pos_weight=-np.ones(4))),
        ("binary_crossentropy", "target>1", lambda: tg.losses.binary_crossentropy(_T(p), p * 0 + 2, True)),
        ("binary_crossentropy", "pred-logits-as-probs", lambda: tg.losses.binary_crossentropy(
            _T(p), (p > 0).astype(np.float32))),
        ("huber", "delta-0", lambda: tg.losses.huber(_T(p), p, 0.0)),
        ("huber", "delta-neg", lambda: tg.losses.huber(_T(p), p, -1.0)),
        ("kl_divergence", "reduction-bad", lambda: tg.losses.kl_divergence(_T(p), p, reduction="avg")),
        ("kl_divergence", "shape-mismatch", lambda: tg.losses.kl_divergence(_T(p), p[:3])),
        ("mean_squared_error", "shape-broadcast", lambda: tg.losses.mean_squared_error(_T(p), p[:1])),
        ("mean_squared_error", "empty-mean", lambda: _nan_is_error(tg.losses.mean_squared_error(_T(p[:0]), p[:0]))),
    ]
    return [(op, [op], f"semantic:{label}", (lambda f=f: _fwd_bwd(f)), ("must-raise", None))
            for op, label, f in cases]


def _nan_is_error(out):
    if not np.all(np.isfinite(out.data)):
        raise AssertionError(f"SILENT non-finite loss {out.data} (PyTorch gives NaN too: documented?)")
    return out


def extra_cases():
    """viz, distributed (single process), metrics, loss objects, Sequential."""
    from tapegraph import viz
    x = rnd(6, 5)
    y = np.array([0, 1, 2, 0, 1, 2])
    C = []

    def trained():
        m = _model()
        with tg.Tape() as tape:
            loss = tg.losses.categorical_crossentropy(m(tg.tensor(x)), y, from_logits=True)
        tape.backward(loss)
        return m, tape, loss
    d = tempfile.mkdtemp()
    viz_cases = [
        ("render", "path-missing-dir", lambda: viz.render(trained()[1], "/nonexistent_dir_xyz/g.svg")),
        ("render", "bad-ext", lambda: viz.render(trained()[1], d + "/g.xyz")),
        ("render", "not-a-tape", lambda: viz.render(3, d + "/g.svg")),
        ("render", "none", lambda: viz.render(None, d + "/g.dot")),
        ("render", "max_nodes-0", lambda: viz.render(trained()[1], d + "/g.dot", max_nodes=0)),
        ("render", "max_nodes-str", lambda: viz.render(trained()[1], d + "/g.dot", max_nodes="x")),
        ("render", "group-bad", lambda: viz.render(trained()[1], d + "/g.dot", group="nope")),
        ("render", "collapse-neg", lambda: viz.render(trained()[1], d + "/g.dot", collapse=-1)),
        ("render", "cost-unprofiled", lambda: viz.render(trained()[1], d + "/g.dot", cost=True)),
        ("render", "unknown-option", lambda: viz.render(trained()[1], d + "/g.dot", bogus=1)),
        ("render", "empty-tape", lambda: viz.render(tg.Tape(), d + "/g.dot")),
        ("grad_stats", "none", lambda: viz.grad_stats(None)),
        ("grad_stats", "int", lambda: viz.grad_stats(3)),
        ("grad_stats", "no-grads", lambda: viz.grad_stats(_model())),
        ("grad_stats", "nan-grad", lambda: _grad_stats_nan()),
        ("plot_history", "none", lambda: viz.plot_history(None)),
        ("plot_history", "empty", lambda: viz.plot_history({})),
        ("plot_history", "ragged", lambda: viz.plot_history({"loss": [1, 2], "val_loss": [1]}, d + "/h.png")),
        ("plot_history", "nan", lambda: viz.plot_history({"loss": [1, float("nan")]}, d + "/h.png")),
        ("plot_history", "str-values", lambda: viz.plot_history({"loss": ["a", "b"]}, d + "/h.png")),
        ("plot_history", "metric-missing", lambda: viz.plot_history({"loss": [1, 2]}, d + "/h.png", metrics=["acc"])),
        ("plot_history", "missing-dir", lambda: viz.plot_history({"loss": [1, 2]}, "/nonexistent_dir_xyz/h.png")),
        ("plot_grad_flow", "none", lambda: viz.plot_grad_flow(None)),
        ("plot_grad_flow", "no-grads", lambda: viz.plot_grad_flow(_model(), d + "/f.png")),
        ("plot_grad_flow", "by-bad", lambda: viz.plot_grad_flow(trained()[0], d + "/f.png", by="nope")),
    ]
    for name, label, f in viz_cases:
        C.append((name, [name, "to_dot", "History.plot"], f"viz:{label}", f, None))
    dist = tg.distributed
    dist_cases = [
        ("allreduce", "op-bad", lambda: dist.allreduce(np.ones(3), op="median")),
        ("allreduce", "str", lambda: dist.allreduce("x")),
        ("allreduce", "none", lambda: dist.allreduce(None)),
        ("broadcast", "root-1", lambda: dist.broadcast(np.ones(3), root=1)),
        ("broadcast", "root-str", lambda: dist.broadcast(np.ones(3), root="0")),
        ("broadcast_parameters", "not-model", lambda: dist.broadcast_parameters(3)),
        ("allreduce_gradients", "none", lambda: dist.allreduce_gradients(None)),
        ("allreduce_gradients", "bucket-0", lambda: dist.allreduce_gradients(_params(), bucket_bytes=0)),
        ("allreduce_gradients", "bucket-str", lambda: dist.allreduce_gradients(_params(), bucket_bytes="x")),
        ("shard_for", "bad", lambda: dist.shard_for(np.arange(5), shard="x")),
        ("average_logs", "str", lambda: dist.average_logs({"loss": "x"})),
        ("average_logs", "none", lambda: dist.average_logs(None)),
        ("barrier", "timeout-neg", lambda: dist.barrier(timeout=-1)),
        ("init", "timeout-str", lambda: dist.init(timeout="x")),
        ("barrier", "timeout-str", lambda: dist.barrier(timeout="x")),
        ("barrier", "timeout-nan", lambda: dist.barrier(timeout=float("nan"))),
        ("primary_only", "not-callable", lambda: dist.primary_only(3)),
        ("broadcast_optimizer_state", "int", lambda: dist.broadcast_optimizer_state(3)),
        ("broadcast_buffers", "none", lambda: dist.broadcast_buffers(None)),
    ]
    for name, label, f in dist_cases:
        C.append((name, [name, "distributed"], f"dist:{label}", f,
                  ("must-raise", None) if name in ("barrier", "primary_only", "broadcast_optimizer_state",
                                                   "broadcast_buffers", "broadcast_parameters") else None))
    from tapegraph.nn import metrics as M
    met_cases = [
        ("Accuracy", "threshold-str", lambda: M.Accuracy(threshold="x").update(rnd(4, 1), np.ones((4, 1)))),
        ("Accuracy", "threshold-nan", lambda: _metric_nan(M.Accuracy(threshold=float("nan")))),
        ("Accuracy", "shape-mismatch", lambda: M.Accuracy().update(rnd(4, 3), np.array([0, 1]))),
        ("Accuracy", "labels-big", lambda: M.Accuracy().update(rnd(4, 3), np.array([0, 1, 7, 9]))),
        ("TopKAccuracy", "k-0", lambda: M.TopKAccuracy(k=0)),
        ("TopKAccuracy", "k-float", lambda: M.TopKAccuracy(k=1.5)),
        ("TopKAccuracy", "k>C", lambda: M.TopKAccuracy(k=9).update(rnd(4, 3), np.array([0, 1, 2, 0]))),
        ("TopKAccuracy", "labels-big", lambda: M.TopKAccuracy(k=2, name="TopKAccuracy").update(rnd(4, 3), np.array([0, 1, 7, 9]))),
        ("SparseCategoricalCrossentropy", "from_logits-str",
         lambda: nn.SparseCategoricalCrossentropy(from_logits="yes")(_T(rnd(4, 3)), np.array([0, 1, 2, 0]))),
        ("CategoricalCrossentropy", "labels", lambda: nn.CategoricalCrossentropy(from_logits=True)(
            _T(rnd(4, 3)), np.array([0, 1, 2, 0]))),
        ("BinaryCrossentropy", "shape", lambda: nn.BinaryCrossentropy()(_T(rnd(4, 1)), np.ones(3))),
        ("MeanSquaredError", "shape", lambda: nn.MeanSquaredError()(_T(rnd(4, 1)), np.ones((3, 1)))),
        ("Sequential", "not-layers", lambda: nn.Sequential([3, "x"])),
        ("Sequential", "input_shape-bad", lambda: nn.Sequential([nn.Dense(3)], input_shape="x")),
        ("Sequential", "input_shape-neg", lambda: nn.Sequential([nn.Dense(3)], input_shape=(-1,))),
        ("Sequential", "dtype-int", lambda: nn.Sequential([nn.Dense(3)], dtype=np.int32)),
        ("Sequential", "dup-layer", lambda: _dup_layer()),
        ("compile", "loss-int", lambda: _model().compile(optimizer="sgd", loss=3)),
        ("compile", "metrics-str", lambda: _model().compile(optimizer="sgd", loss="mse", metrics="accuracy")),
        ("compile", "lr-neg", lambda: _model().compile(optimizer="sgd", loss="mse", learning_rate=-1)),
        ("compile", "lr-str", lambda: _model().compile(optimizer="sgd", loss="mse", learning_rate="x")),
    ]
    for name, label, f in met_cases:
        C.append((name, [name], f"misc:{label}", f, None))
    return C


def _grad_stats_nan():
    from tapegraph import viz
    p = tg.Tensor(rnd(3), requires_grad=True)
    p.grad = np.full(3, np.nan, np.float32)
    return viz.grad_stats(p)


def _metric_nan(m):
    m.update(rnd(4, 1), np.ones((4, 1)))
    return m.result()


def _dup_layer():
    d = nn.Dense(3)
    m = nn.Sequential([d, d], input_shape=(3,))
    return m(tg.tensor(rnd(2, 3)))


def _opt_step(cls, kw, step):
    ps = _params()
    opt = cls(ps, **kw)
    return step(opt, ps)


def _deep_map(obj, f):
    if isinstance(obj, dict):
        return {k: _deep_map(v, f) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_map(v, f) for v in obj]
    return f(obj)


def _model():
    tg.manual_seed(0)
    m = nn.Sequential([nn.Dense(4, activation="relu"), nn.Dense(3)], input_shape=(5,))
    return m


def loop_cases():
    C = []
    x = rnd(20, 5)
    y = RNG.integers(0, 3, 20)

    def fit(**kw):
        def thunk():
            m = _model()
            m.compile(optimizer=kw.pop("optimizer", "adam"), loss=kw.pop("loss", "sparse_categorical_crossentropy"),
                      metrics=kw.pop("metrics", ["accuracy"]), from_logits=True)
            xx = kw.pop("x", x)
            yy = kw.pop("y", y)
            kw.setdefault("verbose", 0)
            h = m.fit(xx, yy, **kw)
            for k, v in h.history.items():
                if any(isinstance(e, float) and math.isnan(e) for e in v) and k != "loss":
                    raise AssertionError(f"SILENT NaN in history[{k!r}]")
            return h
        return thunk

    for v in [0, -1, 1.5, 2.0, None, "x", True, 10 ** 9, float("nan")]:
        C.append(("fit", ["fit", "batch_size"], f"batch_size={_short(v)}", fit(batch_size=v), ("arg", ("int", v, True))))
    for v in [0, -1, 1.5, None, "x", True, float("inf")]:
        C.append(("fit", ["fit", "epochs"], f"epochs={_short(v)}", fit(epochs=v), ("arg", ("int", v, False))))
    for v in [1.0, -0.1, 1.5, 0.99, "x", None, float("nan"), True]:
        C.append(("fit", ["fit", "validation_split"], f"validation_split={_short(v)}", fit(validation_split=v),
                  ("arg", ("float", v, True))))
    for label, kw in [("y-short", dict(y=y[:-3])), ("x-empty", dict(x=x[:0], y=y[:0])), ("y-none", dict(y=None)),
                      ("x-none", dict(x=None)), ("x-list", dict(x=x.tolist(), y=y.tolist())),
                      ("x-3d", dict(x=x[:, :, None])), ("x-wrong-feat", dict(x=x[:, :3])),
                      ("y-float", dict(y=y + 0.5)), ("y-2d", dict(y=y[:, None])), ("y-big", dict(y=y + 10)),
                      ("x-nan", dict(x=np.full_like(x, np.nan))), ("x-int", dict(x=x.astype(np.int64))),
                      ("x-str", dict(x=x.astype(str))), ("x-dict", dict(x={"a": x})),
                      ("val-data-bad", dict(validation_data=(x[:3],))), ("val-data-mismatch",
                                                                         dict(validation_data=(x[:3], y[:2]))),
                      ("val-data-empty", dict(validation_data=(x[:0], y[:0]))),
                      ("shuffle-str", dict(shuffle="x")), ("initial-epoch-big", dict(initial_epoch=5, epochs=2)),
                      ("callbacks-not-list", dict(callbacks=3)), ("callbacks-obj", dict(callbacks=[object()])),
                      ("loss-bad", dict(loss="nope")), ("metric-bad", dict(metrics=["nope"])),
                      ("opt-bad", dict(optimizer="nope")), ("opt-int", dict(optimizer=3)),
                      ("class-weight-bad", dict(class_weight={0: "x"})),
                      ("steps-bad", dict(steps_per_epoch=-1)), ("verbose-bad", dict(verbose="loud"))]:
        C.append(("fit", ["fit", label.split("-")[0]], label, fit(**kw), None))
    # callbacks
    cbs = [
        ("EarlyStopping-monitor", lambda: nn.EarlyStopping(monitor="nope")),
        ("EarlyStopping-mode", lambda: nn.EarlyStopping(mode="sideways")),
        ("EarlyStopping-patience", lambda: nn.EarlyStopping(patience=-1)),
        ("EarlyStopping-patience-float", lambda: nn.EarlyStopping(patience=1.5)),
        ("EarlyStopping-min_delta-nan", lambda: nn.EarlyStopping(min_delta=float("nan"))),
        ("EarlyStopping-baseline-str", lambda: nn.EarlyStopping(baseline="x")),
        ("ModelCheckpoint-missing-dir", lambda: nn.ModelCheckpoint("/nonexistent_dir_xyz/m.npz", monitor="loss")),
        ("ModelCheckpoint-readonly", lambda: nn.ModelCheckpoint(_readonly_dir() + "/m.npz", monitor="loss")),
        ("ModelCheckpoint-dir", lambda: nn.ModelCheckpoint(tempfile.mkdtemp(), monitor="loss")),
        ("ModelCheckpoint-monitor", lambda: nn.ModelCheckpoint(tempfile.mkdtemp() + "/m.npz", monitor="nope",
                                                               save_best_only=True)),
        ("ModelCheckpoint-none", lambda: nn.ModelCheckpoint(None)),
        ("ModelCheckpoint-fmt", lambda: nn.ModelCheckpoint(tempfile.mkdtemp() + "/m{nope}.npz")),
        ("CSVLogger-missing-dir", lambda: nn.CSVLogger("/nonexistent_dir_xyz/log.csv")),
        ("CSVLogger-readonly", lambda: nn.CSVLogger(_readonly_dir() + "/log.csv")),
        ("CSVLogger-sep", lambda: nn.CSVLogger(tempfile.mkdtemp() + "/log.csv", separator="")),
        ("LRS-none", lambda: nn.LearningRateScheduler(None)),
        ("LRS-returns-str", lambda: nn.LearningRateScheduler(lambda e, lr: "x")),
        ("LRS-returns-nan", lambda: nn.LearningRateScheduler(lambda e, lr: float("nan"))),
        ("LRS-returns-neg", lambda: nn.LearningRateScheduler(lambda e, lr: -1.0)),
        ("LRS-one-arg", lambda: nn.LearningRateScheduler(lambda e: 0.1)),
        ("LRS-raises", lambda: nn.LearningRateScheduler(lambda e, lr: 1 / 0)),
    ]
    for label, mk in cbs:
        who = label.split("-")[0].replace("LRS", "LearningRateScheduler")
        C.append((who, [who, "cannot write", "no such file"],
                  label, (lambda mk=mk: fit(callbacks=[mk()], validation_split=0.2, epochs=2)()), None))
    # evaluate / predict
    for label, kw in [("none", dict(x=None)), ("empty", dict(x=x[:0])), ("bs0", dict(batch_size=0)),
                      ("wrong-feat", dict(x=x[:, :2]))]:
        def thunk(kw=kw):
            m = _model(); m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            return m.predict(kw.get("x", x), batch_size=kw.get("batch_size", 8))
        C.append(("predict", ["predict", "batch_size", "x"], label, thunk, None))
        def thunk2(kw=kw):
            m = _model(); m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            return m.evaluate(kw.get("x", x), y if kw.get("x", x) is x else None, batch_size=kw.get("batch_size", 8))
        C.append(("evaluate", ["evaluate", "batch_size", "x", "y"], label, thunk2, None))
    # save / load / resume
    for label, path in [("missing-dir", "/nonexistent_dir_xyz/w.npz"), ("dir", "DIR"), ("readonly", "RO"),
                        ("none", None), ("int", 3)]:
        def thunk(path=path):
            p = tempfile.mkdtemp() if path == "DIR" else _readonly_dir() + "/w.npz" if path == "RO" else path
            m = _model(); m(tg.tensor(x[:2])); m.save(p)
        C.append(("save", ["save", "directory", "w.npz"], f"save:{label}", thunk,
                  None))
        def thunk2(path=path):
            p = tempfile.mkdtemp() if path == "DIR" else _readonly_dir() + "/w.npz" if path == "RO" else path
            m = _model(); m(tg.tensor(x[:2])); m.load_weights(p)
        C.append(("load_weights", ["load", "directory", "no such", "w.npz"], f"load:{label}",
                  thunk2, None))
    for label, kw in [("ckpt-missing-dir", dict(checkpoint="/nonexistent_dir_xyz/c.npz", resume=True)),
                      ("ckpt-dir", dict(checkpoint="DIR", resume=True)),
                      ("ckpt-garbage", dict(checkpoint="GARBAGE", resume=True)),
                      ("ckpt-other-model", dict(checkpoint="OTHER", resume=True))]:
        def thunk(kw=kw):
            kw = dict(kw)
            if kw["checkpoint"] == "DIR":
                kw["checkpoint"] = tempfile.mkdtemp()
            elif kw["checkpoint"] == "GARBAGE":
                p = tempfile.mkdtemp() + "/c.npz"
                open(p, "wb").write(b"garbage" * 10)
                kw["checkpoint"] = p
            elif kw["checkpoint"] == "OTHER":
                p = tempfile.mkdtemp() + "/c.npz"
                tg.manual_seed(0)
                m = nn.Sequential([nn.Dense(7), nn.Dense(3)], input_shape=(5,))
                m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
                m.fit(x, y, epochs=1, verbose=0, checkpoint=p)
                kw["checkpoint"] = p
            return fit(epochs=2, **kw)()
        C.append(("fit", ["fit", "checkpoint", "resume", "c.npz"], label, thunk, None))
    return C


_RO = []


def _readonly_dir():
    if not _RO:
        d = tempfile.mkdtemp()
        os.chmod(d, 0o500)
        _RO.append(d)
    return _RO[0]


class _MiscTarget:
    def __init__(self, name, names):
        self.name = name
        self.names = [n.lower() for n in names]


def run_misc(cases_, log=None):
    counts, findings = {}, []
    for name, names, label, thunk, check in cases_:
        t = _MiscTarget(name, names[:1] if STRICT else names)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(20)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                thunk()
            c, d = "OK", ""
            if check and check[0] == "must-raise":
                c, d = "SILENT", "accepted: expected an error"
            elif check and check[0] == "arg":
                kind, v, nullable = check[1]
                if must_refuse(kind, v, nullable):
                    c, d = "SILENT", f"accepted {_short(v)}"
                elif suspicious(kind, v):
                    c, d = "SUSPECT", f"accepted {_short(v)}"
        except Exception as e:  # noqa: BLE001
            c = classify_exc(e, t)
            d = f"{type(e).__name__}: {str(e)[:160]}"
            if c == "BARE":
                tb = traceback.extract_tb(e.__traceback__)[-1]
                d += f"  @ {tb.filename.split('tapegraph/')[-1]}:{tb.lineno}"
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        counts[c] = counts.get(c, 0) + 1
        if c not in ("OK", "CLEAN"):
            findings.append((c, name, label, d))
        if log:
            log(c, name, label, d)
    return counts, findings
