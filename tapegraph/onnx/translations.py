"""One translation per tape op: ``fn(g, record) -> ONNX value name of record.output``.

``g`` is the ``builder.Graph``: ``g.x(record, i)`` names input i (constants become initializers), ``g.op(type,
inputs, **attrs)`` appends an ONNX node and returns its output, ``g.ints``/``g.scalar``/``g.const`` make
initializers, ``g.fail(record, msg)`` builds the ExportError. Attributes are read from ``record.attrs`` as the op
recorded them (ops store their resolved values: pads, strides); options that arrived after an op was first written
are read with ``.get`` and their default. Adding an op: one ``@translates("name")`` function.
"""
from __future__ import annotations

import math

import numpy as np

TRANSLATIONS: dict = {}


def translates(*names):
    """Register the decorated function as the translation of the tape ops ``names``."""
    def deco(fn):
        for n in names:
            TRANSLATIONS[n] = fn
        return fn
    return deco


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else tuple(int(u) for u in v)


def _pads2d(padding):
    """((top, bottom), (left, right)) -> ONNX [top, left, bottom, right]."""
    (t, b), (l, r) = padding
    return [int(t), int(l), int(b), int(r)]


# -- elementwise ---------------------------------------------------------------------------------------------------
def _simple(op_type, arity):
    def fn(g, r):
        return g.op(op_type, [g.x(r, i) for i in range(arity)])
    fn.__name__ = f"_{op_type.lower()}"
    return fn


for _name, _type, _arity in [("add", "Add", 2), ("sub", "Sub", 2), ("mul", "Mul", 2), ("div", "Div", 2),
                             ("pow", "Pow", 2), ("maximum", "Max", 2), ("minimum", "Min", 2), ("neg", "Neg", 1),
                             ("exp", "Exp", 1), ("log", "Log", 1), ("sqrt", "Sqrt", 1), ("abs", "Abs", 1),
                             ("relu", "Relu", 1), ("sigmoid", "Sigmoid", 1), ("tanh", "Tanh", 1),
                             ("where", "Where", 3)]:
    TRANSLATIONS[_name] = _simple(_type, _arity)


@translates("pow_scalar")
def _pow_scalar(g, r):
    x = r.inputs[0]
    return g.op("Pow", [g.x(r), g.scalar(r.attrs["exponent"], x)])


@translates("clip")
def _clip(g, r):
    x = r.inputs[0]
    lo, hi = r.attrs["lo"], r.attrs["hi"]
    return g.op("Clip", [g.x(r), "" if lo is None else g.scalar(lo, x), "" if hi is None else g.scalar(hi, x)])


# -- activations ---------------------------------------------------------------------------------------------------
@translates("leaky_relu")
def _leaky_relu(g, r):
    return g.op("LeakyRelu", [g.x(r)], alpha=float(r.attrs["negative_slope"]))


@translates("softmax", "log_softmax")
def _softmax(g, r):
    return g.op("Softmax" if r.name == "softmax" else "LogSoftmax", [g.x(r)], axis=int(r.attrs["axis"]))


@translates("gelu")
def _gelu(g, r):
    x, t = g.x(r), r.inputs[0]
    approx = r.attrs.get("approximate", "none")
    if g.opset >= 20:
        return g.op("Gelu", [x], approximate=approx)
    if approx == "tanh":                  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.op("Mul", [g.op("Mul", [x, x]), x])
        inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715, t)])]),
                             g.scalar(math.sqrt(2 / math.pi), t)])
        one_plus = g.op("Add", [g.op("Tanh", [inner]), g.scalar(1.0, t)])
    else:                                 # 0.5 x (1 + erf(x / sqrt 2))
        one_plus = g.op("Add", [g.op("Erf", [g.op("Mul", [x, g.scalar(1 / math.sqrt(2), t)])]), g.scalar(1.0, t)])
    return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5, t)]), one_plus])


