"""Shared pieces of the ONNX tests: the extra's skip, a one-function model, and the round trip through onnxruntime."""
import inspect

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn

REASON = 'needs the optional extra [onnx] (onnx, onnxruntime): pip install -e ".[onnx]"'
TOL = 1e-5


def require_extra():
    """(onnx, onnxruntime), or skip naming the extra."""
    return (pytest.importorskip("onnx", reason=REASON), pytest.importorskip("onnxruntime", reason=REASON))


def has(op_name, arg=None):
    """Whether ``tg.<op_name>`` exists (and takes ``arg``): ops merged from other branches."""
    fn = getattr(tg, op_name, None) or getattr(tg.ops, op_name, None)
    if fn is None:
        return False
    return arg is None or arg in inspect.signature(fn).parameters


def op(name):
    return getattr(tg, name, None) or getattr(tg.ops, name)


class Fn(nn.Module):
    """A model whose forward is ``fn(self, x)``; keyword arrays become Parameters named after the keyword."""

    def __init__(self, fn, **params):
        super().__init__()
        for k, v in params.items():
            setattr(self, k, nn.Parameter(np.asarray(v, dtype=np.float32)))
        self.fn = fn

    def forward(self, x):
        return self.fn(self, x)


def reference(model, x):
    with model.inference():
        out = model(x)
    return [o.data for o in out] if isinstance(out, (tuple, list)) else [out.data]


def run(path, x, input_name="input"):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {input_name: x})


def max_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"onnxruntime gave shape {a.shape}, tapegraph {b.shape}"
    return float(np.abs(a.astype(np.float64) - b).max()) if a.size else 0.0


def roundtrip(model, path, x, *others, **options):
    """Export ``model`` on ``x``; assert onnx.checker passes and onnxruntime matches tapegraph on ``x`` and on each
    of ``others`` (other batch sizes); return the loaded ModelProto."""
    import onnx
    tg.onnx.export(model, path, x, **options)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    for inp in (x, *others):
        got = run(path, inp)
        want = reference(model, inp)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            d = max_diff(g, w)
            assert d <= TOL, f"max |onnxruntime - tapegraph| = {d:.3g} for input {inp.shape}"
    return proto
