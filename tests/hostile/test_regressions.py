"""One regression test per finding of the hostile pass (issue 13) in the op/layer/optimizer/loop code: each input
below gave a bare Python/numpy error or was silently accepted before."""
import math
import os
import tempfile

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn, optim
from tapegraph.nn import metrics

X4 = np.random.default_rng(0).standard_normal((2, 4, 7, 7)).astype(np.float32)


def run(layer, x=X4):
    return layer(tg.tensor(x))


def params(n=2):
    return [tg.Tensor(np.ones((3, 2), np.float32), requires_grad=True) for _ in range(n)]


# -- layers: constructor arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: nn.MaxPool2D((2, True)), lambda: nn.MaxPool2D(2, strides=(2, True)),
                                  lambda: nn.AvgPool2D(2.0), lambda: nn.MaxPool2D(2, dilation=(1, 1.5)),
                                  lambda: nn.UpSampling2D((2, True))])
def test_pool_and_upsampling_sizes_refuse_bools_and_floats(make):
    # (2, True) was a 2x1 window, 2.0 a 2x2 one
    with pytest.raises(ValueError, match=r"(MaxPool2D|AvgPool2D|UpSampling2D): .*ints, not bools or floats"):
        make()


@pytest.mark.parametrize("cls", [nn.Conv2D, nn.Conv1D, nn.Conv2DTranspose])
def test_conv_filters_none_is_named(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__}: filters must be a positive int, got None"):
        cls(None, 3)


@pytest.mark.parametrize("make,x", [(lambda: nn.Conv2D(10 ** 12, 3), X4), (lambda: nn.Dense(2 ** 70), X4[:, :, 0, 0]),
                                    (lambda: nn.DepthwiseConv2D(3, depth_multiplier=10 ** 12), X4),
                                    (lambda: nn.Conv2D(4, 10 ** 12), X4)])
def test_impossible_parameter_shapes_raise_memoryerror_naming_the_layer(make, x):
    with pytest.raises(MemoryError, match=r"(Conv2D|Dense|DepthwiseConv2D)\)?: cannot allocate a parameter of shape"):
        run(make(), x)


@pytest.mark.parametrize("v", ["x", None, 0.5, np.array([True, False])])
def test_dense_and_conv_use_bias_must_be_bool(v):
    with pytest.raises(TypeError, match="Dense: use_bias must be a bool"):
        nn.Dense(3, use_bias=v)
    with pytest.raises(TypeError, match="Conv2D: use_bias must be a bool"):
        nn.Conv2D(3, 3, use_bias=v)


def test_group_normalization_axis_array():
    with pytest.raises(ValueError, match="GroupNormalization: only axis=1"):
        nn.GroupNormalization(2, axis=np.array([1, 1]))


@pytest.mark.parametrize("kw", [dict(momentum="x"), dict(momentum=None), dict(momentum=True), dict(momentum=[]),
                                dict(epsilon=True), dict(epsilon=math.inf), dict(epsilon="0.5")])
def test_batchnorm_arguments_are_named(kw):
    with pytest.raises((TypeError, ValueError), match="BatchNorm: (momentum|epsilon)"):
        nn.BatchNorm(**kw)


@pytest.mark.parametrize("v", ["0.5", True, math.nan, math.inf, None, [0.1]])
def test_leaky_relu_slope(v):
    with pytest.raises(ValueError, match="LeakyReLU: negative_slope must be a finite number"):
        nn.LeakyReLU(v)


def test_softmax_axis():
    with pytest.raises(TypeError, match="Softmax: axis must be an int"):
        nn.Softmax(axis=None)
    with pytest.raises(ValueError, match="softmax: axis"):
        run(nn.Softmax(axis=2 ** 70))
    with pytest.raises(ValueError, match="log_softmax: axis"):
        tg.log_softmax(tg.tensor(X4), axis=-(2 ** 70))
    with pytest.raises(TypeError, match="softmax: axis must be an int"):
        tg.softmax(tg.tensor(X4), axis=1.0)


def test_sequential_input_shape_is_validated():
    with pytest.raises(ValueError, match=r"Sequential\.build: input_shape"):
        nn.Sequential([nn.Dense(3)], input_shape="x")
    with pytest.raises(ValueError, match=r"Sequential\.build: input_shape"):
        nn.Sequential([nn.Dense(3)], input_shape=(-1,))


