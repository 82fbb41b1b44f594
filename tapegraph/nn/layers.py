"""Keras-style layers. A layer holds Parameters and calls ops (looked up on the ``tapegraph`` package at call time);
it creates its parameters from the first input's shape, or eagerly with ``build(input_shape)`` (batch axis
included, may be None). Layer inputs are NCHW images or (batch, features) matrices.
"""
from __future__ import annotations

import math
import sys

import numpy as np

import tapegraph as _tg

from ..function import check_fits
from ..ops.dropout import check_rate
from ..tensor import DEFAULT_FLOAT, Tensor
from . import init as _init
from .module import Module, ModuleList, Parameter


def _positive_int(v, what, who) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
        raise ValueError(f"{who}: {what} must be a positive int, got {v!r}")
    return int(v)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _pair(v, what, who):
    """A positive int or a pair of them (ints, not bools or floats: ``(2, True)`` and ``2.0`` are refused)."""
    if _is_int(v):
        v = (int(v), int(v))
    ok = isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_int(e) and e > 0 for e in v)
    if not ok:
        raise ValueError(f"{who}: {what} must be a positive int or a pair of them (ints, not bools or floats), "
                         f"got {v!r}")
    return int(v[0]), int(v[1])


def _make_param(init, shape, fan_in, fan_out, rng, dt, who):
    """init(...) -> Parameter; a shape larger than the machine (filters=10**12) raises a MemoryError naming the layer,
    before the initializer runs. Other errors of the initializer (a user's own) pass through as they are."""
    nbytes = math.prod(int(d) for d in shape) * np.dtype(dt).itemsize
    check_fits(who, nbytes, f"a parameter of shape {tuple(shape)} ({np.dtype(dt)})")
    try:
        return Parameter(init(shape, fan_in, fan_out, rng, dt), dtype=dt)
    except MemoryError as e:
        raise MemoryError(f"{who}: cannot allocate a parameter of shape {tuple(shape)} ({np.dtype(dt)}, {nbytes} "
                          f"bytes): {e}") from None


def _ints(v, n: int, what: str, who: str, minimum: int = 1) -> tuple:
    """An int or a length-``n`` sequence of ints (not bools, not floats) -> n-tuple, every entry >= ``minimum``."""
    items = (v,) * n if not isinstance(v, (tuple, list)) else tuple(v)
    kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    kind += "" if n == 1 else " or a pair of them" if n == 2 else f" or {n} of them"
    if len(items) != n or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items):
        raise TypeError(f"{who}: {what} must be {kind} (ints, not bools or floats), got {v!r}")
    if min(items) < minimum:
        raise ValueError(f"{who}: {what} must be {kind}, got {v!r}")
    return tuple(int(i) for i in items)


# Activation names accepted everywhere (resolved on tapegraph.ops when the layer runs, so ops added later work);
# any other public function of tapegraph.ops.activation is accepted too. "linear" is the identity (Keras).
ACTIVATION_NAMES = ("relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "gelu", "silu", "swish",
                    "elu", "selu", "softplus", "softsign", "hard_sigmoid", "hard_swish", "relu6", "mish", "linear")


def _activation_names() -> list:
    from .. import ops
    from ..ops import activation as act
    names = {n for n in ACTIVATION_NAMES if n == "linear" or callable(getattr(ops, n, None))}
    names |= {n for n in dir(act) if not n.startswith("_") and callable(getattr(act, n))
              and getattr(getattr(act, n), "__module__", "") == act.__name__ and callable(getattr(ops, n, None))
              and not isinstance(getattr(act, n), type)}
    return sorted(names)


