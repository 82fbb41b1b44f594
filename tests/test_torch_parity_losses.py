"""Loss values and input gradients against torch.nn.functional (float64, random upstream gradient for "none")."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

REDUCTIONS = ["mean", "sum", "none"]


def ours(fn, inputs, wrt, upstream_seed=0):
    """fn(*tensors) -> (value, [grad of each input in wrt]); 'none' outputs get a random upstream gradient."""
    ts = [tg.tensor(a, requires_grad=i in wrt, dtype=np.float64) if np.asarray(a).dtype.kind == "f"
          else a for i, a in enumerate(inputs)]
    with tg.Tape() as tape:
        out = fn(*ts)
    g = np.random.default_rng(upstream_seed).standard_normal(out.shape) if out.ndim else np.array(1.0)
    tape.backward(out, grad=g)
    return out.data, [ts[i].grad for i in wrt], g


def theirs(fn, inputs, wrt, g):
    ts = [torch.tensor(a, requires_grad=i in wrt) if np.asarray(a).dtype.kind == "f" else torch.tensor(a)
          for i, a in enumerate(inputs)]
    out = fn(*ts)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), [ts[i].grad.numpy() for i in wrt]


def check(fn_ours, fn_torch, inputs, wrt=(0,), rtol=1e-9, atol=1e-12):
    v, grads, g = ours(fn_ours, inputs, wrt)
    tv, tgrads = theirs(fn_torch, inputs, wrt, g)
    np.testing.assert_allclose(v, tv, rtol=rtol, atol=atol, equal_nan=True)
    for a, b in zip(grads, tgrads):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


rng = np.random.default_rng(0)
Z = rng.standard_normal((6, 5)) * 2
Y = np.array([0, 4, 2, 2, 1, 3])
ZSEG = rng.standard_normal((2, 4, 3, 5))
YSEG = rng.integers(0, 4, (2, 3, 5))
W5 = np.array([0.2, 1.0, 2.5, 0.7, 1.3])


def soft(shape, axis=1, seed=1):
    a = np.random.default_rng(seed).uniform(0.05, 1, shape)
    return a / a.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, 2, -100])
def test_cross_entropy_labels(reduction, smoothing, weighted, ignore):
    y = Y.copy()
    if ignore == -100:
        y[[1, 4]] = -100
    w = W5 if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda z: losses.categorical_crossentropy(z, y, True, ignore_index=ignore, class_weights=w, **kw),
          lambda z: F.cross_entropy(z, torch.tensor(y), weight=None if w is None else torch.tensor(w),
                                    ignore_index=-100 if ignore is None else ignore, **kw), [Z])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_segmentation(reduction, smoothing, weighted):
    y = YSEG.copy()
    y[0, 1, 2] = y[1, 2, 0] = 255 - 256          # ignored pixels (-1)
    w = W5[:4] if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda z: losses.categorical_crossentropy(z, y, from_logits=True, ignore_index=-1, class_weights=w, **kw),
          lambda z: F.cross_entropy(z, torch.tensor(y), weight=None if w is None else torch.tensor(w), ignore_index=-1,
                                    **kw), [ZSEG])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3, 2)])
def test_cross_entropy_probability_targets(reduction, smoothing, weighted, shape):
    z = np.random.default_rng(3).standard_normal(shape)
    t = soft(shape)
    w = W5 if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda z: losses.categorical_crossentropy(z, t, True, class_weights=w, **kw),
          lambda z: F.cross_entropy(z, torch.tensor(t), weight=None if w is None else torch.tensor(w), **kw), [z])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target", ["labels", "probs"])
def test_cross_entropy_on_probabilities_is_nll_of_log(reduction, target):
    """from_logits=False: -sum_c w_c t_c log p_c, differentiated through log p (no softmax), as torch's nll_loss."""
    p = soft((6, 5), seed=4)
    t = Y if target == "labels" else soft((6, 5), seed=5)
    if target == "labels":
        ref = lambda p: F.nll_loss(torch.log(p), torch.tensor(t), weight=torch.tensor(W5), reduction=reduction)  # noqa
    else:
        def ref(p):
            loss = -(torch.tensor(W5) * torch.tensor(t) * torch.log(p)).sum(1)
            return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
    check(lambda p: losses.categorical_crossentropy(p, t, class_weights=W5, reduction=reduction), ref, [p])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, np.array([0.5, 1.0, 3.0, 2.0, 0.25])])