# -- ops ---------------------------------------------------------------------------------------------------------
def test_huge_geometry_is_refused_with_the_op_name():
    w = tg.tensor(np.ones((6, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: stride must be < 2\*\*31"):
        tg.conv2d(tg.tensor(X4), w, stride=2 ** 70)       # was OverflowError from numpy's as_strided
    with pytest.raises(ValueError, match=r"conv1d: padding must be < 2\*\*31"):
        tg.conv1d(tg.tensor(X4[:, :, 0]), tg.tensor(np.ones((6, 4, 3), np.float32)), padding=10 ** 12)   # MemoryError
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size .* < 2\*\*31"):
        tg.adaptive_avg_pool2d(tg.tensor(X4), 10 ** 12)
    with pytest.raises(ValueError, match=r"interpolate: scale_factor .* >= 2\*\*31"):
        tg.interpolate(tg.tensor(X4), scale_factor=1e308)    # was OverflowError: cannot convert float infinity
    with pytest.raises(ValueError, match=r"interpolate: size .* < 2\*\*31"):
        tg.interpolate(tg.tensor(X4), size=10 ** 12)


def test_conv_transpose2d_zero_input_channels():
    x = tg.tensor(np.zeros((2, 0, 5, 5), np.float32), requires_grad=True)
    w = tg.tensor(np.zeros((0, 3, 3, 3), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="conv_transpose2d: weight needs at least one input"):
        tg.conv_transpose2d(x, w)        # was "cannot reshape array of size 0" from the weight gradient


@pytest.mark.parametrize("v", ["x", None, 0.5, np.array([True, False])])
def test_return_indices_must_be_bool(v):
    with pytest.raises(TypeError, match="max_pool2d: return_indices must be a bool"):
        tg.max_pool2d(tg.tensor(X4), 2, return_indices=v)
    with pytest.raises(TypeError, match="adaptive_max_pool2d: return_indices must be a bool"):
        tg.adaptive_max_pool2d(tg.tensor(X4), 2, return_indices=v)


@pytest.mark.parametrize("v", ["0.5", b"0.5", True, np.array([0.5, 0.5])])
def test_dropout_rate_not_coerced(v):
    with pytest.raises(TypeError, match="dropout: rate must be a number"):
        tg.dropout(tg.tensor(X4), v)
    with pytest.raises(TypeError, match="Dropout: rate must be a number"):
        nn.Dropout(v)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy"])
def test_crossentropy_target_computed_on_the_tape_is_refused(loss):
    p = tg.tensor(np.full((3, 4), 0.25), requires_grad=True)
    z = tg.tensor(np.zeros((3, 4)), requires_grad=True)
    with tg.Tape():
        with pytest.raises(ValueError, match=f"{loss}: target was computed on the tape"):
            getattr(tg.losses, loss)(p, tg.softmax(z, axis=1))


# -- optimizers, schedules, clipping ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [optim.StepLR, optim.ExponentialLR])
def test_schedule_gamma_inf(cls):
    kw = dict(step_size=1) if cls is optim.StepLR else {}
    with pytest.raises(ValueError, match=f"{cls.__name__}: gamma must be"):
        cls(optim.SGD(params(), lr=0.1), gamma=math.inf, **kw)


def test_schedule_overflowing_lr_is_refused_and_keeps_the_lr():
    opt = optim.SGD(params(), lr=0.1)
    s = optim.StepLR(opt, 1, gamma=1e308)
    s.step()
    with pytest.raises(ValueError, match="StepLR: the schedule gives lr=inf"):
        s.step()                                      # was OverflowError (34, 'Numerical result out of range')
    assert opt.param_groups[0]["lr"] == pytest.approx(1e307)


@pytest.mark.parametrize("fn,err,msg", [(lambda e: "x", TypeError, "returned 'x'"),
                                        (lambda e: math.nan, ValueError, "lr=nan"),
                                        (lambda: 1.0, TypeError, "failed on epoch 0")])
def test_lambda_lr_results_are_checked(fn, err, msg):
    with pytest.raises(err, match=f"LambdaLR: .*{msg}"):
        optim.LambdaLR(optim.SGD(params(), lr=0.1), fn)


def test_lambda_lr_negative_factor_follows_pytorch():
    opt = optim.SGD(params(), lr=0.1)
    optim.LambdaLR(opt, lambda e: -1.0)
    assert opt.param_groups[0]["lr"] == -0.1


@pytest.mark.parametrize("v", [math.nan, -math.inf, -1e308])
def test_clip_grad_norm_nan_or_negative_max_norm(v):
    ps = params()
    for p in ps:
        p.grad = np.ones_like(p.data)
    with pytest.raises(ValueError, match="clip_grad_norm: max_norm must be >= 0"):
        optim.clip_grad_norm(ps, v)                   # NaN made every gradient NaN; -inf flipped them
    assert all(np.all(p.grad == 1) for p in ps)


def test_clip_grad_value_nan_and_int_grads():
    ps = params()
    for p in ps:
        p.grad = np.ones_like(p.data)
    with pytest.raises(ValueError, match="clip_grad_value: clip_value must be >= 0"):
        optim.clip_grad_value(ps, math.nan)
    ps[0].grad = np.ones((3, 2), np.int64)
    with pytest.raises(TypeError, match="clip_grad_norm: gradients must be floating-point"):
        optim.clip_grad_norm(ps, 0.5)                 # was numpy's UFuncTypeError
    with pytest.raises(TypeError, match="clip_grad_value: gradients must be floating-point"):
        optim.clip_grad_value(ps, 0.5)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad])
def test_optimizer_state_with_nan_is_refused_before_any_change(cls):
    ps = params()
    kw = dict(lr=0.1, momentum=0.9) if cls in (optim.SGD, optim.RMSprop) else dict(lr=0.1)
    opt = cls(ps, **kw)
    for p in ps:
        p.grad = np.ones_like(p.data)
    opt.step()
    sd = opt.state_dict()
    bad = {k: {n: (np.full_like(v, np.nan) if isinstance(v, np.ndarray) else v) for n, v in st.items()}
           for k, st in sd["state"].items()}
    before = opt.state_dict()
    with pytest.raises(ValueError, match=f"{cls.__name__}.load_state_dict: .* non-finite"):
        opt.load_state_dict({**sd, "state": bad})
    after = opt.state_dict()
    for k in before["state"]:
        for n, v in before["state"][k].items():
            np.testing.assert_array_equal(after["state"][k][n], v)


# -- callbacks, files, the loop ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,msg", [(dict(min_delta=math.nan), "min_delta"), (dict(min_delta="x"), "min_delta"),
                                    (dict(baseline="x"), "baseline"), (dict(start_from_epoch=1.5), "start_from_epoch")])