@translates("silu")
def _silu(g, r):
    x = g.x(r)
    return g.op("Mul", [x, g.op("Sigmoid", [x])])


@translates("elu")
def _elu(g, r):
    return g.op("Elu", [g.x(r)], alpha=float(r.attrs["alpha"]))


@translates("softplus")
def _softplus(g, r):
    """PyTorch's: log(1 + exp(beta x)) / beta, and x where beta x > threshold."""
    x, t = g.x(r), r.inputs[0]
    beta, threshold = float(r.attrs["beta"]), float(r.attrs["threshold"])
    bx = x if beta == 1 else g.op("Mul", [x, g.scalar(beta, t)])
    soft = g.op("Softplus", [bx])
    if beta != 1:
        soft = g.op("Div", [soft, g.scalar(beta, t)])
    return g.op("Where", [g.op("Greater", [bx, g.scalar(threshold, t)]), x, soft])


@translates("hard_sigmoid")
def _hard_sigmoid(g, r):
    return g.op("HardSigmoid", [g.x(r)], alpha=1 / 6, beta=0.5)     # relu6(x + 3) / 6


@translates("hard_swish")
def _hard_swish(g, r):
    return g.op("HardSwish", [g.x(r)])


@translates("dropout")
def _dropout(g, r):
    """Inference: dropout is the identity (a training-mode record is exported as its eval form)."""
    return g.x(r)


# -- matmul (Gemm when a bias add follows) ---------------------------------------------------------------------------
@translates("matmul")
def _matmul(g, r):
    a, b = r.inputs[:2]
    nxt = g.next_record(r)
    if (len(a.shape) == 2 and len(b.shape) == 2 and nxt is not None and nxt.name == "add"
            and g.uses.get(id(r.output)) == 1 and any(t is r.output for t in nxt.inputs)):
        bias = nxt.inputs[1] if nxt.inputs[0] is r.output else nxt.inputs[0]
        m = b.shape[1]
        if tuple(bias.shape) in ((m,), (1, m)) and bias.dtype == r.output.dtype:
            out = g.op("Gemm", [g.x(r, 0), g.x(r, 1), g.value(bias, nxt)])
            g.fuse(nxt, out)
            return out
    return g.op("MatMul", [g.x(r, 0), g.x(r, 1)])


# -- convolution ---------------------------------------------------------------------------------------------------
def _bias(g, r):
    return [g.x(r, 2)] if len(r.inputs) > 2 else []


@translates("conv2d")
def _conv2d(g, r):
    a = r.attrs
    return g.op("Conv", [g.x(r, 0), g.x(r, 1)] + _bias(g, r), kernel_shape=list(r.inputs[1].shape[2:]),
                pads=_pads2d(a["padding"]), strides=list(_pair(a["stride"])), dilations=list(_pair(a["dilation"])),
                group=int(a.get("groups", 1)))


@translates("conv1d")
def _conv1d(g, r):
    a = r.attrs
    left, right = _pair(a["padding"])
    return g.op("Conv", [g.x(r, 0), g.x(r, 1)] + _bias(g, r), kernel_shape=[int(r.inputs[1].shape[2])],
                pads=[left, right], strides=[int(a["stride"])], dilations=[int(a["dilation"])],
                group=int(a.get("groups", 1)))


@translates("conv_transpose2d")
def _conv_transpose2d(g, r):
    a = r.attrs
    return g.op("ConvTranspose", [g.x(r, 0), g.x(r, 1)] + _bias(g, r), kernel_shape=list(r.inputs[1].shape[2:]),
                pads=_pads2d(a["padding"]), strides=list(_pair(a["stride"])), dilations=list(_pair(a["dilation"])),
                output_padding=list(_pair(a.get("output_padding", 0))), group=int(a.get("groups", 1)))


