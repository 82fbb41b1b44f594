"""Losses as fused ops: each call is one record on the tape with a stable forward and a closed-form backward.

Conventions (PyTorch's functional semantics unless stated; signatures take ``(pred, target)`` as Keras does):

- ``reduction="mean"`` (default) | ``"sum"`` | ``"none"``. ``"none"`` returns the per-element loss (per position
  ``(N, d1, ...)`` for ``categorical_crossentropy``). ``"mean"`` over an empty batch is refused.
- dtype: float16 inputs are computed (clipping, logs, reductions) and returned in float32 -- a float16 sum of 300
  squared errors of 15 is already inf, and 1 - 1e-7 rounds to 1 in float16. The gradient keeps the input's dtype.
  float32 and float64 compute and return in their own dtype.
- Probabilities are clipped to [EPSILON, 1 - EPSILON] (Keras) in that compute dtype, so inputs of exactly 0 or 1
  give finite values; the gradient is zero where clipping was active.
- Cheap input checks (one min/max/sum pass each) refuse what would give a finite wrong answer: probability inputs
  that look like logits, targets outside their domain, non-finite targets, labels out of range, mismatched shapes.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..function import Function, op_error
from .activation import _log_softmax, _sigmoid

EPSILON = 1e-7
_REDUCTIONS = ("mean", "sum", "none")


# -- shared helpers ---------------------------------------------------------------------------------------------
def _compute_dtype(a):
    """float16 computes in float32; float32/float64 in themselves."""
    return np.dtype(np.float32) if a.dtype.itemsize < 4 else a.dtype


def _check_reduction(op, reduction, allowed=_REDUCTIONS):
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _check_same_shape(op, pred, target):
    if target.shape != pred.shape:
        raise op_error(op, f"pred and target must have the same shape, got pred {pred.shape} and target "
                           f"{target.shape}", pred, target)


def _finite_float(op, name, a, dt, allow_neg_inf=False):
    """``a`` as dtype ``dt``; refuses NaN/Inf (``-inf`` too unless allowed) and non-numeric arrays."""
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{op}: {name} must be numeric, got dtype {a.dtype} (shape {a.shape})")
    if a.dtype.kind == "f":
        bad = np.isnan(a) | (a == np.inf) if allow_neg_inf else ~np.isfinite(a)
        if bad.any():
            raise op_error(op, f"{name} contains NaN or infinite values ({int(bad.sum())} of {a.size}); {name} "
                               f"must be finite", a)
    with np.errstate(over="ignore"):
        out = a.astype(dt, copy=False)
    if a.dtype.kind == "f" and out.dtype.itemsize < a.dtype.itemsize and not allow_neg_inf \
            and not np.isfinite(out).all():
        raise op_error(op, f"{name} overflows {dt} (largest magnitude {np.abs(a).max():.4g})", a)
    return out


def _flag(op, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False, got {value!r}")
    return bool(value)


def _check_nonempty(op, reduction, pred):
    if reduction == "mean" and pred.size == 0:
        raise op_error(op, "reduction='mean' over an empty batch (use reduction='sum' or 'none')", pred)


def _reduce(loss, reduction, denom):
    """Reduce the per-element loss; ``denom`` is what "mean" divides by."""
    if reduction == "none":
        return loss
    s = loss.sum(dtype=loss.dtype)
    if reduction != "sum":
        with np.errstate(invalid="ignore", divide="ignore"):
            s = s / loss.dtype.type(denom)
    return np.asarray(s, dtype=loss.dtype)


def _upstream(grad, reduction, denom, dt, class_axis=False):
    """The upstream gradient as an array broadcastable to the per-element loss (and the mean's 1/denom applied)."""
    g = np.asarray(grad, dtype=dt)
    if reduction == "none":
        return np.expand_dims(g, 1) if class_axis else g
    if reduction != "sum":
        g = g / dt.type(denom) if denom else np.zeros_like(g)     # all positions ignored: NaN loss, zero grad (torch)
    return g


def _clip_probabilities(p):
    """p clipped to [EPSILON, 1 - EPSILON], and where it was inside (the gradient is zero elsewhere)."""
    lo, hi = p.dtype.type(EPSILON), p.dtype.type(1 - EPSILON)
    return np.clip(p, lo, hi), (p >= lo) & (p <= hi)


def _row_sum_tolerance(dtype):
    return max(1e-3, 4 * float(np.finfo(dtype).eps))


def _guard_probabilities(op, pred, axis=None, hint="from_logits=True", flag="from_logits=False"):
    """from_logits=False: pred must lie in [0, 1] (and sum to 1 along ``axis``); otherwise it looks like logits."""
    if pred.size == 0:
        return
    lo, hi = pred.min(), pred.max()
    if lo < 0 or hi > 1:
        raise op_error(op, f"{flag} expects probabilities in [0, 1], but pred has values in "
                           f"[{lo:.4g}, {hi:.4g}]: these look like logits; pass {hint}", pred)
    if axis is not None:
        s = pred.sum(axis=axis, dtype=np.float64 if pred.dtype == np.float64 else np.float32)
        dev = np.abs(s - 1).max()
        if dev > _row_sum_tolerance(pred.dtype):
            raise op_error(op, f"{flag} expects probabilities that sum to 1 over axis {axis}, but pred's "
                               f"sums lie in [{s.min():.4g}, {s.max():.4g}]: these look like logits or unnormalised "
                               f"scores; pass {hint} (or apply softmax first)", pred)


def _check_unit_interval(op, name, t):
    if t.size and (t.min() < 0 or t.max() > 1):
        raise op_error(op, f"{name} must lie in [0, 1], got values in [{t.min():.4g}, {t.max():.4g}]", t)


# -- regression losses ------------------------------------------------------------------------------------------
def _regression_forward(op, ctx, pred, target, reduction):
    _check_reduction(op, reduction)
    _check_same_shape(op, pred, target)
    _check_nonempty(op, reduction, pred)
    dt = _compute_dtype(pred)
    diff = pred.astype(dt, copy=False) - _finite_float(op, "target", target, dt)
    ctx.denom = diff.size
    return dt, diff


class MeanSquaredError(Function):
    name = "mean_squared_error"

    @staticmethod
    def forward(ctx, pred, target, *, reduction="mean"):
        dt, diff = _regression_forward("mean_squared_error", ctx, pred, target, reduction)
        ctx.save_for_backward(diff)
        return _reduce(diff * diff, reduction, diff.size)

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved
        g = diff * (_upstream(grad, ctx.attrs["reduction"], ctx.denom, diff.dtype) * 2)
        return g, (-g if ctx.needs_input_grad[1] else None)


class MeanAbsoluteError(Function):
    name = "mean_absolute_error"

    @staticmethod
    def forward(ctx, pred, target, *, reduction="mean"):
        dt, diff = _regression_forward("mean_absolute_error", ctx, pred, target, reduction)
        ctx.save_for_backward(np.sign(diff))
        return _reduce(np.abs(diff), reduction, diff.size)

    @staticmethod
    def backward(ctx, grad):
        (sign,) = ctx.saved
        g = sign * _upstream(grad, ctx.attrs["reduction"], ctx.denom, sign.dtype)    # sign(0) = 0, as torch
        return g, (-g if ctx.needs_input_grad[1] else None)


class Huber(Function):
    """torch's huber_loss: 0.5 d^2 where |d| < delta, else delta (|d| - delta / 2)."""
    name = "huber"

    @staticmethod
    def forward(ctx, pred, target, *, delta=1.0, reduction="mean"):
        op = "huber"
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not (0 < float(delta) < np.inf):
            raise ValueError(f"huber: delta must be a finite number > 0, got {delta!r}")
        dt, diff = _regression_forward(op, ctx, pred, target, reduction)
        d = dt.type(delta)
        a = np.abs(diff)
        quad = a < d
        loss = np.where(quad, dt.type(0.5) * diff * diff, d * (a - dt.type(0.5) * d))
        ctx.save_for_backward(np.where(quad, diff, d * np.sign(diff)))
        return _reduce(loss, reduction, diff.size)

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved
        g = slope * _upstream(grad, ctx.attrs["reduction"], ctx.denom, slope.dtype)
        return g, (-g if ctx.needs_input_grad[1] else None)


class KLDivergence(Function):
    """sum target * (log target - log pred), elementwise; torch's kl_div convention by default (pred = log-probs)."""
    name = "kl_divergence"

    @staticmethod
    def forward(ctx, pred, target, *, reduction="mean", log_input=True, log_target=False):
        op = "kl_divergence"
        _check_reduction(op, reduction, _REDUCTIONS + ("batchmean",))
        _check_same_shape(op, pred, target)
        _check_nonempty(op, "mean" if reduction == "batchmean" else reduction, pred)
        dt = _compute_dtype(pred)
        x = pred.astype(dt, copy=False)
        t = _finite_float(op, "target", target, dt, allow_neg_inf=bool(log_target))
        if log_input:
            if x.size and x.max() > 0:
                raise op_error(op, f"log_input=True expects log-probabilities (<= 0), but pred has values up to "
                                   f"{x.max():.4g}: for probabilities pass log_input=False", pred)
            logq, inside = x, None
        else:
            _guard_probabilities(op, pred, hint="log_input=True for log-probabilities (or softmax your logits)",
                                 flag="log_input=False")
            p, inside = _clip_probabilities(x)
            logq = np.log(p)
            x = p
        if not log_target and t.size and t.min() < 0:
            raise op_error(op, f"target must be probabilities (>= 0), got a minimum of {t.min():.4g}; "
                               f"for log-probabilities pass log_target=True", target)
        with np.errstate(divide="ignore", invalid="ignore"):
            tp, logt = (np.exp(t), t) if log_target else (t, np.log(t))
            loss = np.where(tp > 0, tp * (logt - logq), 0).astype(dt, copy=False)
        ctx.save_for_backward(tp, logt, logq, x, inside)
        ctx.denom = pred.shape[0] if reduction == "batchmean" and pred.ndim else pred.size
        return _reduce(loss, "mean" if reduction == "batchmean" else reduction, ctx.denom)

    @staticmethod
    def backward(ctx, grad):
        tp, logt, logq, x, inside = ctx.saved
        red = ctx.attrs["reduction"]
        g = _upstream(grad, "mean" if red == "batchmean" else red, ctx.denom, tp.dtype)
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = -tp * g                                     # d/d log q
            if inside is not None:
                gx = gx / x * inside                         # log_input=False: through log(clip(p))
        if ctx.needs_input_grad[1]:
            with np.errstate(invalid="ignore"):
                d = np.where(tp > 0, logt - logq + 1, 0)     # d/dt of t (log t - log q), 0 where t == 0 (torch)
            gt = (d * tp if ctx.attrs["log_target"] else d) * g
        return gx, gt


# -- cross-entropies --------------------------------------------------------------------------------------------
def _weights(op, name, w, dt, shape=None):
    w = _finite_float(op, name, w, dt)
    if w.size and w.min() < 0:
        raise op_error(op, f"{name} must be >= 0, got a minimum of {w.min():.4g}", w)
    if shape is not None and w.shape != shape:
        raise op_error(op, f"{name} must have shape {shape} (one weight per class), got shape {w.shape}", w)
    return w


class BinaryCrossentropy(Function):
    """-[pos_weight t log p + (1 - t) log(1 - p)] elementwise, p = sigmoid(pred) when from_logits."""
    name = "binary_crossentropy"
    nondiff_inputs = (1, 2)

    @staticmethod
    def forward(ctx, pred, target, pos_weight=None, *, from_logits=False, reduction="mean"):
        op = "binary_crossentropy"
        _check_reduction(op, reduction)
        _check_same_shape(op, pred, target)
        _check_nonempty(op, reduction, pred)
        dt = _compute_dtype(pred)
        t = _finite_float(op, "target", target, dt)
        _check_unit_interval(op, "target", t)
        pw = None
        if pos_weight is not None:
            pw = _weights(op, "pos_weight", pos_weight, dt)
            try:
                fits = np.broadcast_shapes(pw.shape, pred.shape) == pred.shape
            except ValueError:
                fits = False
            if not fits:
                raise op_error(op, f"pos_weight of shape {pw.shape} does not broadcast to pred's shape "
                                   f"{pred.shape} (give one weight per class, the last axis)", pred, pos_weight)
        x = pred.astype(dt, copy=False)
        if from_logits:
            sp = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))        # softplus(x) = -log(1 - sigmoid(x))
            loss = sp - x * t if pw is None else pw * t * (sp - x) + (1 - t) * sp
            ctx.save_for_backward(x, t, pw, None)
        else:
            _guard_probabilities(op, pred)
            p, inside = _clip_probabilities(x)
            lp, l1p = np.log(p), np.log1p(-p)
            loss = -(t * lp if pw is None else pw * t * lp) - (1 - t) * l1p
            ctx.save_for_backward(p, t, pw, inside)
        return _reduce(loss, reduction, loss.size)

    @staticmethod
    def backward(ctx, grad):
        first, t, pw, inside = ctx.saved
        g = _upstream(grad, ctx.attrs["reduction"], first.size, first.dtype)
        if ctx.attrs["from_logits"]:
            s = _sigmoid(first)
            d = s - t if pw is None else s * (pw * t + 1 - t) - pw * t
        else:
            p = first
            pt = t if pw is None else pw * t
            d = ((1 - t) / (1 - p) - pt / p) * inside
        return d * g, None, None