def test_early_stopping_numbers(kw, msg):
    with pytest.raises(ValueError, match=f"EarlyStopping: {msg}"):
        nn.EarlyStopping(**kw)


def test_csv_logger_separator():
    with pytest.raises(ValueError, match="CSVLogger: separator must be a one-character string"):
        nn.CSVLogger(os.path.join(tempfile.mkdtemp(), "log.csv"), separator="")


def test_paths_that_are_not_paths_are_named():
    m = nn.Sequential([nn.Dense(3)], input_shape=(4,))
    with pytest.raises(TypeError, match=r"Sequential\.save: path must be a str"):
        m.save(None)
    with pytest.raises(TypeError, match="load_weights: path must be a str"):
        m.load_weights(3)
    with pytest.raises(TypeError, match="ModelCheckpoint: path must be a str"):
        nn.ModelCheckpoint(None)
    with pytest.raises(TypeError, match="CSVLogger: path must be a str"):
        nn.CSVLogger(None)
    with pytest.raises(IsADirectoryError, match="ModelCheckpoint: .* is a directory"):
        nn.ModelCheckpoint(tempfile.mkdtemp())       # was raised at the end of the first epoch


def test_fit_shuffle_must_be_bool():
    m = nn.Sequential([nn.Dense(3)], input_shape=(4,))
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    with pytest.raises(TypeError, match="fit: shuffle must be True or False"):
        m.fit(np.ones((4, 4), np.float32), np.array([0, 1, 2, 0]), shuffle="x", verbose=0)


def test_metric_arguments():
    with pytest.raises(ValueError, match="Accuracy: threshold must be None or a finite number"):
        metrics.Accuracy(threshold="x")
    m = metrics.TopKAccuracy(k=2)
    with pytest.raises(ValueError, match=r"top_k_accuracy: labels must lie in \[0, 3\)"):
        m.update(np.zeros((4, 3)), np.array([0, 1, 7, 9]))     # was IndexError from take_along_axis


def test_distributed_and_viz_arguments():
    with pytest.raises(TypeError, match="allreduce_gradients: parameters must be an iterable"):
        tg.distributed.allreduce_gradients(None)
    with pytest.raises(TypeError, match="average_logs: logs must be a dict"):
        tg.distributed.average_logs(None)
    with pytest.raises(TypeError, match="plot_grad_flow: model must be a Module or a list of Parameters"):
        tg.viz.plot_grad_flow(None)
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)
    with tg.Tape() as tape:
        tg.sum(x * 2)
    with pytest.raises(TypeError, match="to_dot: max_nodes must be None or an int"):
        tg.viz.to_dot(tape, max_nodes="x")


