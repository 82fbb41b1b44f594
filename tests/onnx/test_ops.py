"""Every translated op, one small model each: onnx.checker passes and onnxruntime equals tapegraph (max abs diff
<= 1e-5, float32) at the example's batch size and at another one."""
from dataclasses import dataclass, field

import numpy as np
import pytest

import tapegraph as tg
from tapegraph.function import REGISTRY

from .helpers import Fn, has, op, require_extra, roundtrip

onnx, ort = require_extra()

R = np.random.default_rng(7)


def _w(*shape, scale=0.5):
    return (R.standard_normal(shape) * scale).astype(np.float32)


@dataclass
class Case:
    id: str
    target: str                          # the tape op this case covers
    fn: object                           # fn(model, x) -> Tensor
    shape: tuple                         # input shape (batch first)
    params: dict = field(default_factory=dict)
    needs: tuple = ()                    # (op, arg) that must exist: ops merged from other branches
    opset: int = 17
    other_batch: bool = True             # also run at another batch size
    positive: bool = False               # inputs in (0.5, 2.5)


C = tg.ops
X4 = (2, 4, 6, 7)
CASES = [
    # elementwise
    Case("add", "add", lambda m, x: x + m.c, X4, dict(c=_w(7))),
    Case("sub", "sub", lambda m, x: m.c - x, X4, dict(c=_w(6, 1))),
    Case("mul", "mul", lambda m, x: x * m.c, X4, dict(c=_w(4, 1, 1))),
    Case("div", "div", lambda m, x: x / (abs(m.c) + 1), X4, dict(c=_w(7))),
    Case("neg", "neg", lambda m, x: -(x * m.c), X4, dict(c=_w(7))),
    Case("pow", "pow", lambda m, x: C.pow(x, m.c), X4, dict(c=_w(7)), positive=True),
    Case("pow_scalar", "pow_scalar", lambda m, x: (x * m.c) ** 3, X4, dict(c=_w(7))),
    Case("exp", "exp", lambda m, x: C.exp(x * m.c), X4, dict(c=_w(7))),
    Case("log", "log", lambda m, x: C.log(x * m.c), X4, dict(c=abs(_w(7)) + 0.5), positive=True),
    Case("sqrt", "sqrt", lambda m, x: C.sqrt(x * m.c), X4, dict(c=abs(_w(7)) + 0.5), positive=True),
    Case("abs", "abs", lambda m, x: abs(x * m.c), X4, dict(c=_w(7))),
    Case("maximum", "maximum", lambda m, x: C.maximum(x, m.c), X4, dict(c=_w(7))),
    Case("minimum", "minimum", lambda m, x: C.minimum(m.c, x), X4, dict(c=_w(7))),
    Case("clip", "clip", lambda m, x: C.clip(x * m.c, -0.3, 0.4), X4, dict(c=_w(7, scale=2))),
    Case("clip-lo", "clip", lambda m, x: C.clip(x * m.c, lo=-0.3), X4, dict(c=_w(7, scale=2))),
    Case("where", "where", lambda m, x: C.where(np.arange(7) % 2 == 0, x * m.c, -x), X4, dict(c=_w(7))),
    # activations
    Case("relu", "relu", lambda m, x: C.relu(x * m.c), X4, dict(c=_w(7))),
    Case("sigmoid", "sigmoid", lambda m, x: C.sigmoid(x * m.c), X4, dict(c=_w(7, scale=3))),
    Case("tanh", "tanh", lambda m, x: C.tanh(x * m.c), X4, dict(c=_w(7, scale=3))),
    Case("leaky_relu", "leaky_relu", lambda m, x: C.leaky_relu(x * m.c, 0.2), X4, dict(c=_w(7))),
    Case("softmax", "softmax", lambda m, x: C.softmax(x * m.c, axis=1), X4, dict(c=_w(7, scale=2))),
    Case("log_softmax", "log_softmax", lambda m, x: C.log_softmax(x * m.c, axis=-1), X4, dict(c=_w(7, scale=2))),
    Case("gelu", "gelu", lambda m, x: op("gelu")(x * m.c), X4, dict(c=_w(7, scale=3)), needs=("gelu",)),
    Case("gelu-tanh", "gelu", lambda m, x: op("gelu")(x * m.c, approximate="tanh"), X4, dict(c=_w(7, scale=3)),
         needs=("gelu",)),
    Case("gelu-opset20", "gelu", lambda m, x: op("gelu")(x * m.c), X4, dict(c=_w(7, scale=3)), needs=("gelu",),
         opset=20),
    Case("gelu-tanh-opset20", "gelu", lambda m, x: op("gelu")(x * m.c, approximate="tanh"), X4,
         dict(c=_w(7, scale=3)), needs=("gelu",), opset=20),
    Case("silu", "silu", lambda m, x: op("silu")(x * m.c), X4, dict(c=_w(7, scale=3)), needs=("silu",)),
    Case("elu", "elu", lambda m, x: op("elu")(x * m.c, alpha=0.7), X4, dict(c=_w(7, scale=3)), needs=("elu",)),
    Case("softplus", "softplus", lambda m, x: op("softplus")(x * m.c), X4, dict(c=_w(7, scale=3)),
         needs=("softplus",)),
    Case("softplus-beta", "softplus", lambda m, x: op("softplus")(x * m.c, beta=2.0, threshold=1.0), X4,
         dict(c=_w(7, scale=3)), needs=("softplus",)),
    Case("hard_sigmoid", "hard_sigmoid", lambda m, x: op("hard_sigmoid")(x * m.c), X4, dict(c=_w(7, scale=6)),
         needs=("hard_sigmoid",)),
    Case("hard_swish", "hard_swish", lambda m, x: op("hard_swish")(x * m.c), X4, dict(c=_w(7, scale=6)),
         needs=("hard_swish",)),
    # matmul / Gemm
    Case("gemm", "matmul", lambda m, x: C.matmul(x, m.w) + m.b, (3, 5), dict(w=_w(5, 4), b=_w(4))),
    Case("gemm-bias-first", "matmul", lambda m, x: m.b + C.matmul(x, m.w), (3, 5), dict(w=_w(5, 4), b=_w(1, 4))),
    Case("matmul", "matmul", lambda m, x: C.matmul(x, m.w), (3, 5), dict(w=_w(5, 4))),
    Case("matmul-batched", "matmul", lambda m, x: C.matmul(x, m.w) + m.b, (2, 3, 5), dict(w=_w(5, 4), b=_w(4))),
    # convolution
    Case("conv2d", "conv2d", lambda m, x: C.conv2d(x, m.w, m.b), X4, dict(w=_w(3, 4, 3, 3), b=_w(3))),
    Case("conv2d-same", "conv2d", lambda m, x: C.conv2d(x, m.w, m.b, stride=2, padding="same"), X4,
         dict(w=_w(3, 4, 3, 2), b=_w(3))),
    Case("conv2d-pads", "conv2d", lambda m, x: C.conv2d(x, m.w, None, stride=(1, 2), padding=((1, 2), (0, 1)),
                                                         dilation=2), X4, dict(w=_w(5, 4, 2, 3))),
    Case("conv2d-groups", "conv2d", lambda m, x: C.conv2d(x, m.w, m.b, padding=1, groups=2), X4,
         dict(w=_w(6, 2, 3, 3), b=_w(6)), needs=("conv2d", "groups")),
    Case("conv2d-depthwise", "conv2d", lambda m, x: C.conv2d(x, m.w, m.b, padding="same", groups=4), X4,
         dict(w=_w(8, 1, 3, 3), b=_w(8)), needs=("conv2d", "groups")),
    Case("conv1d", "conv1d", lambda m, x: op("conv1d")(x, m.w, m.b, stride=2, padding=(1, 2), dilation=2),
         (2, 4, 11), dict(w=_w(3, 4, 3), b=_w(3)), needs=("conv1d",)),
    Case("conv1d-groups", "conv1d", lambda m, x: op("conv1d")(x, m.w, None, padding="same", groups=4),
         (2, 4, 11), dict(w=_w(4, 1, 3)), needs=("conv1d",)),
    Case("conv_transpose2d", "conv_transpose2d", lambda m, x: op("conv_transpose2d")(x, m.w, m.b, stride=2),
         X4, dict(w=_w(4, 3, 3, 3), b=_w(3)), needs=("conv_transpose2d",)),
    Case("conv_transpose2d-full", "conv_transpose2d",
         lambda m, x: op("conv_transpose2d")(x, m.w, m.b, stride=(2, 3), padding=((1, 0), (2, 1)),
                                             output_padding=(1, 0), dilation=(1, 2), groups=2),
         X4, dict(w=_w(4, 3, 3, 3), b=_w(6)), needs=("conv_transpose2d",)),
    # pooling
    Case("max_pool2d", "max_pool2d", lambda m, x: C.max_pool2d(x * m.c, 2), X4, dict(c=_w(7))),
    Case("max_pool2d-same", "max_pool2d", lambda m, x: C.max_pool2d(x * m.c, 3, 2, padding="same"), X4,
         dict(c=_w(7))),
    Case("max_pool2d-ceil", "max_pool2d", lambda m, x: C.max_pool2d(x * m.c, 3, 2, padding=1, ceil_mode=True),
         X4, dict(c=_w(7)), needs=("max_pool2d", "ceil_mode")),
    Case("max_pool2d-dilation", "max_pool2d", lambda m, x: C.max_pool2d(x * m.c, 2, 1, dilation=2), X4,
         dict(c=_w(7)), needs=("max_pool2d", "dilation")),
    Case("avg_pool2d", "avg_pool2d", lambda m, x: C.avg_pool2d(x * m.c, 2), X4, dict(c=_w(7))),
    Case("avg_pool2d-same", "avg_pool2d", lambda m, x: C.avg_pool2d(x * m.c, 3, 2, padding="same"), X4,
         dict(c=_w(7))),
    Case("avg_pool2d-pad-include", "avg_pool2d", lambda m, x: C.avg_pool2d(x * m.c, 3, 2, padding=1), X4,
         dict(c=_w(7)), needs=("avg_pool2d", "count_include_pad")),
    Case("avg_pool2d-pad-exclude", "avg_pool2d",
         lambda m, x: C.avg_pool2d(x * m.c, 3, 2, padding=1, count_include_pad=False), X4, dict(c=_w(7)),
         needs=("avg_pool2d", "count_include_pad")),
    Case("avg_pool2d-ceil-include", "avg_pool2d",
         lambda m, x: C.avg_pool2d(x * m.c, 3, 2, padding=1, ceil_mode=True, count_include_pad=True), X4,
         dict(c=_w(7)), needs=("avg_pool2d", "ceil_mode")),
    Case("avg_pool2d-ceil-exclude", "avg_pool2d",
         lambda m, x: C.avg_pool2d(x * m.c, 2, 2, ceil_mode=True, count_include_pad=False), X4, dict(c=_w(7)),
         needs=("avg_pool2d", "ceil_mode")),
    Case("adaptive_avg_pool2d-global", "adaptive_avg_pool2d", lambda m, x: op("adaptive_avg_pool2d")(x * m.c, 1),
         X4, dict(c=_w(7)), needs=("adaptive_avg_pool2d",)),
    Case("adaptive_avg_pool2d", "adaptive_avg_pool2d", lambda m, x: op("adaptive_avg_pool2d")(x * m.c, (3, 7)),
         X4, dict(c=_w(7)), needs=("adaptive_avg_pool2d",)),
    Case("adaptive_max_pool2d-global", "adaptive_max_pool2d", lambda m, x: op("adaptive_max_pool2d")(x * m.c, 1),
         X4, dict(c=_w(7)), needs=("adaptive_max_pool2d",)),
    Case("adaptive_max_pool2d", "adaptive_max_pool2d", lambda m, x: op("adaptive_max_pool2d")(x * m.c, (2, 1)),
         X4, dict(c=_w(7)), needs=("adaptive_max_pool2d",)),
    # normalisation
    Case("batch_norm", "batch_norm", lambda m, x: C.batch_norm(x, m.g, m.b, 1e-3, mean=m.mu.data, var=m.var.data),
         X4, dict(g=_w(4), b=_w(4), mu=_w(4), var=abs(_w(4)) + 0.5)),
    Case("batch_norm-2d", "batch_norm", lambda m, x: C.batch_norm(x, m.g, m.b, 1e-5, mean=m.mu.data,
                                                                   var=m.var.data),
         (3, 5), dict(g=_w(5), b=_w(5), mu=_w(5), var=abs(_w(5)) + 0.5)),
    Case("layer_norm", "layer_norm", lambda m, x: op("layer_norm")(x, (6, 7), m.w, m.b), X4,
         dict(w=_w(6, 7), b=_w(6, 7)), needs=("layer_norm",)),
    Case("layer_norm-plain", "layer_norm", lambda m, x: op("layer_norm")(x * m.c, 7), X4, dict(c=_w(7)),
         needs=("layer_norm",)),
    Case("group_norm", "group_norm", lambda m, x: op("group_norm")(x, 2, m.w, m.b), X4, dict(w=_w(4), b=_w(4)),
         needs=("group_norm",)),
    Case("group_norm-plain", "group_norm", lambda m, x: op("group_norm")(x * m.c, 4), (2, 4, 5), dict(c=_w(5)),
         needs=("group_norm",)),
    # shape
    Case("reshape-flatten", "reshape", lambda m, x: C.flatten(x * m.c, 1), X4, dict(c=_w(7))),
    Case("reshape", "reshape", lambda m, x: C.reshape(x * m.c, (-1, 6, 28)), X4, dict(c=_w(7))),
    Case("reshape-fold-batch", "reshape", lambda m, x: C.reshape(x * m.c, (-1, 7)), X4, dict(c=_w(7))),
    Case("transpose", "transpose", lambda m, x: C.transpose(x * m.c, (0, 2, 3, 1)), X4, dict(c=_w(7))),
    Case("permute-neg", "transpose", lambda m, x: (x * m.c).permute(0, -1, 1, 2), X4, dict(c=_w(7))),
    Case("broadcast_to", "broadcast_to", lambda m, x: C.broadcast_to(x * m.c, (x.shape[0], 4, 6, 5)), (2, 4, 6, 1),
         dict(c=_w(1))),
    Case("squeeze", "squeeze", lambda m, x: C.squeeze(x * m.c, 2), (2, 4, 1, 5), dict(c=_w(5))),
    Case("unsqueeze", "unsqueeze", lambda m, x: C.unsqueeze(x * m.c, -1), X4, dict(c=_w(7))),
    Case("concatenate", "concatenate", lambda m, x: C.concatenate([x, x * m.c], axis=1), X4, dict(c=_w(7))),
    Case("stack", "stack", lambda m, x: C.stack([x, x * m.c], axis=-1), X4, dict(c=_w(7))),
    Case("pad", "pad", lambda m, x: C.pad(x * m.c, ((0, 0), (0, 0), (1, 2), (3, 0)), value=0.5), X4,
         dict(c=_w(7))),
    Case("pad-reflect", "pad", lambda m, x: C.pad(x * m.c, ((0, 0), (0, 0), (1, 2), (2, 1)), mode="reflect"), X4,
         dict(c=_w(7)), needs=("pad", "mode")),
    Case("pad-edge", "pad", lambda m, x: C.pad(x * m.c, ((0, 0), (1, 0), (0, 2), (2, 1)), mode="edge"), X4,
         dict(c=_w(7)), needs=("pad", "mode")),
    Case("getitem", "getitem", lambda m, x: (x * m.c)[:, 1:3, ::2, -3:], X4, dict(c=_w(7))),
    Case("getitem-int", "getitem", lambda m, x: (x * m.c)[:, 2, ..., None], X4, dict(c=_w(7))),
    Case("getitem-reverse", "getitem", lambda m, x: (x * m.c)[:, ::-1, 4:1:-2], X4, dict(c=_w(7))),
    Case("getitem-gather", "getitem", lambda m, x: (x * m.c)[np.array([1, 0, 1])], X4, dict(c=_w(7)),
         other_batch=False),
    Case("interpolate-nearest", "interpolate", lambda m, x: op("interpolate")(x * m.c, scale_factor=2), X4,
         dict(c=_w(7)), needs=("interpolate",)),
    Case("interpolate-nearest-size", "interpolate",
         lambda m, x: op("interpolate")(x * m.c, size=(9, 17)), X4, dict(c=_w(7)), needs=("interpolate",)),
    Case("interpolate-nearest-exact", "interpolate",
         lambda m, x: op("interpolate")(x * m.c, size=(4, 10), mode="nearest-exact"), X4, dict(c=_w(7)),
         needs=("interpolate",)),
    Case("interpolate-bilinear", "interpolate",
         lambda m, x: op("interpolate")(x * m.c, size=(11, 5), mode="bilinear"), X4, dict(c=_w(7)),
         needs=("interpolate",)),
    Case("interpolate-bilinear-scale", "interpolate",
         lambda m, x: op("interpolate")(x * m.c, scale_factor=1.5, mode="bilinear"), X4, dict(c=_w(7)),
         needs=("interpolate",)),
    Case("interpolate-bilinear-corners", "interpolate",
         lambda m, x: op("interpolate")(x * m.c, size=(12, 9), mode="bilinear", align_corners=True), X4,
         dict(c=_w(7)), needs=("interpolate",)),
    # reductions
    Case("sum", "sum", lambda m, x: C.sum(x * m.c, axis=(1, 3)), X4, dict(c=_w(7))),
    Case("mean", "mean", lambda m, x: C.mean(x * m.c, axis=-1, keepdims=True), X4, dict(c=_w(7))),
    Case("mean-opset18", "mean", lambda m, x: C.mean(x * m.c, axis=(2, 3)), X4, dict(c=_w(7)), opset=18),
    Case("max", "max", lambda m, x: C.max(x * m.c, axis=1), X4, dict(c=_w(7))),
    Case("min", "min", lambda m, x: C.min(x * m.c, axis=(1, 2), keepdims=True), X4, dict(c=_w(7))),
    Case("max-opset18", "max", lambda m, x: C.max(x * m.c, axis=2), X4, dict(c=_w(7)), opset=18),
    Case("var", "var", lambda m, x: C.var(x * m.c, axis=(2, 3), ddof=1), X4, dict(c=_w(7))),
]