def _check_activation(activation, who):
    """None, a callable, or the name of an activation op in tapegraph.ops (checked now, looked up per call)."""
    if activation is None or callable(activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(f"{who}: activation must be None, a name or a callable, got {type(activation).__name__}")
    if activation not in _activation_names():
        raise ValueError(f"{who}: unknown activation {activation!r}; known: {', '.join(_activation_names())} "
                         f"(or pass a callable)")
    return activation


def _apply_activation(activation, y, who="layer"):
    """Softmax-like activations normalise over axis 1: the channels of NCHW/NCL (Keras' last, channels axis)."""
    if activation is None or activation == "linear":
        return y
    if callable(activation):
        out = activation(y)
        if not isinstance(out, Tensor):
            # np.tanh(tensor) returns an ndarray: the graph would end here and the layer's weights get no gradient
            name = getattr(activation, "__name__", repr(activation))
            raise TypeError(f"{who}: activation {name} returned a {type(out).__name__}, not a Tensor: it must be "
                            f"built from tapegraph ops (e.g. tg.tanh, or the name 'tanh'), not numpy functions")
        return out
    fn = getattr(_tg.ops, activation)
    return fn(y, axis=1) if activation in ("softmax", "log_softmax") else fn(y)


def _conv_padding(padding, rank: int, who: str):
    """"valid"/"same" (any case), or for rank 2 an int, a pair or ((top, bottom), (left, right)); for rank 1 an int
    or (left, right). Checked at construction; the op resolves it per input."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: unknown padding {padding!r}; expected 'valid', 'same' or explicit sizes")
        return padding.lower()
    from ..ops.conv import _resolve_padding
    if rank == 1:
        if isinstance(padding, (tuple, list)):
            return _ints(padding, 2, "padding", who, minimum=0)
        return _ints(padding, 1, "padding", who, minimum=0)[0]
    _resolve_padding(padding, (1, 1), (1, 1), (1, 1), who)           # raises TypeError/ValueError naming `who`
    return padding


def _algorithm(algorithm, who):
    from ..ops.conv import ALGORITHMS
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{who}: unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    return algorithm


def _shape_str(x) -> str:
    dt = getattr(x, "dtype", None)
    return f"{dt}{list(np.shape(x))}"


class Layer(Module):
    """A module that creates its parameters in ``build(input_shape)`` (called on the first input if needed)."""

    built = False

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        if dtype is not None:
            dt = np.dtype(dtype)
            if dt.kind != "f":
                raise TypeError(f"{type(self).__name__}: dtype must be floating point, got {dt}")
            self.__dict__["_dtype"] = dt
        self.rng = rng
        self.input_shape = None

    @property
    def param_dtype(self) -> np.dtype:
        return self._dtype or np.dtype(DEFAULT_FLOAT)

    def build(self, input_shape):
        """Create parameters for inputs of ``input_shape``; returns self."""
        self.input_shape = (None,) + tuple(input_shape[1:]) if len(input_shape) else ()
        self.built = True
        return self

    def _bad_input(self, x, expected: str) -> ValueError:
        return ValueError(f"{self._label()}: expected input {expected}, got {_shape_str(x)}")

    def _check_rank(self, x, ranks, expected):
        if np.ndim(x) not in ranks:
            raise self._bad_input(x, expected)


class _Conv(Layer):
    """Shared parts of the convolution layers: argument checks, parameters, the activation after the op."""

    rank = 2

    def _init_conv(self, filters, kernel_size, strides, padding, dilation_rate, groups, activation, use_bias,
                   kernel_initializer, bias_initializer):
        who, n = type(self).__name__, self.rank
        if filters is None and not isinstance(self, DepthwiseConv2D):
            raise ValueError(f"{who}: filters must be a positive int, got None")
        self.filters = None if filters is None else _positive_int(filters, "filters", who)
        self.kernel_size = _ints(kernel_size, n, "kernel_size", who)
        self.strides = _ints(strides, n, "strides", who)
        self.dilation_rate = _ints(dilation_rate, n, "dilation_rate", who)
        self.padding = _conv_padding(padding, n, who)
        self.groups = _ints(groups, 1, "groups", who)[0]
        if self.filters is not None and self.filters % self.groups:
            raise ValueError(f"{who}: groups={self.groups} must divide filters={self.filters}")
        self.activation = _check_activation(activation, who)
        self.use_bias = _bool(use_bias, "use_bias", who)
        self.kernel_initializer = _init.get(kernel_initializer, who)
        self.bias_initializer = _init.get(bias_initializer, who)
        self.weight = None
        self.bias = None

    def _check_build(self, input_shape, layout):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self._label()}: expected input {layout}, got shape {tuple(input_shape)}")
        c = int(input_shape[1])
        if c % self.groups:
            raise ValueError(f"{self._label()}: groups={self.groups} must divide the {c} input channels "
                             f"(input shape {tuple(input_shape)})")
        return c

    def _make_params(self, shape, n_bias):
        fan_in, fan_out = _init.fans(shape)
        dt = self.param_dtype
        who = self._label()
        self.weight = _make_param(self.kernel_initializer, shape, fan_in, fan_out, self.rng, dt, who)
        if self.use_bias:
            self.bias = _make_param(self.bias_initializer, (n_bias,), fan_in, fan_out, self.rng, dt, who)

    def _check_input(self, x, c, layout):
        if np.ndim(x) != self.rank + 2 or np.shape(x)[1] != c:
            raise self._bad_input(x, layout.replace("channels", str(c)))

    def extra_repr(self):
        parts = [f"{self.filters}" if self.filters is not None else "",
                 f"kernel_size={self.kernel_size}", f"strides={self.strides}", f"padding={self.padding!r}"]
        if any(d != 1 for d in self.dilation_rate):
            parts.append(f"dilation_rate={self.dilation_rate}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.activation is not None:
            parts.append(f"activation={getattr(self.activation, '__name__', self.activation)!r}")
        if not self.use_bias:
            parts.append("use_bias=False")
        return ", ".join(p for p in parts if p)


class Conv2D(_Conv):
    """2-D convolution over NCHW input; ``weight`` is (filters, in_channels / groups, kh, kw), ``bias`` (filters,).

    ``groups``: channels split into independent groups (each sees in_channels / groups inputs). ``activation``: a
    name ("relu", ...; any activation op of tapegraph.ops) or a callable, applied after the convolution.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1, activation=None,
                 use_bias=True, algorithm="auto", kernel_initializer="he_uniform", bias_initializer="zeros",
                 dtype=None, rng=None):
        super().__init__(dtype, rng)
        self._init_conv(filters, kernel_size, strides, padding, dilation_rate, groups, activation, use_bias,
                        kernel_initializer, bias_initializer)
        self.algorithm = _algorithm(algorithm, "Conv2D")

    def build(self, input_shape):
        c = self._check_build(input_shape, "(batch, channels, height, width)")
        self._make_params((self.filters, c // self.groups) + self.kernel_size, self.filters)
        return super().build(input_shape)

    def forward(self, x):
        self._check_input(x, self.weight.data.shape[1] * self.groups, "(batch, channels, height, width)")
        y = _tg.conv2d(x, self.weight, self.bias, stride=self.strides, padding=self.padding,
                       dilation=self.dilation_rate, groups=self.groups, algorithm=self.algorithm)
        return _apply_activation(self.activation, y, self._label())


class Conv1D(_Conv):
    """1-D convolution over (batch, channels, length) input; ``weight`` (filters, in_channels / groups, k)."""

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1, activation=None,
                 use_bias=True, kernel_initializer="he_uniform", bias_initializer="zeros", dtype=None, rng=None):
        super().__init__(dtype, rng)
        self._init_conv(filters, kernel_size, strides, padding, dilation_rate, groups, activation, use_bias,
                        kernel_initializer, bias_initializer)

    def build(self, input_shape):
        c = self._check_build(input_shape, "(batch, channels, length)")
        self._make_params((self.filters, c // self.groups) + self.kernel_size, self.filters)
        return super().build(input_shape)

    def forward(self, x):
        self._check_input(x, self.weight.data.shape[1] * self.groups, "(batch, channels, length)")
        y = _tg.conv1d(x, self.weight, self.bias, stride=self.strides[0], padding=self.padding,
                       dilation=self.dilation_rate[0], groups=self.groups)
        return _apply_activation(self.activation, y, self._label())


class DepthwiseConv2D(_Conv):
    """One kernel per input channel (``depth_multiplier`` of them): conv2d with groups = in_channels;
    ``weight`` (in_channels * depth_multiplier, 1, kh, kw) in PyTorch's layout, ``bias`` (in_channels *
    depth_multiplier,)."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="he_uniform", bias_initializer="zeros",
                 dtype=None, rng=None):
        super().__init__(dtype, rng)
        self._init_conv(None, kernel_size, strides, padding, dilation_rate, 1, activation, use_bias,
                        depthwise_initializer, bias_initializer)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", "DepthwiseConv2D")

    def build(self, input_shape):
        c = self._check_build(input_shape, "(batch, channels, height, width)")
        self.groups, self.filters = c, c * self.depth_multiplier
        self._make_params((self.filters, 1) + self.kernel_size, self.filters)
        return super().build(input_shape)

    def forward(self, x):
        self._check_input(x, self.groups, "(batch, channels, height, width)")
        y = _tg.conv2d(x, self.weight, self.bias, stride=self.strides, padding=self.padding,
                       dilation=self.dilation_rate, groups=self.groups)
        return _apply_activation(self.activation, y, self._label())

    def extra_repr(self):
        return super().extra_repr() + (f", depth_multiplier={self.depth_multiplier}"
                                       if self.depth_multiplier != 1 else "")


def _transpose_padding(size, k, s, d, padding, output_padding):
    """Keras' Conv2DTranspose output length along one axis, as conv_transpose2d's ((before, after), output_padding).

    Keras: "valid" -> size*s + max(k_eff - s, 0), "same" -> size*s; with output_padding, (size-1)*s + k_eff -
    2*pad + output_padding (pad = k_eff // 2 for "same", 0 for "valid"). The crop is that of the matching forward
    convolution (the odd extra cell at the end, as TensorFlow's "same").
    """
    k_eff = (k - 1) * d + 1
    full = (size - 1) * s + k_eff
    if output_padding is None:
        length = size * s + max(k_eff - s, 0) if padding == "valid" else size * s
    else:
        length = full - 2 * (k_eff // 2 if padding == "same" else 0) + output_padding
    crop = max(full - length, 0)
    return (crop // 2, crop - crop // 2), length - (full - crop)


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution (upsampling by ``strides``) over NCHW input; ``weight`` (in_channels, filters,
    kh, kw) in PyTorch's layout, ``bias`` (filters,). ``padding``: Keras' "valid" (output in*stride +
    max(kernel - stride, 0)) or "same" (output in*stride); ``output_padding`` (< strides) as Keras."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="he_uniform", bias_initializer="zeros",
                 dtype=None, rng=None):
        super().__init__(dtype, rng)
        if not isinstance(padding, str):
            raise TypeError(f"Conv2DTranspose: padding must be 'valid' or 'same', got {padding!r}")
        self._init_conv(filters, kernel_size, strides, padding, dilation_rate, 1, activation, use_bias,
                        kernel_initializer, bias_initializer)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = _ints(output_padding, 2, "output_padding", "Conv2DTranspose", minimum=0)
            if any(o >= s for o, s in zip(self.output_padding, self.strides)):
                raise ValueError(f"Conv2DTranspose: output_padding {self.output_padding} must be smaller than "
                                 f"strides {self.strides}")

    def build(self, input_shape):
        c = self._check_build(input_shape, "(batch, channels, height, width)")
        self._make_params((c, self.filters) + self.kernel_size, self.filters)
        return super().build(input_shape)

    def forward(self, x):
        c = self.weight.data.shape[0]
        self._check_input(x, c, "(batch, channels, height, width)")
        ops = (None, None) if self.output_padding is None else self.output_padding
        geo = [_transpose_padding(n, k, s, d, self.padding, o) for n, k, s, d, o in
               zip(np.shape(x)[2:], self.kernel_size, self.strides, self.dilation_rate, ops)]
        y = _tg.conv_transpose2d(x, self.weight, self.bias, stride=self.strides, padding=(geo[0][0], geo[1][0]),
                                 output_padding=(geo[0][1], geo[1][1]), dilation=self.dilation_rate)
        return _apply_activation(self.activation, y, self._label())

    def extra_repr(self):
        return super().extra_repr() + ("" if self.output_padding is None
                                       else f", output_padding={self.output_padding}")


class Dense(Layer):
    """Fully connected: ``x @ weight + bias`` with ``weight`` (in_features, units), ``bias`` (units,).

    Input must be (batch, in_features): put a Flatten before it for images.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="he_uniform",
                 bias_initializer="zeros", dtype=None, rng=None):
        super().__init__(dtype, rng)
        self.units = _positive_int(units, "units", "Dense")
        self.activation = _check_activation(activation, "Dense")
        self.use_bias = _bool(use_bias, "use_bias", "Dense")
        self.kernel_initializer = _init.get(kernel_initializer, "Dense")
        self.bias_initializer = _init.get(bias_initializer, "Dense")
        self.weight = None
        self.bias = None

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self._label()}: expected input (batch, features), got shape {tuple(input_shape)}; "
                             f"add a Flatten layer before Dense for images")
        shape = (int(input_shape[1]), self.units)
        dt = self.param_dtype
        who = self._label()
        self.weight = _make_param(self.kernel_initializer, shape, shape[0], shape[1], self.rng, dt, who)
        if self.use_bias:
            self.bias = _make_param(self.bias_initializer, (self.units,), shape[0], shape[1], self.rng, dt, who)
        return super().build(input_shape)

    def forward(self, x):
        f = self.weight.data.shape[0]
        if np.ndim(x) != 2 or np.shape(x)[1] != f:
            raise self._bad_input(x, f"(batch, {f})")
        y = _tg.matmul(x, self.weight)
        y = y + self.bias if self.bias is not None else y
        return _apply_activation(self.activation, y, self._label())

    def extra_repr(self):
        act = getattr(self.activation, "__name__", self.activation)
        act = "" if act is None else f", activation={act!r}"
        return f"{self.units}" + act + ("" if self.use_bias else ", use_bias=False")


def _pool_padding(padding, who):
    """Check a pooling padding argument at construction: "valid"/"same", an int, a pair or ((t, b), (l, r))."""
    def nonneg(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 2 ** 31
    if isinstance(padding, str):
        if padding.lower() in ("valid", "same"):
            return padding.lower()
    elif nonneg(padding):
        return int(padding)
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(nonneg(p) for p in padding):
            return tuple(int(p) for p in padding)
        if all(isinstance(p, (tuple, list)) and len(p) == 2 and all(nonneg(q) for q in p) for p in padding):
            return tuple(tuple(int(q) for q in p) for p in padding)
    raise ValueError(f"{who}: padding must be 'valid', 'same', an int >= 0, a pair of them or ((top, bottom), "
                     f"(left, right)), got {padding!r}")


def _bool(v, what, who):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{who}: {what} must be a bool, got {v!r}")
    return bool(v)


class _Pool2D(Layer):
    _op = ""

    def __init__(self, pool_size=2, strides=None, padding="valid", ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.pool_size = _pair(pool_size, "pool_size", name)
        self.strides = None if strides is None else _pair(strides, "strides", name)
        self.padding = _pool_padding(padding, name)
        if not isinstance(self.padding, str):
            p = self.padding
            if isinstance(p, int):
                pads = ((p, p), (p, p))
            else:
                pads = p if isinstance(p[0], tuple) else ((p[0],) * 2, (p[1],) * 2)
            if any(max(side) > k // 2 for side, k in zip(pads, self.pool_size)):
                raise ValueError(f"{name}: padding {padding!r} must be at most half of pool_size {self.pool_size} "
                                 f"on each side")
        self.ceil_mode = _bool(ceil_mode, "ceil_mode", name)
        self.built = True

    def _options(self):
        return {"ceil_mode": self.ceil_mode}

    def forward(self, x):
        self._check_rank(x, (4,), "(batch, channels, height, width)")
        return getattr(_tg, self._op)(x, self.pool_size, self.strides, self.padding, **self._options())

    def extra_repr(self):
        extra = "".join(f", {k}={v!r}" for k, v in self._options().items() if v not in (False, None, (1, 1)))
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}" + extra


class MaxPool2D(_Pool2D):
    """Max over pool_size windows (stride defaults to pool_size) of NCHW input; ``padding``, ``dilation`` and
    ``ceil_mode`` as ``tg.max_pool2d``."""
    _op = "max_pool2d"

    def __init__(self, pool_size=2, strides=None, padding="valid", dilation=1, ceil_mode=False):
        super().__init__(pool_size, strides, padding, ceil_mode)
        self.dilation = _pair(dilation, "dilation", "MaxPool2D")

    def _options(self):
        return {"dilation": self.dilation, "ceil_mode": self.ceil_mode}


class AvgPool2D(_Pool2D):
    """Mean over pool_size windows (stride defaults to pool_size) of NCHW input; ``padding``, ``ceil_mode`` and
    ``count_include_pad`` as ``tg.avg_pool2d``."""
    _op = "avg_pool2d"

    def __init__(self, pool_size=2, strides=None, padding="valid", ceil_mode=False, count_include_pad=None):
        super().__init__(pool_size, strides, padding, ceil_mode)
        self.count_include_pad = (None if count_include_pad is None
                                  else _bool(count_include_pad, "count_include_pad", "AvgPool2D"))

    def _options(self):
        return {"ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad}


class _GlobalPool2D(Layer):
    _op = ""

    def __init__(self, keepdims=False):
        super().__init__()
        self.keepdims = _bool(keepdims, "keepdims", type(self).__name__)
        self.built = True

    def forward(self, x):
        self._check_rank(x, (4,), "(batch, channels, height, width)")
        y = getattr(_tg, self._op)(x, 1)
        return y if self.keepdims else _tg.flatten(y, 1)

    def extra_repr(self):
        return "keepdims=True" if self.keepdims else ""


class GlobalAveragePooling2D(_GlobalPool2D):
    """Mean over H and W of NCHW input: (N, C), or (N, C, 1, 1) with ``keepdims=True``."""
    _op = "adaptive_avg_pool2d"


class GlobalMaxPooling2D(_GlobalPool2D):
    """Max over H and W of NCHW input: (N, C), or (N, C, 1, 1) with ``keepdims=True``."""
    _op = "adaptive_max_pool2d"


class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times ("nearest") or resize bilinearly (half-pixel centres, as Keras and
    ``tg.interpolate(..., align_corners=False)``)."""

    def __init__(self, size=2, interpolation="nearest"):
        super().__init__()
        self.size = _pair(size, "size", "UpSampling2D")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        self.interpolation = interpolation
        self.built = True

    def forward(self, x):
        self._check_rank(x, (4,), "(batch, channels, height, width)")
        h, w = np.shape(x)[2:]
        return _tg.interpolate(x, size=(h * self.size[0], w * self.size[1]), mode=self.interpolation)

    def extra_repr(self):
        return f"size={self.size}, interpolation={self.interpolation!r}"


class ZeroPadding2D(Layer):
    """Zero rows/columns around NCHW images: ``padding`` an int, (rows, cols) or ((top, bottom), (left, right))."""

    def __init__(self, padding=1):
        super().__init__()
        p = _pool_padding(padding, "ZeroPadding2D")
        if isinstance(p, str):
            raise ValueError(f"ZeroPadding2D: padding must be an int >= 0, a pair of them or ((top, bottom), "
                             f"(left, right)), got {padding!r}")
        if isinstance(p, int):
            p = ((p, p), (p, p))
        elif isinstance(p[0], int):
            p = ((p[0], p[0]), (p[1], p[1]))
        self.padding = p
        self.built = True

    def forward(self, x):
        self._check_rank(x, (4,), "(batch, channels, height, width)")
        return _tg.pad(x, ((0, 0), (0, 0)) + self.padding)

    def extra_repr(self):
        return f"padding={self.padding}"


def _epsilon(v, who):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) or not v > 0 \
            or not np.isfinite(float(v)):
        raise ValueError(f"{who}: epsilon must be a positive number, got {v!r}")
    return float(v)


class LayerNormalization(Layer):
    """Normalise each sample over ``axis`` (an int or a list of ints, not the batch axis; Keras' default -1 is the
    last axis, i.e. W for NCHW images), then scale by ``gamma`` and shift by ``beta`` (shaped like those axes)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, dtype=None):
        super().__init__(dtype)
        axes = [axis] if not isinstance(axis, (tuple, list)) else list(axis)
        if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"LayerNormalization: axis must be an int or a list of ints, got {axis!r}")
        self.axis = axis if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axes)
        self.epsilon = _epsilon(epsilon, "LayerNormalization")
        self.center = _bool(center, "center", "LayerNormalization")
        self.scale = _bool(scale, "scale", "LayerNormalization")
        self.gamma = None
        self.beta = None
        self._axes = None

    def _resolve(self, ndim):
        axes = [self.axis] if isinstance(self.axis, (int, np.integer)) else list(self.axis)
        res = sorted({int(a) % ndim for a in axes}) if all(-ndim <= a < ndim for a in axes) else None
        if res is None or 0 in res or len(res) != len(axes):
            raise ValueError(f"{self._label()}: axis {self.axis!r} must name distinct non-batch axes of an input "
                             f"with {ndim} axes")
        return tuple(res)

    def build(self, input_shape):
        self._axes = self._resolve(len(input_shape))
        shape, dt = tuple(int(input_shape[a]) for a in self._axes), self.param_dtype
        if self.scale:
            self.gamma = Parameter(np.ones(shape, dt), dtype=dt)
        if self.center:
            self.beta = Parameter(np.zeros(shape, dt), dtype=dt)
        return super().build(input_shape)

    def forward(self, x):
        nd = np.ndim(x)
        axes = self._axes
        want = tuple(int(self.input_shape[a]) for a in axes)
        if nd != len(self.input_shape) or tuple(np.shape(x)[a] for a in axes) != want:
            raise self._bad_input(x, f"with {len(self.input_shape)} axes and sizes {want} on axes {axes}")
        trailing = axes == tuple(range(nd - len(axes), nd))
        perm = None if trailing else [a for a in range(nd) if a not in axes] + list(axes)
        if perm is not None:
            x = _tg.transpose(x, perm)
        y = _tg.layer_norm(x, want, self.gamma, self.beta, self.epsilon)
        return y if perm is None else _tg.transpose(y, tuple(np.argsort(perm)))

    def extra_repr(self):
        return f"axis={self.axis}, epsilon={self.epsilon}"


class GroupNormalization(Layer):
    """Normalise each sample over groups of channels (axis 1, channels first) and all their positions; ``gamma``
    and ``beta`` are per channel. ``groups`` must divide the channel count."""

    def __init__(self, groups=32, axis=1, epsilon=1e-3, center=True, scale=True, dtype=None):
        super().__init__(dtype)
        self.groups = _positive_int(groups, "groups", "GroupNormalization")
        if not _is_int(axis) or axis != 1:
            raise ValueError(f"GroupNormalization: only axis=1 (channels first, NCHW) is supported, got {axis!r}")
        self.axis = 1
        self.epsilon = _epsilon(epsilon, "GroupNormalization")
        self.center = _bool(center, "center", "GroupNormalization")
        self.scale = _bool(scale, "scale", "GroupNormalization")
        self.gamma = None
        self.beta = None

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self._label()}: expected input (batch, channels, ...), got shape "
                             f"{tuple(input_shape)}")
        c, dt = int(input_shape[1]), self.param_dtype
        if c % self.groups:
            raise ValueError(f"{self._label()}: groups={self.groups} must divide the {c} channels of input shape "
                             f"{tuple(input_shape)}")
        if self.scale:
            self.gamma = Parameter(np.ones(c, dt), dtype=dt)
        if self.center:
            self.beta = Parameter(np.zeros(c, dt), dtype=dt)
        return super().build(input_shape)

    def forward(self, x):
        c = int(self.input_shape[1])
        if np.ndim(x) < 2 or np.shape(x)[1] != c:
            raise self._bad_input(x, f"(batch, {c}, ...)")
        return _tg.group_norm(x, self.groups, self.gamma, self.beta, self.epsilon)

    def extra_repr(self):
        return f"groups={self.groups}, epsilon={self.epsilon}"