def test_resume_from_a_checkpoint_without_optimizer_state_is_refused(tmp_path):
    """A checkpoint whose optimizer entry is null (written for a stateless optimizer) used to resume an Adam run
    with fresh moments, silently."""
    import json
    x = np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)
    y = np.arange(8) % 3

    def model():
        tg.manual_seed(0)
        m = nn.Sequential([nn.Dense(3)], input_shape=(5,))
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
        return m
    p = tmp_path / "c.npz"
    model().fit(x, y, epochs=1, verbose=0, checkpoint=p)
    with np.load(p) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta["optimizer"] = None
    np.savez(p, meta=np.array(json.dumps(meta)), **{k: v for k, v in arrays.items() if not k.startswith("optim/")})
    with pytest.raises(ValueError, match="checkpoint holds no optimizer state, this run's Adam has some"):
        model().fit(x, y, epochs=2, verbose=0, checkpoint=p, resume=True)


def _small_model():
    tg.manual_seed(0)
    m = nn.Sequential([nn.Dense(3)], input_shape=(5,))
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
    return m


def test_fit_refuses_an_optimizer_of_another_model():
    """compile(optimizer=SGD(other_params)) used to 'train' for the whole run without touching the model."""
    m = _small_model()
    other = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    m.compile(optimizer=optim.SGD([other], lr=0.1), loss="sparse_categorical_crossentropy", from_logits=True)
    with pytest.raises(ValueError, match=r"fit: the optimizer \(SGD\) holds none of this model's 2 parameters"):
        m.fit(np.ones((4, 5), np.float32), np.arange(4) % 3, verbose=0)


def test_fit_refuses_a_one_shot_validation_generator_for_several_epochs():
    """The second epoch's validation used to fail with 'evaluate: x holds no samples'."""
    x, y = np.ones((8, 5), np.float32), np.arange(8) % 3
    val = ((x[i:i + 4], y[i:i + 4]) for i in (0, 4))
    with pytest.raises(ValueError, match="fit: validation_data is a one-shot iterator"):
        _small_model().fit(x, y, validation_data=val, epochs=2, verbose=0)


@pytest.mark.parametrize("cls,x", [(lambda a: nn.Dense(3, activation=a), np.ones((2, 4), np.float32)),
                                   (lambda a: nn.Conv2D(3, 3, activation=a), X4)])
def test_numpy_activation_is_refused_not_a_silent_graph_break(cls, x):
    """Dense(activation=np.tanh) returned an ndarray: the weights silently got no gradient. np.tanh on a Tensor now
    records tg.tanh; an activation that returns a plain array is refused by the layer."""
    def plain(t):
        return t.data * 2
    with pytest.raises(TypeError, match=r"(Dense|Conv2D): activation plain returned a ndarray, not a Tensor"):
        cls(plain)(tg.tensor(x))
    layer = cls(np.tanh)
    with tg.Tape() as tape:
        out = layer(tg.tensor(x))
        loss = out.sum()
    tape.backward(loss)
    assert "tanh" in {n.op.name for n in tape} and all(p.grad is not None for p in layer.parameters())


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad])
def test_optimizer_step_names_bad_gradients_and_resized_parameters(cls):
    p = params(1)[0]
    opt = cls([p], lr=0.1)
    p.grad = [[1.0, 1.0]] * 3
    with pytest.raises(TypeError, match=f"{cls.__name__}: the gradient of parameter 0 is a list"):
        opt.step()                                    # was AttributeError: 'list' object has no attribute 'shape'
    p.grad = np.ones((3, 2), np.float32)
    opt.step()
    if cls is optim.SGD:
        return                                        # no state without momentum
    p.data = np.ones((4, 2), np.float32)
    p.grad = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=f"{cls.__name__}: parameter 0 now has shape"):
        opt.step()                                    # was numpy's 'operands could not be broadcast'


def test_distributed_arguments_are_checked_in_a_one_rank_world():
    """These were no-ops on one rank, so a script passed locally and failed only under mpirun."""
    d = tg.distributed
    with pytest.raises(TypeError, match="distributed.barrier: timeout must be a number"):
        d.barrier(timeout="x")
    with pytest.raises(TypeError, match="distributed.primary_only: expected a function"):
        d.primary_only(3)
    with pytest.raises(TypeError, match="distributed.broadcast_optimizer_state: int has no state_dict"):
        d.broadcast_optimizer_state(3)
    with pytest.raises(TypeError, match="distributed.broadcast_buffers: expected a Module"):
        d.broadcast_buffers(None)
    assert d.primary_only(lambda: 3)() == 3
    d.barrier(timeout=None)


def test_an_initializer_error_is_not_restated_as_a_memory_error():
    # only a shape larger than the machine is a MemoryError; a user's initializer failing keeps its own error
    def bad_init(shape, fan_in, fan_out, rng, dtype):
        raise ValueError("my initializer wants a square kernel")
    with pytest.raises(ValueError, match="my initializer wants a square kernel"):
        nn.Dense(3, kernel_initializer=bad_init)(tg.tensor(X4[:, :, 0, 0]))
