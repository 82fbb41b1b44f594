"""Gradient checks (float64, central differences) for every loss and every mode: reductions, label smoothing,
ignore_index, class weights, segmentation shapes, pos_weight, huber's delta, KL's log/probability conventions."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import losses

from .cases import Case, params, rand as R, run_case


def unit(a, axis=1):
    """Rows that sum to 1 along ``axis`` (probability inputs must)."""
    return a / a.sum(axis=axis, keepdims=True)


def logprobs(*shape, seed=0):
    z = R(*shape, seed=seed)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


LABELS = np.array([0, 2, 1, 3, 2])
SEG_LABELS = np.array([[[0, 2, 1], [2, 2, 0]], [[1, 0, 0], [2, 1, 2]]])        # (N=2, H=2, W=3), C=3
W4 = np.array([0.5, 2.0, 1.0, 1.5])
CE = losses.categorical_crossentropy

GRAD_CASES = {
    "mean_squared_error": [
        Case(lambda p, t: losses.mse(p, t, reduction="sum"), [R(3, 4), R(3, 4, seed=1)], "sum-both"),
        Case(lambda p, t: losses.mse(p, t, reduction="none"), [R(2, 3, 2), R(2, 3, 2, seed=1)], "none-both"),
    ],
    "mean_absolute_error": [
        Case(lambda p, t: losses.mae(p, t), [R(3, 4, distinct=True), np.full((3, 4), 0.1)], "mean-both"),
        Case(lambda p, t: losses.mae(p, t, reduction="none"), [R(2, 5, distinct=True), np.full((2, 5), 0.1)],
             "none"),
        Case(lambda p, t: losses.mae(p, t, reduction="sum"), [R(4, 3, distinct=True), np.full((4, 3), 0.1)],
             "sum"),
    ],
    "huber": [
        Case(lambda p, t: losses.huber(p, t), [R(3, 4, distinct=True), np.zeros((3, 4))], "delta1-both"),
        Case(lambda p, t: losses.huber(p, t, delta=0.5, reduction="sum"), [R(3, 4, distinct=True),
                                                                             np.zeros((3, 4))], "delta0.5-sum"),
        Case(lambda p, t: losses.huber(p, t, 2.0, reduction="none"), [R(3, 4, distinct=True), np.zeros((3, 4))],
             "delta2-none"),
    ],
    "kl_divergence": [
        Case(lambda q, t: losses.kl_divergence(q, t), [logprobs(3, 4), unit(R(3, 4, low=0.1, high=1), -1)],
             "logq-mean-both"),
        Case(lambda q, t: losses.kl_divergence(q, t, reduction="batchmean", log_target=True),
             [logprobs(3, 4), logprobs(3, 4, seed=3)], "logq-logt-batchmean-both"),
        Case(lambda q, t: losses.kl_divergence(q, t, reduction="none"),
             [logprobs(2, 5), np.array([[0.0, 0.2, 0.3, 0.5, 0.0], [0.1, 0.1, 0.1, 0.1, 0.6]])],
             "logq-zero-target-none", wrt=(0,)),
        Case(lambda p, t: losses.kl_divergence(p, t, log_input=False, reduction="sum"),
             [unit(R(3, 4, low=0.1, high=1), -1), unit(R(3, 4, low=0.1, high=1, seed=5), -1)], "probs-sum-both"),
    ],
    "binary_crossentropy": [
        Case(lambda z, t: losses.binary_crossentropy(z, t, True, pos_weight=np.array([0.5, 2.0, 3.0])),
             [R(4, 3) * 3, R(4, 3, low=0, high=1, seed=1)], "logits-pos_weight", wrt=(0,)),
        Case(lambda p, t: losses.binary_crossentropy(p, t, pos_weight=np.array([0.5, 2.0, 3.0]), reduction="sum"),
             [R(4, 3, low=0.05, high=0.95), R(4, 3, low=0, high=1, seed=1)], "probs-pos_weight-sum", wrt=(0,)),
        Case(lambda z, t: losses.binary_crossentropy(z, t, from_logits=True, reduction="none"),
             [R(2, 3, 2) * 3, R(2, 3, 2, low=0, high=1, seed=2)], "logits-none", wrt=(0,)),
    ],
    "categorical_crossentropy": [
        Case(lambda z: CE(z, LABELS, True, label_smoothing=0.1), [R(5, 4)], "logits-labels-smoothing"),
        Case(lambda z: CE(z, LABELS, True, ignore_index=2), [R(5, 4)], "logits-ignore_index"),
        Case(lambda z: CE(z, np.array([0, -100, 1, 3, -100]), True, ignore_index=-100, class_weights=W4,
                          label_smoothing=0.2), [R(5, 4)], "logits-weights-ignore-smoothing"),
        Case(lambda z: CE(z, LABELS, True, class_weights=W4, reduction="none"), [R(5, 4)], "logits-weights-none"),
        Case(lambda z: CE(z, SEG_LABELS, True, class_weights=W4[:3]), [R(2, 3, 2, 3)], "segmentation-weights"),
        Case(lambda z: CE(z, SEG_LABELS, True, reduction="none", label_smoothing=0.1), [R(2, 3, 2, 3)],
             "segmentation-none"),
        Case(lambda z, t: CE(z, t, True, label_smoothing=0.3, class_weights=W4, reduction="sum"),
             [R(3, 4), unit(R(3, 4, low=0, high=1, seed=4))], "logits-soft-target-weights-sum", wrt=(0,)),
        Case(lambda z, t: CE(z, t, True), [R(2, 3, 4), unit(R(2, 3, 4, low=0, high=1, seed=4))],
             "segmentation-soft-target", wrt=(0,)),
        Case(lambda p: CE(p, LABELS, label_smoothing=0.1, class_weights=W4, ignore_index=1),
             [unit(R(5, 4, low=0.05, high=0.95))], "probs-labels-all-options"),
        Case(lambda p: CE(p, SEG_LABELS, reduction="none"), [unit(R(2, 3, 2, 3, low=0.05, high=0.95))],
             "probs-segmentation-none"),
    ],
}


@pytest.mark.parametrize("op,case", params(GRAD_CASES))
def test_gradient(op, case):
    run_case(op, case)


@pytest.mark.parametrize("call", [
    lambda x: losses.mse(x, np.zeros((4, 3))), lambda x: losses.mae(x, np.zeros((4, 3))),
    lambda x: losses.huber(x, np.zeros((4, 3))),
    lambda x: losses.kl_divergence(tg.log_softmax(x), unit(np.ones((4, 3)))),
    lambda x: losses.binary_crossentropy(x, np.ones((4, 3)), True, pos_weight=np.ones(3)),
    lambda x: CE(x, np.array([0, 1, 2, 1]), True, label_smoothing=0.1, class_weights=np.ones(3), ignore_index=1),
])
def test_each_loss_is_one_record(call):
    x = tg.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    with tg.Tape() as tape:
        call(x)
    loss_records = [n.op.name for n in tape if n.op.name not in ("log_softmax",)]
    assert len(loss_records) == 1, loss_records
