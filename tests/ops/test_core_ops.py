"""Float64 finite-difference gradient checks for the core ops, over several shapes including broadcasting."""
import numpy as np
import pytest

import tapegraph as tg
from tests.ops.cases import Case, params, rand, run_case

R = rand
POS = dict(low=0.5, high=2.0)

GRAD_CASES = {
    "add": [Case(lambda a, b: a + b, [R(3, 4), R(3, 4, seed=1)], "same"),
            Case(lambda a, b: a + b, [R(2, 3, 4), R(4, seed=1)], "broadcast"),
            Case(lambda a, b: a + b, [R(3, 1), R(1, 5, seed=1)], "outer")],
    "sub": [Case(lambda a, b: a - b, [R(3, 4), R(3, 1, seed=1)], "broadcast"),
            Case(lambda a, b: 2.0 - a - b, [R(5), R(seed=1)], "scalar")],
    "mul": [Case(lambda a, b: a * b, [R(3, 4), R(4, seed=1)], "broadcast"),
            Case(lambda a: a * a, [R(2, 3)], "reuse")],
    "div": [Case(lambda a, b: a / b, [R(3, 4), R(4, seed=1, **POS)], "broadcast"),
            Case(lambda a: 1.0 / a, [R(3, **POS)], "reciprocal")],
    "neg": [Case(lambda a: -a, [R(2, 3)])],
    "pow": [Case(lambda a, b: a ** b, [R(3, 4, **POS), R(4, seed=1)], "tensor-exponent"),
            Case(lambda a: 2.0 ** a, [R(3)], "scalar-base")],
    "pow_scalar": [Case(lambda a: a ** 3, [R(3, 2)], "cube"), Case(lambda a: a ** 2, [R(4)], "square"),
                   Case(lambda a: a ** 0.5, [R(4, **POS)], "root"), Case(lambda a: a ** -1.5, [R(4, **POS)], "neg")],
    "exp": [Case(tg.exp, [R(3, 4)])],
    "log": [Case(tg.log, [R(3, 4, **POS)])],
    "sqrt": [Case(tg.sqrt, [R(3, 4, **POS)])],
    "abs": [Case(tg.abs, [R(3, 4, distinct=True)])],
    "maximum": [Case(tg.maximum, [R(3, 4), R(3, 4, seed=1)], "same"),
                Case(tg.maximum, [R(3, 4), R(4, seed=1)], "broadcast")],
    "minimum": [Case(tg.minimum, [R(3, 4), R(1, 4, seed=1)], "broadcast")],
    "clip": [Case(lambda a: tg.clip(a, -0.5, 0.7), [R(4, 5, distinct=True) / 10], "both"),
             Case(lambda a: a.clip(lo=0.1), [R(6, distinct=True) / 3], "lo")],
    "where": [Case(lambda a, b: tg.where(rand(3, 4, seed=5) > 0, a, b), [R(3, 4), R(4, seed=1)])],
    "matmul": [Case(tg.matmul, [R(3, 4), R(4, 5, seed=1)], "2d"),
               Case(tg.matmul, [R(2, 3, 4), R(4, 5, seed=1)], "batched-broadcast"),
               Case(tg.matmul, [R(2, 1, 3, 4), R(3, 4, 2, seed=1)], "batch-broadcast-both"),
               Case(tg.matmul, [R(4), R(4, 5, seed=1)], "vec-mat"),
               Case(tg.matmul, [R(3, 4), R(4, seed=1)], "mat-vec"),
               Case(tg.matmul, [R(4), R(4, seed=1)], "dot"),
               Case(tg.matmul, [R(4), R(2, 4, 3, seed=1)], "vec-batched")],
    "sum": [Case(lambda a: a.sum(), [R(3, 4)], "all"), Case(lambda a: a.sum(axis=1), [R(3, 4)], "axis"),
            Case(lambda a: a.sum(axis=(0, 2), keepdims=True), [R(2, 3, 4)], "axes-keepdims")],
    "mean": [Case(lambda a: a.mean(), [R(3, 4)], "all"), Case(lambda a: a.mean(axis=-1), [R(2, 3, 4)], "last"),
             Case(lambda a: a.mean(axis=(0, 1), keepdims=True), [R(2, 3, 4)], "axes-keepdims")],
    "max": [Case(lambda a: a.max(), [R(3, 4, distinct=True)], "all"),
            Case(lambda a: a.max(axis=0), [R(3, 4, distinct=True)], "axis"),
            Case(lambda a: a.max(axis=1, keepdims=True), [R(2, 5, 3, distinct=True)], "keepdims")],
    "min": [Case(lambda a: a.min(axis=1), [R(3, 4, distinct=True)])],
    "var": [Case(lambda a: a.var(), [R(3, 4)], "all"), Case(lambda a: a.var(axis=0, ddof=1), [R(5, 3)], "ddof"),
            Case(lambda a: a.var(axis=(0, 2), keepdims=True), [R(2, 3, 4)], "axes")],
    "reshape": [Case(lambda a: a.reshape(4, 3) * rand(4, 3, seed=3), [R(3, 4)]),
                Case(lambda a: a.reshape(-1), [R(2, 3, 2)], "flat")],
    "transpose": [Case(lambda a: a.T * rand(4, 3, seed=3), [R(3, 4)], "T"),
                  Case(lambda a: a.permute(2, 0, 1), [R(2, 3, 4)], "permute")],
    "broadcast_to": [Case(lambda a: a.expand(3, 2, 4) * rand(3, 2, 4, seed=3), [R(2, 1)], "expand")],
    "squeeze": [Case(lambda a: a.squeeze(1), [R(3, 1, 2)]), Case(lambda a: a.squeeze(), [R(1, 3, 1)], "all")],
    "unsqueeze": [Case(lambda a: a.unsqueeze(0), [R(3, 2)]), Case(lambda a: a.unsqueeze(-1), [R(3)], "last")],
    "getitem": [Case(lambda a: a[1], [R(3, 4)], "int"),
                Case(lambda a: a[:, 1:3], [R(3, 4)], "slice"),
                Case(lambda a: a[::2, ::-1], [R(5, 4)], "strided"),
                Case(lambda a: a[np.array([0, 2, 0, 0])], [R(3, 4)], "repeated-int-array"),
                Case(lambda a: a[rand(3, 4, seed=9) > 0], [R(3, 4)], "bool-mask"),
                Case(lambda a: a[np.array([0, 1, 1]), np.array([2, 2, 2])], [R(3, 4)], "advanced-pair")],
    "concatenate": [Case(lambda a, b: tg.concatenate([a, b, a], axis=1), [R(2, 3), R(2, 1, seed=1)])],
    "stack": [Case(lambda a, b: tg.stack([a, b], axis=1), [R(2, 3), R(2, 3, seed=1)])],
    "pad": [Case(lambda a: tg.pad(a, ((0, 0), (1, 2))), [R(2, 3)]),
            Case(lambda a: tg.pad(a, 1, value=3.0), [R(2, 2)], "scalar")],
    "relu": [Case(tg.relu, [R(3, 4, distinct=True)])],
    "leaky_relu": [Case(lambda a: tg.leaky_relu(a, 0.1), [R(3, 4, distinct=True)])],
    "sigmoid": [Case(tg.sigmoid, [R(3, 4) * 3])],
    "tanh": [Case(tg.tanh, [R(3, 4)])],
    "softmax": [Case(lambda a: tg.softmax(a), [R(3, 4)], "last"),
                Case(lambda a: tg.softmax(a, axis=0), [R(3, 4)], "axis0")],
    "log_softmax": [Case(lambda a: tg.log_softmax(a), [R(3, 4)], "last"),
                    Case(lambda a: tg.log_softmax(a, axis=1), [R(2, 3, 2)], "middle")],
    "mean_squared_error": [Case(tg.mean_squared_error, [R(4, 3), R(4, 3, seed=1)])],
    "binary_crossentropy": [
        Case(lambda p, t: tg.binary_crossentropy(p, t), [R(4, 3, low=0.05, high=0.95),
                                                          (R(4, 3, seed=2) > 0).astype(np.float64)], "probs", wrt=(0,)),
        Case(lambda z, t: tg.binary_crossentropy(z, t, from_logits=True), [R(4, 3) * 3, R(4, 3, low=0, high=1)],
             "logits", wrt=(0,))],
    "categorical_crossentropy": [
        Case(lambda z: tg.categorical_crossentropy(z, np.array([0, 2, 1, 2]), from_logits=True), [R(4, 3)],
             "logits-labels"),
        Case(lambda z, t: tg.categorical_crossentropy(z, t, from_logits=True),
             [R(4, 3), np.full((4, 3), 1 / 3)], "logits-probs", wrt=(0,)),
        Case(lambda p: tg.categorical_crossentropy(p / p.sum(axis=1, keepdims=True), np.array([1, 0, 2])),
             [R(3, 3, low=0.05, high=0.95)], "probs-labels"),
        Case(lambda p, t: tg.categorical_crossentropy(p / p.sum(axis=1, keepdims=True), t),
             [R(3, 4, low=0.05, high=0.95), np.eye(4)[[0, 3, 1]].astype(np.float64)], "probs-onehot", wrt=(0,))],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradient(op, case):
    run_case(op, case)


def test_gradcheck_catches_a_wrong_rule():
    """The checker itself must fail on a wrong derivative, or every check above proves nothing."""
    class WrongSquare(tg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            return (grad * ctx.saved[0],)  # missing the factor 2

    with pytest.raises(tg.GradcheckError, match="analytic .* vs numeric"):
        tg.gradcheck(lambda a: WrongSquare.apply(a), [rand(3)])
