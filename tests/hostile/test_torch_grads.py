"""Values and gradients against PyTorch under unusual-but-valid configurations (issue 13's hostile pass, part 3):
odd sizes, every option of an op at once, float64, a random upstream gradient, every differentiable input."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import optim

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = ATOL = 1e-9


class Const:
    """An input passed to both sides without requiring a gradient (class weights, pos_weight)."""
    def __init__(self, a):
        self.a = a


def _compare(tg_fn, torch_fn, arrays, seed=0, rtol=RTOL, atol=ATOL):
    """Run both on float64 copies of ``arrays`` (ndarrays: differentiable; others passed as is); compare outputs and
    the gradients of every differentiable input under one random upstream gradient."""
    rng = np.random.default_rng(seed)
    xs = [tg.tensor(a, requires_grad=True, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
          else tg.tensor(a.a, dtype=np.float64) if isinstance(a, Const) else a for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
          else torch.tensor(a.a, dtype=torch.float64) if isinstance(a, Const)
          else torch.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays]
    with tg.Tape() as tape:
        out = tg_fn(*xs)
    ref = torch_fn(*ts)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    g = rng.standard_normal(out.shape)
    tape.backward(out, grad=g)
    ref.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if isinstance(x, tg.Tensor) and x.requires_grad:
            assert x.grad is not None, f"input {i}: no gradient (torch has one)"
            np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad of input {i}")


def rnd(*shape, seed=1):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape)


@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups,cout_g", [
    (2, 1, 1, 2, 2, 3), (3, 0, 2, 1, 3, 2), (2, 2, 1, 3, 6, 1), (1, 0, 0, 2, 1, 4), (3, (1, 2), (2, 0), (1, 2), 2, 2)])
def test_conv_transpose2d_groups_dilation_output_padding(stride, padding, output_padding, dilation, groups, cout_g):
    x, w, b = rnd(2, 6, 5, 4), rnd(6, cout_g, 3, 2), rnd(cout_g * groups)
    pad_tg = padding
    _compare(lambda x, w, b: tg.conv_transpose2d(x, w, b, stride=stride, padding=pad_tg, output_padding=output_padding,
                                                 dilation=dilation, groups=groups),
             lambda x, w, b: F.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding,
                                                dilation=dilation, groups=groups), [x, w, b])


@pytest.mark.parametrize("stride,padding,dilation,groups", [(2, 1, 2, 2), (3, (2, 0), (1, 3), 4), (1, 0, 1, 4)])
def test_conv2d_groups_dilation_stride(stride, padding, dilation, groups):
    x, w, b = rnd(3, 4, 9, 8), rnd(8, 4 // groups, 3, 2), rnd(8)
    _compare(lambda x, w, b: tg.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups),
             lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups),
             [x, w, b])


def test_conv1d_groups_dilation():
    x, w, b = rnd(2, 6, 11), rnd(4, 3, 3), rnd(4)
    _compare(lambda x, w, b: tg.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2),
             lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2), [x, w, b])


@pytest.mark.parametrize("k,s,p,d,hw", [(3, 2, 1, 2, (9, 8)), (2, 2, 1, 1, (5, 7)), (3, 3, 1, 1, (8, 10)),
                                        (4, 3, 2, 2, (11, 9)), ((3, 2), (2, 1), (1, 1), (2, 1), (7, 6))])
def test_max_pool2d_ceil_padding_dilation(k, s, p, d, hw):
    x = rnd(2, 3, *hw)
    _compare(lambda x: tg.max_pool2d(x, k, s, padding=p, dilation=d, ceil_mode=True),
             lambda x: F.max_pool2d(x, k, s, padding=p, dilation=d, ceil_mode=True), [x])
    y, idx = tg.max_pool2d(tg.tensor(x), k, s, padding=p, dilation=d, ceil_mode=True, return_indices=True)
    _, tidx = F.max_pool2d(torch.tensor(x), k, s, padding=p, dilation=d, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(idx.data, tidx.numpy())


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("k,s,p,hw", [(3, 2, 1, (8, 9)), (2, 3, 1, (7, 5)), ((3, 2), (2, 2), (1, 1), (6, 7))])
def test_avg_pool2d_ceil_padding(k, s, p, hw, count_include_pad):
    x = rnd(2, 3, *hw)
    _compare(lambda x: tg.avg_pool2d(x, k, s, padding=p, ceil_mode=True, count_include_pad=count_include_pad),
             lambda x: F.avg_pool2d(x, k, s, padding=p, ceil_mode=True, count_include_pad=count_include_pad), [x])


def test_max_unpool2d_roundtrip():
    x = rnd(2, 3, 7, 9)
    _, idx = F.max_pool2d(torch.tensor(x), 3, 2, padding=1, return_indices=True)
    y = rnd(*idx.shape)
    _compare(lambda y: tg.max_unpool2d(y, idx.numpy(), 3, 2, padding=1, output_size=(7, 9)),
             lambda y: F.max_unpool2d(y, idx, 3, 2, padding=1, output_size=(7, 9)), [y])


@pytest.mark.parametrize("out", [(3, 5), (5, 2), (7, 7), (1, 4)])
def test_adaptive_pools_uneven_bins(out):
    x = rnd(2, 3, 7, 10)
    _compare(lambda x: tg.adaptive_avg_pool2d(x, out), lambda x: F.adaptive_avg_pool2d(x, out), [x])
    _compare(lambda x: tg.adaptive_max_pool2d(x, out), lambda x: F.adaptive_max_pool2d(x, out), [x])


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("size", [(5, 7), (3, 2), (13, 9), (1, 1), (2, 11)])
def test_interpolate_bilinear_odd_sizes(size, align_corners):
    x = rnd(2, 3, 7, 5)
    _compare(lambda x: tg.interpolate(x, size=size, mode="bilinear", align_corners=align_corners),
             lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners), [x])


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "nearest-exact"])
@pytest.mark.parametrize("scale", [1.7, (0.6, 2.3), 3])
def test_interpolate_scale_factor(mode, scale):
    x = rnd(1, 2, 7, 6)
    _compare(lambda x: tg.interpolate(x, scale_factor=scale, mode=mode),
             lambda x: F.interpolate(x, scale_factor=scale, mode=mode), [x])


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_group_norm_groups_1_and_C(groups):
    x, w, b = rnd(3, 6, 4, 5), rnd(6), rnd(6)
    _compare(lambda x, w, b: tg.group_norm(x, groups, w, b, eps=1e-3),
             lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-3), [x, w, b])


def test_layer_norm_two_axes():
    x, w, b = rnd(3, 4, 5, 6), rnd(5, 6), rnd(5, 6)
    _compare(lambda x, w, b: tg.layer_norm(x, (5, 6), w, b, eps=1e-4),
             lambda x, w, b: F.layer_norm(x, (5, 6), w, b, eps=1e-4), [x, w, b])


@pytest.mark.parametrize("mode,tmode", [("reflect", "reflect"), ("edge", "replicate")])
def test_pad_modes(mode, tmode):
    x = rnd(2, 3, 5, 6)
    _compare(lambda x: tg.pad(x, ((0, 0), (0, 0), (2, 4), (5, 1)), mode=mode),
             lambda x: F.pad(x, (5, 1, 2, 4), mode=tmode), [x])


def test_pad_negative_crop():
    x = rnd(2, 3, 5, 6)
    _compare(lambda x: tg.pad(x, ((0, 0), (0, 0), (-2, 1), (3, -4)), value=0.5),
             lambda x: F.pad(x, (3, -4, -2, 1), value=0.5), [x])


@pytest.mark.parametrize("name,args,tfn", [
    ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    ("gelu", {}, F.gelu), ("silu", {}, F.silu), ("elu", {"alpha": 0.3}, lambda x: F.elu(x, 0.3)),
    ("softplus", {"beta": 2.5, "threshold": 1.5}, lambda x: F.softplus(x, 2.5, 1.5)),
    ("hard_sigmoid", {}, F.hardsigmoid), ("hard_swish", {}, F.hardswish)])
def test_activations(name, args, tfn):
    x = rnd(4, 50) * 4
    x[0, :6] = [-3, 3, 0, 0.6, -0.6, 1.5 / 2.5]          # kinks of the hard ones, softplus's threshold
    # torch's hardsigmoid backward multiplies by a float32 1/6 even in float64 (3e-8 off): looser there
    _compare(lambda x: getattr(tg, name)(x, **args), tfn, [x], rtol=1e-7 if name == "hard_sigmoid" else RTOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, 2, -100])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_all_options(reduction, ignore_index, weighted):
    pred = rnd(7, 5, 3)                                   # (N, C, d1)
    labels = np.random.default_rng(3).integers(0, 5, (7, 3))
    if ignore_index == -100:
        labels[0, 0] = labels[4, 2] = -100
    w = np.abs(rnd(5)) + 0.1 if weighted else None
    kw = dict(reduction=reduction, label_smoothing=0.15)
    arrays = [pred, Const(w)] if weighted else [pred]

    def ours(p, w=None):
        return tg.losses.categorical_crossentropy(p, labels, from_logits=True, ignore_index=ignore_index,
                                                  class_weights=w, **kw)

    def ref(p, w=None):
        return F.cross_entropy(p, torch.tensor(labels), weight=w,
                               ignore_index=-100 if ignore_index is None else ignore_index, **kw)
    _compare(ours, ref, arrays)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_smoothing_weights(reduction):
    pred = rnd(6, 4)
    t = np.random.default_rng(5).dirichlet(np.ones(4), 6)
    w = np.abs(rnd(4)) + 0.2
    _compare(lambda p, t, w: tg.losses.categorical_crossentropy(p, t, from_logits=True, label_smoothing=0.2,
                                                                class_weights=w, reduction=reduction),
             lambda p, t, w: F.cross_entropy(p, t, weight=w, label_smoothing=0.2, reduction=reduction), [pred, Const(t), Const(w)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_logits_pos_weight(reduction):
    pred = rnd(5, 4) * 3
    t = np.random.default_rng(2).uniform(0, 1, (5, 4))
    pw = np.abs(rnd(4)) + 0.5
    _compare(lambda p, t, pw: tg.losses.binary_crossentropy(p, t, from_logits=True, pos_weight=pw, reduction=reduction),
             lambda p, t, pw: F.binary_cross_entropy_with_logits(p, t, pos_weight=pw, reduction=reduction),
             [pred, Const(t), Const(pw)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_huber_and_mae(reduction):
    p, t = rnd(6, 5), rnd(6, 5, seed=9)
    _compare(lambda p, t: tg.losses.huber(p, t, 0.4, reduction=reduction),
             lambda p, t: F.huber_loss(p, t, reduction=reduction, delta=0.4), [p, t])
    _compare(lambda p, t: tg.losses.mean_absolute_error(p, t, reduction=reduction),
             lambda p, t: F.l1_loss(p, t, reduction=reduction), [p, t])


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean", "none"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")   # torch's note on its own 'mean'
def test_kl_divergence(reduction, log_target):
    p = np.log(np.random.default_rng(1).dirichlet(np.ones(5), 4))
    t = np.random.default_rng(2).dirichlet(np.ones(5), 4)
    t = np.log(t) if log_target else t
    _compare(lambda p, t: tg.losses.kl_divergence(p, t, reduction=reduction, log_target=log_target),
             lambda p, t: F.kl_div(p, t, reduction=reduction, log_target=log_target), [p, t])
    # a zero target (0 * log 0 = 0): same loss and pred gradient; d/dtarget there is -inf in theory, torch gives NaN
    # and tapegraph 0 (documented in kl_divergence's test below), so the target is a constant here
    # (with log_target=True a zero target is log 0 = -inf: torch's loss is NaN there, tapegraph's the limit 0)
    if log_target:
        return
    z = np.random.default_rng(2).dirichlet(np.ones(5), 4)
    z[0, 1] = 0.0
    _compare(lambda p, t: tg.losses.kl_divergence(p, t, reduction=reduction, log_target=log_target),
             lambda p, t: F.kl_div(p, t, reduction=reduction, log_target=log_target), [p, Const(z)])


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy"])
def test_crossentropy_refuses_a_recorded_target(loss):
    """torch differentiates soft targets; tapegraph's cross-entropies do not, so a target computed on the tape (a
    teacher's softmax) is refused rather than silently cut from the graph; detach() states the intent."""
    p = tg.tensor(np.full((3, 4), 0.25), requires_grad=True, dtype=np.float64)
    z = tg.tensor(np.zeros((3, 4)), requires_grad=True, dtype=np.float64)
    with tg.Tape():
        t = tg.softmax(z, axis=1)
        with pytest.raises(ValueError, match=f"{loss}: target was computed on the tape"):
            getattr(tg.losses, loss)(p, t)
        getattr(tg.losses, loss)(p, t.detach())
        leaf = tg.tensor(np.full((3, 4), 0.25), requires_grad=True, dtype=np.float64)
        getattr(tg.losses, loss)(p, leaf)           # a leaf: a constant, as gradcheck(..., wrt=(0,)) passes it