def test_binary_crossentropy(reduction, pos_weight):
    t = np.random.default_rng(6).uniform(0, 1, Z.shape)
    t[0] = (t[0] > 0.5)
    pw = None if pos_weight is None else torch.tensor(pos_weight)
    check(lambda z: losses.binary_crossentropy(z, t, from_logits=True, pos_weight=pos_weight, reduction=reduction),
          lambda z: F.binary_cross_entropy_with_logits(z, torch.tensor(t), pos_weight=pw, reduction=reduction), [Z])
    p = 1 / (1 + np.exp(-Z))
    if pos_weight is None:
        ref = lambda p: F.binary_cross_entropy(p, torch.tensor(t), reduction=reduction)  # noqa: E731
    else:                                       # torch has no pos_weight on probabilities: the same formula
        def ref(p):
            tt = torch.tensor(t)
            loss = -(pw * tt * torch.log(p) + (1 - tt) * torch.log1p(-p))
            return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
    check(lambda p: losses.binary_crossentropy(p, t, pos_weight=pos_weight, reduction=reduction), ref, [p],
          rtol=1e-8)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw,ref", [
    ("mse", {}, lambda a, b, r: F.mse_loss(a, b, reduction=r)),
    ("mae", {}, lambda a, b, r: F.l1_loss(a, b, reduction=r)),
    ("huber", {}, lambda a, b, r: F.huber_loss(a, b, reduction=r)),
    ("huber", {"delta": 0.4}, lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=0.4)),
    ("huber", {"delta": 3.0}, lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=3.0)),
])
def test_regression_losses(reduction, name, kw, ref):
    a, b = Z, np.random.default_rng(7).standard_normal(Z.shape)
    check(lambda x, y: getattr(losses, name)(x, y, reduction=reduction, **kw), lambda x, y: ref(x, y, reduction),
          [a, b], wrt=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_divergence(reduction, log_target):
    logq = np.log(soft((6, 5), axis=-1, seed=8))
    t = soft((6, 5), axis=-1, seed=9)
    if not log_target:
        t[0, 1] = 0.0                             # a zero target probability contributes 0 (xlogy), as torch
    target = np.log(t) if log_target else t
    v, (gq, gt), g = ours(lambda q, tt: losses.kl_divergence(q, tt, reduction=reduction, log_target=log_target),
                          [logq, target], (0, 1))
    with pytest.warns(UserWarning) if reduction == "mean" else _nothing():
        tv, (tq, tt) = theirs(lambda q, tt: F.kl_div(q, tt, reduction=reduction, log_target=log_target),
                              [logq, target], (0, 1), g)
    np.testing.assert_allclose(v, tv, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gq, tq, rtol=1e-9, atol=1e-12)
    ok = t > 0                                    # torch's target gradient is NaN where t == 0; ours is 0
    np.testing.assert_allclose(gt[ok], tt[ok], rtol=1e-9, atol=1e-12)
    assert (gt[~ok] == 0).all()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_kl_divergence_log_target_minus_inf_is_a_zero_probability():
    """exp(-inf) * (-inf - log q) is 0 here (the limit); torch returns NaN for it."""
    logq = np.log(soft((2, 3), axis=-1, seed=12))
    t = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    with np.errstate(divide="ignore"):
        a = losses.kl_divergence(logq, np.log(t), log_target=True, reduction="sum")
    b = losses.kl_divergence(logq, t, reduction="sum")
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    assert np.isfinite(a.data)


@pytest.mark.parametrize("reduction", ["batchmean", "none"])
def test_kl_divergence_on_probabilities(reduction):
    p, t = soft((6, 5), axis=-1, seed=10), soft((6, 5), axis=-1, seed=11)
    check(lambda p: losses.kl_divergence(p, t, reduction=reduction, log_input=False),
          lambda p: F.kl_div(torch.log(p), torch.tensor(t), reduction=reduction), [p])