class BatchNorm(Layer):
    """Batch normalisation over axis 1 of (N, F) or (N, C, H, W) input.

    Training: batch statistics; then ``running = momentum * running + (1 - momentum) * batch``, with the unbiased
    batch variance (n / (n - 1), as PyTorch) for ``running_var``. Eval: the running statistics.
    Parameters ``gamma`` (ones), ``beta`` (zeros); buffers ``running_mean`` (zeros), ``running_var`` (ones).
    """

    def __init__(self, epsilon=1e-3, momentum=0.99, dtype=None):
        super().__init__(dtype)
        for arg, v in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"BatchNorm: {arg} must be a number, got {type(v).__name__} {v!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNorm: epsilon must be positive, got {epsilon}")
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        if not np.isfinite(self.epsilon):
            raise ValueError(f"BatchNorm: epsilon must be finite, got {epsilon}")
        self.gamma = None
        self.beta = None

    def build(self, input_shape):
        if len(input_shape) not in (2, 4):
            raise ValueError(f"{self._label()}: expected input (batch, features) or (batch, channels, height, "
                             f"width), got shape {tuple(input_shape)}")
        c, dt = int(input_shape[1]), self.param_dtype
        self.gamma = Parameter(np.ones(c, dt), dtype=dt)
        self.beta = Parameter(np.zeros(c, dt), dtype=dt)
        self.register_buffer("running_mean", np.zeros(c, dt))
        self.register_buffer("running_var", np.ones(c, dt))
        return super().build(input_shape)

    def forward(self, x):
        c = self.gamma.data.shape[0]
        if np.ndim(x) not in (2, 4) or np.shape(x)[1] != c:
            raise self._bad_input(x, f"(batch, {c}) or (batch, {c}, height, width)")
        if not self.training:
            return _tg.batch_norm(x, self.gamma, self.beta, self.epsilon, mean=self.running_mean,
                                  var=self.running_var)
        stats = {}
        y = self._train_op(x, self.gamma, self.beta, self.epsilon, batch_stats=stats)
        m, mom = stats["count"], self.momentum
        rm, rv = self.running_mean, self.running_var
        rm *= mom
        rm += (1 - mom) * stats["mean"]
        rv *= mom
        rv += ((1 - mom) * m / (m - 1)) * stats["var"]
        return y

    @staticmethod
    def _train_op(*args, **kwargs):
        """The op that normalises with batch statistics (SyncBatchNorm swaps in sync_batch_norm)."""
        return _tg.batch_norm(*args, **kwargs)

    def extra_repr(self):
        return f"epsilon={self.epsilon}, momentum={self.momentum}"