# -- optimizers: several steps with param groups, against torch.optim ----------------------------------------------
def _run_opt(tg_cls, t_cls, groups_kw, steps=6, **ctor):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,), (2, 2)]
    init = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    ps = [tg.tensor(a.copy(), requires_grad=True, dtype=np.float64) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    g_tg = [dict(kw, params=[ps[i] for i in idx]) for idx, kw in groups_kw]
    g_t = [dict(kw, params=[ts[i] for i in idx]) for idx, kw in groups_kw]
    o1, o2 = tg_cls(g_tg, **ctor), t_cls(g_t, **ctor)
    for k in range(steps):
        for p, t, g in zip(ps, ts, grads[k]):
            p.grad = g.copy()
            t.grad = torch.tensor(g.copy())
        o1.step()
        o2.step()
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("tg_cls,t_cls,groups", [
    (optim.Adam, torch.optim.Adam, [([0], dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
                                    ([1, 2], dict(lr=0.003, betas=(0.5, 0.9), amsgrad=False, weight_decay=0.0))]),
    (optim.AdamW, torch.optim.AdamW, [([0, 1], dict(lr=0.02, amsgrad=True, weight_decay=0.3, eps=1e-3)),
                                      ([2], dict(lr=0.001, weight_decay=0.0))]),
    (optim.RMSprop, torch.optim.RMSprop, [([0], dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.05)),
                                          ([1, 2], dict(lr=0.02, alpha=0.5))]),
    (optim.Adagrad, torch.optim.Adagrad, [([0], dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
                                          ([1, 2], dict(lr=0.05))]),
    (optim.SGD, torch.optim.SGD, [([0], dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                  ([1, 2], dict(lr=0.05, momentum=0.5, dampening=0.3))]),
])
def test_optimizers_param_groups_against_torch(tg_cls, t_cls, groups):
    _run_opt(tg_cls, t_cls, groups)


def test_adagrad_initial_accumulator_from_constructor():
    # (a group's own initial_accumulator_value is honoured by tapegraph, ignored by torch: documented deviation)
    _run_opt(optim.Adagrad, torch.optim.Adagrad, [([0], dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
                                                  ([1, 2], dict(lr=0.05))], initial_accumulator_value=0.3)


def test_adam_amsgrad_state_dict_roundtrip_matches_torch():
    """Save after 3 steps, load into a fresh optimizer, 3 more steps: still torch's trajectory."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(6)]
    p = tg.tensor(a.copy(), requires_grad=True, dtype=np.float64)
    t = torch.tensor(a.copy(), requires_grad=True)
    o1 = optim.Adam([p], lr=0.05, amsgrad=True, weight_decay=0.2)
    o2 = torch.optim.Adam([t], lr=0.05, amsgrad=True, weight_decay=0.2)
    for k in range(6):
        if k == 3:
            sd = o1.state_dict()
            o1 = optim.Adam([p], lr=0.05, amsgrad=True, weight_decay=0.2)
            o1.load_state_dict(sd)
        p.grad = grads[k].copy()
        t.grad = torch.tensor(grads[k].copy())
        o1.step()
        o2.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)