# -- pooling -------------------------------------------------------------------------------------------------------
def _pool_geometry(r):
    """(kernel, strides, dilation, pads, overhang): the overhang (bottom, right) is what ceil_mode adds past the
    padding, recovered from the recorded output size."""
    a = r.attrs
    k, st = _pair(a["pool_size"]), _pair(a["strides"])
    d = _pair(a.get("dilation", 1))
    pads = a["padding"]
    extra = []
    for size, (before, after), kk, dd, s, o in zip(r.inputs[0].shape[2:], pads, k, d, st, r.output.shape[2:]):
        ke = dd * (kk - 1) + 1
        extra.append(max(0, (o - 1) * s + ke - (size + before + after)))
    return k, st, d, pads, extra


@translates("max_pool2d")
def _max_pool2d(g, r):
    k, st, d, pads, extra = _pool_geometry(r)
    # The ceil_mode overhang is padding with -inf: the same windows as ceil_mode, with PyTorch's output size.
    full = _pads2d(((pads[0][0], pads[0][1] + extra[0]), (pads[1][0], pads[1][1] + extra[1])))
    return g.op("MaxPool", [g.x(r)], kernel_shape=list(k), strides=list(st), pads=full,
                dilations=None if d == (1, 1) else list(d))


@translates("avg_pool2d")
def _avg_pool2d(g, r):
    k, st, _, pads, extra = _pool_geometry(r)
    include = bool(r.attrs.get("count_include_pad", False))
    if include and any(extra):
        # PyTorch counts the declared padding but not the ceil_mode overhang: ONNX's ceil_mode does the same.
        return g.op("AveragePool", [g.x(r)], kernel_shape=list(k), strides=list(st), pads=_pads2d(pads),
                    ceil_mode=1, count_include_pad=1)
    full = _pads2d(((pads[0][0], pads[0][1] + extra[0]), (pads[1][0], pads[1][1] + extra[1])))
    return g.op("AveragePool", [g.x(r)], kernel_shape=list(k), strides=list(st), pads=full,
                count_include_pad=int(include))