def _available(case):
    return not case.needs or has(*case.needs)


def _need_label(case):
    if not case.needs:
        return ""
    return f"{case.needs[0]}({case.needs[1]}=)" if len(case.needs) > 1 else case.needs[0]


def _inputs(case, batch):
    shape = (batch,) + case.shape[1:]
    rng = np.random.default_rng(batch)
    if case.positive:
        return rng.uniform(0.5, 2.5, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=pytest.mark.skipif(
    not _available(c), reason=f"{_need_label(c)} not in this tapegraph yet")) for c in CASES])
def test_op_roundtrip(case, tmp_path):
    model = Fn(case.fn, **case.params)
    x = _inputs(case, case.shape[0])
    others = [_inputs(case, case.shape[0] + 3)] if case.other_batch else []
    with tg.Tape() as tape:                          # the case records the op it claims to cover
        model.eval()
        model(tg.Tensor(x, requires_grad=True))
    assert case.target in [n.name for n in tape.nodes]
    roundtrip(model, tmp_path / f"{case.id}.onnx", x, *others, opset=case.opset)


def test_every_translated_op_has_a_case():
    covered = {c.target for c in CASES}
    registered = set(REGISTRY)
    missing = sorted((set(tg.onnx.TRANSLATIONS) & registered) - covered - {"dropout"})
    assert not missing, f"translated ops without a round-trip case here: {missing}"