class CategoricalCrossentropy(Function):
    """Cross-entropy over axis 1 of (N, C) or (N, C, d1, ...) predictions (torch's cross_entropy).

    target: integer labels (N,) / (N, d1, ...), or probabilities (one-hot or soft) of pred's shape. Every case is
    loss = -sum_c A_c log p_c with coefficients A = class_weights * smoothed target (zero at ignored positions):
    d/dlogits = softmax * sum_c A_c - A, d/dp = -A / p.
    """
    name = "categorical_crossentropy"
    nondiff_inputs = (1, 2)

    @staticmethod
    def forward(ctx, pred, target, class_weights=None, *, from_logits=False, reduction="mean", label_smoothing=0.0,
                ignore_index=None):
        op = "categorical_crossentropy"
        _check_reduction(op, reduction)
        if pred.ndim < 2:
            raise op_error(op, "pred must be (N, C) or (N, C, d1, ...) with classes on axis 1", pred)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) \
                or not 0 <= float(label_smoothing) <= 1:
            raise ValueError(f"{op}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
        n, c = pred.shape[:2]
        if c == 0:
            raise op_error(op, "pred has no classes (axis 1 has size 0)", pred)
        lab_shape = pred.shape[:1] + pred.shape[2:]
        dt = _compute_dtype(pred)
        eps = dt.type(label_smoothing)
        bshape = (1, c) + (1,) * (pred.ndim - 2)                     # a per-class vector against pred
        w = None
        if class_weights is not None:
            w = _weights(op, "class_weights", class_weights, dt, shape=(c,)).reshape(bshape)
        if target.dtype.kind in "iu":
            if target.shape != lab_shape:
                raise op_error(op, f"integer labels must have shape {lab_shape} for pred of shape {pred.shape}, "
                                   f"got {target.shape}", pred, target)
            valid = None
            if ignore_index is not None:
                if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
                    raise TypeError(f"{op}: ignore_index must be an int or None, got {ignore_index!r}")
                if ignore_index >= c:
                    raise op_error(op, f"ignore_index={ignore_index} is out of range for {c} classes: it must be a "
                                       f"class index in [0, {c}) or a negative marker such as -100 (remap void "
                                       f"labels, e.g. y[y == 255] = -100)", pred, target)
                valid = target != ignore_index
                lab = np.where(valid, target, 0)
            else:
                lab = target
            if lab.size and (lab.min() < 0 or lab.max() >= c):
                lo, hi = lab.min(), lab.max()
                extra = "" if ignore_index is None else f" (besides ignore_index={ignore_index})"
                raise op_error(op, f"labels must lie in [0, {c}){extra}, got range [{lo}, {hi}]", pred, target)
            lab_b = np.expand_dims(lab, 1)
            sparse = not eps and w is None               # plain labels: gather, no dense coefficients
            a = None if sparse else (lab_b == np.arange(c).reshape(bshape)).astype(dt)    # one-hot on axis 1
            if eps:
                a = a * (1 - eps) + eps / c
            if w is not None:
                a = a * w
                sample_w = np.take_along_axis(np.broadcast_to(w, a.shape), lab_b, axis=1)[:, 0]
            else:
                sample_w = None
            if valid is not None:
                if not sparse:
                    a = a * np.expand_dims(valid, 1)
                sample_w = valid if sample_w is None else sample_w * valid
            denom = lab.size if sample_w is None else float(sample_w.sum(dtype=np.float64))   # torch's weighted mean
        elif target.dtype.kind in "fb":
            if target.shape != pred.shape:
                if target.shape == lab_shape:
                    raise op_error(op, f"a float target of shape {target.shape} looks like class labels; labels "
                                       f"must be integers (y.astype(np.int64)); probability targets have pred's "
                                       f"shape {pred.shape}", pred, target)
                raise op_error(op, f"target must be integer labels of shape {lab_shape} or probabilities of "
                                   f"pred's shape {pred.shape}, got shape {target.shape}", pred, target)
            if ignore_index is not None:
                raise ValueError(f"{op}: ignore_index applies to integer labels only, got a probability target "
                                 f"({target.dtype}, shape {target.shape})")
            t = _finite_float(op, "target", target, dt)
            if t.size:
                if t.min() < 0:
                    raise op_error(op, f"probability target has negative entries (minimum {t.min():.4g})", target)
                s = t.sum(axis=1, dtype=np.float64 if dt == np.float64 else np.float32)
                if np.abs(s - 1).max() > _row_sum_tolerance(target.dtype if target.dtype.kind == "f" else dt):
                    raise op_error(op, f"probability target must sum to 1 over axis 1 (classes), but its sums lie "
                                       f"in [{s.min():.4g}, {s.max():.4g}]; pass integer labels or normalised "
                                       f"one-hot/soft targets", target)
            a = t * (1 - eps) + eps / c if eps else t
            if w is not None:
                a = a * w
            lab_b = valid = None
            denom = int(np.prod(lab_shape))                               # plain mean, as torch
        else:
            raise TypeError(f"{op}: target must be integer labels or float probabilities, got dtype {target.dtype} "
                            f"(shape {target.shape})")
        _check_nonempty(op, reduction, pred)
        x = pred.astype(dt, copy=False)
        if from_logits:
            first, inside = _log_softmax(x, axis=1), None
            logp = first
        else:
            _guard_probabilities(op, pred, axis=1)
            first, inside = _clip_probabilities(x)
            logp = np.log(first)
        if a is None:
            loss = -np.take_along_axis(logp, lab_b, axis=1)[:, 0]
            if valid is not None:
                loss = loss * valid
        else:
            loss = -(a * logp).sum(axis=1)
        ctx.save_for_backward(first, a, inside, lab_b, valid)
        ctx.denom = denom
        return _reduce(loss, reduction, denom)

    @staticmethod
    def backward(ctx, grad):
        first, a, inside, lab_b, valid = ctx.saved
        g = _upstream(grad, ctx.attrs["reduction"], ctx.denom, first.dtype, class_axis=True)
        if valid is not None:
            g = g * np.expand_dims(valid, 1)
        if a is None:                                                       # A is the one-hot of lab_b
            if ctx.attrs["from_logits"]:
                d = np.exp(first)                                           # softmax - onehot
                np.put_along_axis(d, lab_b, np.take_along_axis(d, lab_b, axis=1) - 1, axis=1)
            else:
                d = np.zeros_like(first)                                    # -onehot / p
                np.put_along_axis(d, lab_b, -1 / np.take_along_axis(first, lab_b, axis=1), axis=1)
                d *= inside
        elif ctx.attrs["from_logits"]:
            d = np.exp(first) * a.sum(axis=1, keepdims=True) - a          # softmax * sum(A) - A
        else:
            d = -a / first * inside
        return d * g, None, None


# -- public functions -------------------------------------------------------------------------------------------
def _constant_inputs(op, **inputs):
    """The cross-entropies differentiate pred only (target and weights are constants, as the gradient checks use
    them). A target computed by recorded ops (a teacher network's output, say) would silently pass no gradient back
    to what computed it, where PyTorch differentiates soft targets: refused while a tape records, with the fix."""
    from ..tape import _active, _grad_enabled
    from ..tensor import Tensor
    if not (_active.get() and _grad_enabled.get()):
        return
    for name, v in inputs.items():
        if isinstance(v, Tensor) and v.requires_grad and not v.is_leaf:
            raise ValueError(f"{op}: {name} was computed on the tape and requires a gradient, but this loss "
                             f"differentiates pred only, so nothing would flow back through {name}; pass "
                             f"{name}.detach() to use it as a constant, or use mean_squared_error/kl_divergence, "
                             f"whose target is differentiable")


def mean_squared_error(pred, target, *, reduction="mean"):
    """(pred - target)**2, reduced (torch's mse_loss). Shapes must match; target is differentiable."""
    return MeanSquaredError.apply(pred, target, reduction=reduction)


def mean_absolute_error(pred, target, *, reduction="mean"):
    """|pred - target|, reduced (torch's l1_loss); the gradient at pred == target is 0."""
    return MeanAbsoluteError.apply(pred, target, reduction=reduction)


def huber(pred, target, delta=1.0, *, reduction="mean"):
    """torch's huber_loss: 0.5 d**2 for |d| < delta, else delta * (|d| - delta / 2), d = pred - target."""
    return Huber.apply(pred, target, delta=delta, reduction=reduction)


def kl_divergence(pred, target, *, reduction="mean", log_input=True, log_target=False):
    """KL(target || pred) elementwise: target * (log target - log pred), 0 where target == 0.

    torch's kl_div convention: ``pred`` is LOG-probabilities by default (``log_input=True``; e.g. from
    ``tg.log_softmax``). Pass ``log_input=False`` to give probabilities as Keras's ``KLDivergence`` does (clipped at
    EPSILON). ``log_target=True`` takes the target as log-probabilities. ``reduction="batchmean"`` divides the sum by
    the batch size (the true KL per sample, which is Keras's value for (N, C) inputs); ``"mean"`` divides by the
    number of elements, as torch does.
    """
    return KLDivergence.apply(pred, target, reduction=reduction,
                              log_input=_flag("kl_divergence", "log_input", log_input),
                              log_target=_flag("kl_divergence", "log_target", log_target))


def binary_crossentropy(pred, target, from_logits=False, *, pos_weight=None, reduction="mean"):
    """-[pos_weight * t log p + (1 - t) log(1 - p)] elementwise; torch's BCE / BCEWithLogits (``from_logits``).

    ``target`` in [0, 1], pred's shape. ``pos_weight`` (weight of positives, one per class on the last axis,
    broadcast against pred) applies the same way to probabilities and to logits.
    """
    _constant_inputs("binary_crossentropy", target=target, pos_weight=pos_weight)
    args = (pred, target) if pos_weight is None else (pred, target, pos_weight)
    return BinaryCrossentropy.apply(*args, from_logits=_flag("binary_crossentropy", "from_logits", from_logits),
                                    reduction=reduction)


def categorical_crossentropy(pred, target, from_logits=False, *, label_smoothing=0.0, ignore_index=None,
                             class_weights=None, reduction="mean"):
    """Cross-entropy over axis 1 (torch's cross_entropy; on probabilities when ``from_logits=False``, as Keras).

    pred: (N, C) or (N, C, d1, ...). target: integer labels (N,) / (N, d1, ...) or probabilities of pred's shape.
    ``label_smoothing`` mixes the target with the uniform distribution. ``ignore_index``: positions whose label
    equals it contribute nothing (a class index, or a negative marker such as -100). ``class_weights`` (C,):
    with labels, "mean" divides by the summed weights of the non-ignored labels (torch); with probability targets
    by the number of positions. ``reduction="none"`` returns shape (N, d1, ...).
    """
    _constant_inputs("categorical_crossentropy", target=target, class_weights=class_weights)
    args = (pred, target) if class_weights is None else (pred, target, class_weights)
    return CategoricalCrossentropy.apply(*args, reduction=reduction,
                                         from_logits=_flag("categorical_crossentropy", "from_logits", from_logits),
                                         label_smoothing=label_smoothing, ignore_index=ignore_index)


# Short aliases (Keras spells these too).
mse = mean_squared_error
mae = mean_absolute_error
kld = kl_divergence
sparse_categorical_crossentropy = categorical_crossentropy      # labels or probabilities: one function