@translates("adaptive_avg_pool2d", "adaptive_max_pool2d")
def _adaptive_pool(g, r):
    (h, w), (oh, ow) = r.inputs[0].shape[2:], r.output.shape[2:]
    kind = "Average" if r.name == "adaptive_avg_pool2d" else "Max"
    if (oh, ow) == (1, 1):
        return g.op(f"Global{kind}Pool", [g.x(r)])
    if h % oh or w % ow:
        raise g.fail(r, f"output_size ({oh}, {ow}) does not divide the input's spatial size ({h}, {w}); ONNX has "
                        f"no adaptive pooling (export with an input size that is a multiple of the output size)")
    k = [h // oh, w // ow]
    return g.op(f"{kind}Pool", [g.x(r)], kernel_shape=k, strides=k)


# -- normalisation -------------------------------------------------------------------------------------------------
@translates("batch_norm")
def _batch_norm(g, r):
    if len(r.inputs) < 5:
        raise g.fail(r, "batch_norm was recorded in training mode (batch statistics); record in eval mode "
                        "(model.eval()) so the running statistics are used")
    return g.op("BatchNormalization", [g.x(r, i) for i in range(5)], epsilon=float(r.attrs["epsilon"]))


@translates("layer_norm")
def _layer_norm(g, r):
    a, t = r.attrs, r.inputs[0]
    k = int(a["normalized_ndim"])
    if g.opset < 17:
        raise g.fail(r, f"LayerNormalization needs opset >= 17, got opset {g.opset}")
    params = [g.x(r, i) for i in range(1, len(r.inputs))]
    shape = t.shape[len(t.shape) - k:]
    scale = params[0] if a["has_weight"] else g.const(np.ones(shape, dtype=t.dtype), "ones")
    bias = [params[-1]] if a["has_bias"] else []
    return g.op("LayerNormalization", [g.x(r), scale] + bias, axis=-k, epsilon=float(a["eps"]))


@translates("group_norm")
def _group_norm(g, r):
    """InstanceNormalization over (N, G, C/G * spatial), then the per-channel affine."""
    a, t = r.attrs, r.inputs[0]
    groups, c = int(a["num_groups"]), int(t.shape[1])
    x = g.x(r)
    grouped = g.op("Reshape", [x, g.ints([0, groups, -1])])
    normed = g.op("InstanceNormalization", [grouped, g.const(np.ones(groups, t.dtype), "ones"),
                                            g.const(np.zeros(groups, t.dtype), "zeros")], epsilon=float(a["eps"]))
    out = g.op("Reshape", [normed, g.op("Shape", [x])])
    cshape = [c] + [1] * (len(t.shape) - 2)
    params = list(range(1, len(r.inputs)))
    if a["has_weight"]:
        out = g.op("Mul", [out, g.op("Reshape", [g.x(r, params[0]), g.ints(cshape)])])
    if a["has_bias"]:
        out = g.op("Add", [out, g.op("Reshape", [g.x(r, params[-1]), g.ints(cshape)])])
    return out


# -- shape ---------------------------------------------------------------------------------------------------------
@translates("reshape")
def _reshape(g, r):
    x = g.x(r)
    return g.op("Reshape", [x, g.batch_aware_shape(x, r.output.shape)])


@translates("transpose")
def _transpose(g, r):
    nd = len(r.inputs[0].shape)
    axes = r.attrs["axes"]
    perm = list(range(nd))[::-1] if axes is None else [int(v) % nd for v in axes]
    return g.op("Transpose", [g.x(r)], perm=perm)


@translates("broadcast_to")
def _broadcast_to(g, r):
    x = g.x(r)
    dims = [int(s) for s in r.output.shape]
    if g.batch is not None and x in g.batched and dims and dims[0] == g.batch:
        dims[0] = 1                       # Expand broadcasts both ways: 1 keeps the input's (symbolic) batch
    return g.op("Expand", [x, g.ints(dims)])


@translates("squeeze")
def _squeeze(g, r):
    shape = r.inputs[0].shape
    axis = r.attrs["axis"]
    if axis is None:
        axes = [i for i, s in enumerate(shape) if s == 1]
    else:
        axes = [int(v) % len(shape) for v in ((axis,) if np.isscalar(axis) else axis)]
    return g.op("Squeeze", [g.x(r), g.ints(axes)])


@translates("unsqueeze")
def _unsqueeze(g, r):
    axis = r.attrs["axis"]
    nd = len(r.output.shape)
    axes = [int(v) % nd for v in ((axis,) if np.isscalar(axis) else axis)]
    return g.op("Unsqueeze", [g.x(r), g.ints(axes)])


@translates("concatenate")
def _concatenate(g, r):
    nd = len(r.output.shape)
    return g.op("Concat", [g.x(r, i) for i in range(len(r.inputs))], axis=int(r.attrs["axis"]) % nd)


@translates("stack")
def _stack(g, r):
    ax = int(r.attrs["axis"]) % len(r.output.shape)
    parts = [g.op("Unsqueeze", [g.x(r, i), g.ints([ax])]) for i in range(len(r.inputs))]
    return g.op("Concat", parts, axis=ax)


@translates("pad")
def _pad(g, r):
    t = r.inputs[0]
    pw = np.asarray(r.attrs["pad_width"], dtype=np.int64).reshape(len(t.shape), 2)
    mode = r.attrs.get("mode", "constant")
    onnx_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge"}.get(mode)
    if onnx_mode is None:
        raise g.fail(r, f"pad mode {mode!r} has no ONNX equivalent")
    inputs = [g.x(r), g.ints(list(pw[:, 0]) + list(pw[:, 1]))]
    if mode == "constant":
        inputs.append(g.scalar(r.attrs.get("value", 0), t))
    return g.op("Pad", inputs, mode=onnx_mode)


_INT64_MIN = -(2 ** 63)


@translates("getitem")
def _getitem(g, r):
    """Basic indexing (ints, slices, None, Ellipsis) as Slice/Squeeze/Unsqueeze; one integer array as Gather."""
    index = r.attrs["index"]
    shape = r.inputs[0].shape
    x = g.x(r)
    if isinstance(index, np.ndarray) and index.dtype.kind in "iu":
        return g.op("Gather", [x, g.const(index.astype(np.int64), "indices")], axis=0)
    items = index if isinstance(index, tuple) else (index,)
    basic = all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)
    if not basic or any(isinstance(i, (bool, np.bool_)) for i in items):
        raise g.fail(r, f"only ints, slices, None, Ellipsis or one integer array are translated, got {index!r}")
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items = items[:at] + (slice(None),) * (len(shape) - consumed) + items[at + 1:]
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    ax = out_ax = 0
    for it in items:
        if it is None:
            unsqueeze.append(out_ax)
            out_ax += 1
            continue
        dim = shape[ax]
        if isinstance(it, slice):
            if it != slice(None):
                start, stop, step = it.indices(dim)
                if step < 0 and stop < 0:
                    stop = _INT64_MIN         # through index 0
                starts.append(start), ends.append(stop), axes.append(ax), steps.append(step)
            out_ax += 1
        else:
            i = int(it) % dim
            starts.append(i), ends.append(i + 1), axes.append(ax), steps.append(1)
            squeeze.append(ax)
        ax += 1
    out = x
    if axes:
        out = g.op("Slice", [out, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if squeeze:
        out = g.op("Squeeze", [out, g.ints(squeeze)])
    if unsqueeze:
        out = g.op("Unsqueeze", [out, g.ints(unsqueeze)])
    if out is x:
        out = g.op("Identity", [x])
    return out


@translates("interpolate")
def _interpolate(g, r):
    """Resize with PyTorch's index rules: nearest = asymmetric + floor, nearest-exact = half_pixel + round half up,
    bilinear = pytorch_half_pixel (align_corners=False) or align_corners."""
    a, t = r.attrs, r.inputs[0]
    mode, align = a["mode"], bool(a.get("align_corners", False))
    if mode == "nearest":
        kw = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif mode == "nearest-exact":
        kw = dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    elif mode == "bilinear":
        kw = dict(mode="linear", coordinate_transformation_mode="align_corners" if align else "pytorch_half_pixel")
    else:
        raise g.fail(r, f"interpolate mode {mode!r} is not translated")
    x = g.x(r)
    scales = a.get("scales")
    if scales is not None and all(s is not None for s in scales) and not align:
        # PyTorch maps with 1 / scale_factor when one was given: so does Resize with scales.
        sc = g.const(np.array([1.0, 1.0] + [float(s) for s in scales], dtype=np.float32), "scales")
        return g.op("Resize", [x, "", sc], **kw)
    size = [int(s) for s in r.output.shape[2:]]
    lead = g.op("Slice", [g.op("Shape", [x]), g.ints([0]), g.ints([2])])
    sizes = g.op("Concat", [lead, g.ints(size)], axis=0)
    return g.op("Resize", [x, "", "", sizes], **kw)


# -- reductions ----------------------------------------------------------------------------------------------------
def _axes(r):
    nd = len(r.inputs[0].shape)
    axis = r.attrs["axis"]
    if axis is None:
        return list(range(nd))
    return sorted(int(v) % nd for v in ((axis,) if np.isscalar(axis) else axis))


@translates("sum", "mean", "max", "min")
def _reduce(g, r):
    op_type = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"}[r.name]
    return g.reduce(op_type, g.x(r), _axes(r), bool(r.attrs["keepdims"]))


@translates("var")
def _var(g, r):
    x, t = g.x(r), r.inputs[0]
    axes = _axes(r)
    count = int(np.prod([t.shape[a] for a in axes])) if axes else 1
    centred = g.op("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
    out = g.reduce("ReduceSum", g.op("Mul", [centred, centred]), axes, bool(r.attrs["keepdims"]))
    return g.op("Div", [out, g.scalar(count - int(r.attrs["ddof"]), t)])