class Dropout(Layer):
    """Inverted dropout with probability ``rate`` in training (mask from ``get_rng(rng)``); identity in eval."""

    def __init__(self, rate, rng=None):
        super().__init__(rng=rng)
        self.rate = check_rate(rate, "Dropout")
        self.built = True

    def forward(self, x):
        if not self.training:
            return x
        return _tg.dropout(x, self.rate, rng=self.rng)

    def extra_repr(self):
        return f"rate={self.rate}"


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def __init__(self):
        super().__init__()
        self.built = True

    def forward(self, x):
        if np.ndim(x) < 2:
            raise self._bad_input(x, "with a batch axis and at least one more")
        return _tg.flatten(x, 1)


class _Activation(Layer):
    def __init__(self):
        super().__init__()
        self.built = True


class ReLU(_Activation):
    def forward(self, x):
        return _tg.relu(x)


class LeakyReLU(_Activation):
    """max(x, negative_slope * x) (Keras' default slope 0.3)."""

    def __init__(self, negative_slope=0.3):
        super().__init__()
        self.negative_slope = _real(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x):
        return _tg.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Activation):
    def forward(self, x):
        return _tg.sigmoid(x)


class Tanh(_Activation):
    def forward(self, x):
        return _tg.tanh(x)


class Softmax(_Activation):
    def __init__(self, axis=-1):
        super().__init__()
        if not _is_int(axis):
            raise TypeError(f"Softmax: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def forward(self, x):
        return _tg.softmax(x, self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class GELU(_Activation):
    """x * Phi(x); ``approximate="tanh"`` for the tanh form."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return _tg.gelu(x, self.approximate)

    def extra_repr(self):
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


class SiLU(_Activation):
    """x * sigmoid(x)."""

    def forward(self, x):
        return _tg.silu(x)


Swish = SiLU


def _real(v, what, who, positive=False):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not np.isfinite(float(v)) or (positive and v <= 0):
        raise ValueError(f"{who}: {what} must be a finite{' positive' if positive else ''} number, got {v!r}")
    return float(v)


class ELU(_Activation):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = _real(alpha, "alpha", "ELU")

    def forward(self, x):
        return _tg.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(_Activation):
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold (PyTorch's arguments)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = _real(beta, "beta", "Softplus", positive=True)
        self.threshold = _real(threshold, "threshold", "Softplus")

    def forward(self, x):
        return _tg.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class HardSigmoid(_Activation):
    """relu6(x + 3) / 6."""

    def forward(self, x):
        return _tg.hard_sigmoid(x)


class HardSwish(_Activation):
    """x * relu6(x + 3) / 6."""

    def forward(self, x):
        return _tg.hard_swish(x)


class Sequential(Module):
    """Layers applied in order, registered as ``layers.0``, ``layers.1``, ...

    ``input_shape`` (without the batch axis) builds every layer now; ``dtype`` makes the parameters float64 etc.
    """

    def __init__(self, layers=None, input_shape=None, dtype=None):
        super().__init__()
        layers = [] if layers is None else layers
        if isinstance(layers, Module) or not hasattr(layers, "__iter__"):
            raise TypeError(f"Sequential: expected a list of layers, got {type(layers).__name__}")
        layers = list(layers)
        for i, m in enumerate(layers):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, expected a layer (Module)")
        self.layers = ModuleList(layers)
        self.input_shape = None
        if dtype is not None:
            self.astype(dtype)
        if input_shape is not None:
            self.build((None,) + tuple(input_shape))

    def add(self, layer: Module):
        self.layers.append(layer)
        return self

    def forward(self, x):
        if self.input_shape is None:
            self.input_shape = (None,) + tuple(np.shape(x)[1:])
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def summary(self, file=None):
        """Print a table of layers (dotted name and type), output shapes and parameter counts, with totals."""
        if self.input_shape is None:
            raise ValueError("Sequential.summary: the model is not built; pass input_shape= or call it on a batch")
        self._ensure_names()
        rows = []
        with self.inference():
            x = _tg.Tensor(np.zeros((1,) + tuple(self.input_shape[1:]), dtype=self.dtype))
            for i, layer in enumerate(self.layers):
                x = layer(x)
                trainable = sum(p.data.size for p in layer.parameters())
                fixed = sum(b.size for b in layer.buffers())
                rows.append((f"layers.{i} ({type(layer).__name__})", str((None,) + tuple(x.shape[1:])),
                             trainable + fixed))
        total_t = self.count_params()
        total_f = int(sum(b.size for b in self.buffers()))
        w0 = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2
        w1 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 2
        w2 = max(len("Param #"), *(len(f"{r[2]:,}") for r in rows)) if rows else len("Param #")
        width = w0 + w1 + w2
        out = file or sys.stdout
        lines = ["=" * width, f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>{w2}}", "=" * width]
        lines += [f"{a:<{w0}}{b:<{w1}}{c:>{w2},}" for a, b, c in rows]
        lines += ["=" * width, f"Total params: {total_t + total_f:,}", f"Trainable params: {total_t:,}",
                  f"Non-trainable params: {total_f:,}", "=" * width]
        print("\n".join(lines), file=out)
