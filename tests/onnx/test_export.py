"""Whole models through tg.onnx.export and Tape.to_onnx: checker, onnxruntime parity at two batch sizes, names,
errors (nothing written), the missing-extra message."""
import os
import sys

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn
from tapegraph.tape import scope

from .helpers import TOL, has, max_diff, op, require_extra, roundtrip, run

onnx, ort = require_extra()


def images(n, c=1, h=28, w=28, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)


@pytest.mark.parametrize("opset", [17, 13, 21])
def test_mnist_cnn(tmp_path, opset):
    from examples.mnist import build_model
    model = build_model()
    proto = roundtrip(model, tmp_path / "mnist.onnx", images(4), images(1, seed=1), images(9, seed=2), opset=opset)
    assert proto.opset_import[0].version == opset
    assert model.training                                        # export restores the mode
    types = [n.op_type for n in proto.graph.node]
    block = ["Conv", "BatchNormalization", "Relu", "MaxPool"]     # conv-BN-relu-pool, twice (examples/mnist.py)
    assert types == block + block + ["Reshape", "Gemm", "Relu", "Gemm"]
    inits = {i.name for i in proto.graph.initializer}
    assert {name for name, _ in model.named_parameters()} <= inits
    assert proto.graph.node[0].name.startswith("layers.0/conv2d_0")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def _train_a_little(model, x, y, steps=3):
    opt = tg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        with tg.Tape() as tape:
            loss = tg.losses.categorical_crossentropy(model(x), y, from_logits=True)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()


def test_batchnorm_dropout_cnn(tmp_path):
    model = nn.Sequential([
        nn.Conv2D(8, 3, padding="same"), nn.BatchNorm(), nn.ReLU(), nn.MaxPool2D(2), nn.Dropout(0.3),
        nn.Conv2D(16, 3, strides=2), nn.BatchNorm(epsilon=1e-5), nn.ReLU(), nn.AvgPool2D(2, padding="same"),
        nn.Flatten(), nn.Dense(32), nn.BatchNorm(), nn.ReLU(), nn.Dropout(0.5), nn.Dense(5),
    ], input_shape=(3, 16, 16))
    x = images(8, 3, 16, 16)
    _train_a_little(model, x, np.arange(8) % 5)                 # running statistics away from 0 / 1
    assert not np.allclose(model.layers[1].running_mean, 0)
    proto = roundtrip(model, tmp_path / "bn.onnx", images(6, 3, 16, 16, seed=3), images(2, 3, 16, 16, seed=4))
    types = [n.op_type for n in proto.graph.node]
    assert types.count("BatchNormalization") == 3 and "Dropout" not in types
    inits = {i.name for i in proto.graph.initializer}
    assert {"layers.1.running_mean", "layers.1.running_var", "layers.11.gamma"} <= inits


def test_keras_style_layers_model(tmp_path):
    """Norm, padding, upsampling, global-pool and smooth-activation layers in one Sequential."""
    needed = ("GroupNormalization", "LayerNormalization", "GELU", "SiLU", "UpSampling2D", "ZeroPadding2D",
              "GlobalAveragePooling2D", "HardSwish", "ELU")
    if not all(hasattr(nn, k) for k in needed):
        pytest.skip("the pooling/norm layers are not in this tapegraph yet")
    model = nn.Sequential([
        nn.Conv2D(8, 3, padding="same"), nn.GroupNormalization(groups=2), nn.GELU(), nn.ZeroPadding2D(1),
        nn.Conv2D(8, 3), nn.LayerNormalization(axis=1), nn.SiLU(), nn.UpSampling2D(2, interpolation="bilinear"),
        nn.MaxPool2D(2), nn.ELU(), nn.UpSampling2D(2), nn.HardSwish(), nn.GlobalAveragePooling2D(), nn.Dense(4),
    ], input_shape=(3, 6, 5))
    rng = np.random.default_rng(3)
    for name, p in model.named_parameters():                     # gamma/beta away from 1/0
        if "gamma" in name or "beta" in name:
            p.data[...] = rng.uniform(0.5, 1.5, p.shape) if "gamma" in name else rng.standard_normal(p.shape)
    proto = roundtrip(model, tmp_path / "keras.onnx", images(3, 3, 6, 5), images(6, 3, 6, 5, seed=8))
    types = {n.op_type for n in proto.graph.node}
    assert {"InstanceNormalization", "LayerNormalization", "Resize", "Pad", "GlobalAveragePool"} <= types


@pytest.mark.skipif(not all(hasattr(nn, k) for k in ("DepthwiseConv2D", "Conv2DTranspose", "Conv1D")),
                    reason="the DepthwiseConv2D / Conv2DTranspose / Conv1D layers are not in this tapegraph yet")
def test_conv_layers_models(tmp_path):
    """The conv layers: grouped, depthwise (multiplier 2), transposed ("same", stride 2), and a 1-D stack."""
    model = nn.Sequential([
        nn.Conv2D(8, 3, padding="same", groups=1), nn.ReLU(),
        nn.DepthwiseConv2D(3, padding="same", depth_multiplier=2), nn.ReLU(),
        nn.Conv2D(8, 1, groups=4), nn.Conv2DTranspose(4, 3, strides=2, padding="same"), nn.ReLU(),
        nn.Conv2DTranspose(2, 2, strides=2), nn.Flatten(), nn.Dense(3),
    ], input_shape=(3, 5, 6))
    roundtrip(model, tmp_path / "conv2d.onnx", images(2, 3, 5, 6), images(5, 3, 5, 6, seed=1))
    seq = nn.Sequential([nn.Conv1D(6, 3, padding="same"), nn.ReLU(), nn.Conv1D(6, 3, strides=2, groups=3),
                         nn.Flatten(), nn.Dense(2)], input_shape=(4, 17))
    x = np.random.default_rng(0).standard_normal((3, 4, 17)).astype(np.float32)
    roundtrip(seq, tmp_path / "conv1d.onnx", x, x[:1] * 2)


class Residual(nn.Module):
    """stem conv -> [depthwise 3x3 -> relu -> pointwise 1x1] + skip -> transposed conv (upsample x2) -> head."""

    def __init__(self, c=6, seed=0):
        super().__init__()
        r = np.random.default_rng(seed)
        w = lambda *s: nn.Parameter((r.standard_normal(s) * (2 / np.prod(s[1:])) ** 0.5).astype(np.float32))  # noqa
        self.stem_w, self.stem_b = w(c, 3, 3, 3), w(c)
        self.dw_w, self.dw_b = w(c, 1, 3, 3), w(c)
        self.pw_w = w(c, c, 1, 1)
        self.up_w, self.up_b = w(c, 4, 2, 2), w(4)
        self.head_w = w(4, 4, 3, 3)
        self.c = c

    def forward(self, x):
        h = tg.relu(tg.conv2d(x, self.stem_w, self.stem_b, padding=1))
        with scope("block"):
            y = tg.relu(tg.conv2d(h, self.dw_w, self.dw_b, padding="same", groups=self.c))
            y = tg.conv2d(y, self.pw_w)
            h = tg.relu(h + y)                                     # the skip
        u = op("conv_transpose2d")(h, self.up_w, self.up_b, stride=2)
        return tg.conv2d(tg.relu(u), self.head_w, padding=1)


@pytest.mark.skipif(not (has("conv2d", "groups") and has("conv_transpose2d")),
                    reason="depthwise conv2d (groups) and conv_transpose2d are not in this tapegraph yet")
def test_residual_depthwise_transposed(tmp_path):
    model = Residual()
    proto = roundtrip(model, tmp_path / "res.onnx", images(3, 3, 10, 12), images(7, 3, 10, 12, seed=5))
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    groups = [next((a.i for a in n.attribute if a.name == "group"), 1) for n in convs]
    assert 6 in groups
    assert any(n.op_type == "ConvTranspose" for n in proto.graph.node)
    assert any(n.name.startswith("block/add_") for n in proto.graph.node)


def test_residual_skip_and_custom_names(tmp_path):
    """A custom Module with an add skip (plain convs): the skip, names given by the caller, several outputs."""

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2D(3, 3, padding="same")
            self.fc = nn.Dense(4)

        def forward(self, x):
            h = tg.relu(self.conv(x)) + x
            return h, self.fc(tg.flatten(h, 1))

    model = Two()
    x = images(2, 3, 5, 5)
    path = tmp_path / "two.onnx"
    tg.onnx.export(model, path, x, input_names=["images"], output_names=["features", "logits"])
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [o.name for o in proto.graph.output] == ["features", "logits"]
    for xb in (x, images(5, 3, 5, 5, seed=9)):
        got = run(path, xb, "images")
        with model.inference():
            want = model(xb)
        for g, w in zip(got, want):
            assert max_diff(g, w.data) <= TOL


def test_static_batch(tmp_path):
    from examples.mnist import build_model
    model = build_model()
    path = tmp_path / "static.onnx"
    tg.onnx.export(model, path, images(3), dynamic_batch=False)
    proto = onnx.load(str(path))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    with pytest.raises(Exception):                               # onnxruntime refuses another batch size
        run(path, images(4))


def test_untranslatable_op_names_op_and_layer_and_writes_nothing(tmp_path):
    class WithLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(3)
            self.head = nn.Sequential([nn.ReLU()])

        def forward(self, x):
            with scope("scorer"):
                return tg.ops.mean_squared_error(self.head(self.fc(x)), np.zeros((x.shape[0], 3), np.float32))

    path = tmp_path / "bad.onnx"
    with pytest.raises(tg.onnx.ExportError, match=r"op 'mean_squared_error' \(layer 'scorer'") as e:
        tg.onnx.export(WithLoss(), path, np.ones((2, 4), np.float32))
    assert "no ONNX translation" in str(e.value)
    assert os.listdir(tmp_path) == []                            # not even a temporary file
    path.write_bytes(b"keep me")                                 # an existing file is left alone
    with pytest.raises(tg.onnx.ExportError):
        tg.onnx.export(WithLoss(), path, np.ones((2, 4), np.float32))
    assert path.read_bytes() == b"keep me" and os.listdir(tmp_path) == ["bad.onnx"]


def test_training_mode_batch_norm_tape_is_refused(tmp_path):
    bn = nn.BatchNorm()
    x = tg.Tensor(images(4, 2, 3, 3), requires_grad=True)
    with tg.Tape() as tape:
        y = bn(x)
    with pytest.raises(tg.onnx.ExportError, match="training mode"):
        tape.to_onnx(tmp_path / "bn.onnx", inputs=[x], outputs=[y])
    assert not (tmp_path / "bn.onnx").exists()


def test_non_divisible_adaptive_pool_is_refused(tmp_path):
    if not has("adaptive_avg_pool2d"):
        pytest.skip("adaptive_avg_pool2d is not in this tapegraph yet")

    class M(nn.Module):
        def forward(self, x):
            return op("adaptive_avg_pool2d")(x, (4, 3))

    with pytest.raises(tg.onnx.ExportError, match=r"adaptive_avg_pool2d.*does not divide"):
        tg.onnx.export(M(), tmp_path / "a.onnx", images(2, 2, 7, 6))
    assert not (tmp_path / "a.onnx").exists()


def test_tape_to_onnx_by_hand(tmp_path):
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((8, 16)).astype(np.float32), name="x")
    w1 = tg.tensor(rng.standard_normal((16, 32)).astype(np.float32) * 0.1, requires_grad=True, name="fc1.weight")
    b1 = tg.tensor(np.zeros(32, np.float32), requires_grad=True, name="fc1.bias")
    w2 = tg.tensor(rng.standard_normal((32, 10)).astype(np.float32) * 0.1, requires_grad=True, name="fc2.weight")
    with tg.Tape() as tape:
        with scope("fc1"):
            h = tg.relu(x @ w1 + b1)
        with scope("fc2"):
            o = tg.softmax(h @ w2)
    path = tape.to_onnx(tmp_path / "hand.onnx")                  # inputs and outputs found on the tape
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["output"]
    assert {"fc1.weight", "fc1.bias", "fc2.weight"} <= {i.name for i in proto.graph.initializer}
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "MatMul", "Softmax"]
    assert max_diff(run(path, x.data)[0], o.data) <= TOL
    x2 = rng.standard_normal((3, 16)).astype(np.float32)
    want = tg.softmax(tg.relu(x2 @ w1 + b1) @ w2).data
    assert max_diff(run(path, x2)[0], want) <= TOL


def test_tape_to_onnx_dropout_is_identity_and_explicit_io(tmp_path):
    x = tg.Tensor(images(2, 3, 4, 4), requires_grad=True)
    mask = np.random.default_rng(0).random(x.shape) > 0.5
    with tg.Tape() as tape:
        d = tg.dropout(x, 0.5, mask=mask)
        y = d * 2.0
        z = tg.relu(y)
    path = tape.to_onnx(tmp_path / "d.onnx", inputs=x, outputs=[y, z], input_names="x", output_names=["y", "z"])
    proto = onnx.load(str(path))
    assert "Dropout" not in [n.op_type for n in proto.graph.node]
    y_got, z_got = run(path, x.data, "x")
    assert max_diff(y_got, x.data * 2) == 0 and max_diff(z_got, np.maximum(x.data * 2, 0)) == 0


def test_tape_to_onnx_while_recording_or_released(tmp_path):
    x = tg.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    with tg.Tape() as tape:
        with pytest.raises(RuntimeError, match="has closed"):
            tape.to_onnx(tmp_path / "r.onnx")
        y = (x * np.full((2, 3), 2, np.float32)).sum()
    tape.backward(y)                                              # releases the (non-parameter) constant
    with pytest.raises(tg.onnx.ExportError, match="released"):
        tape.to_onnx(tmp_path / "r.onnx", inputs=[x])
    assert not (tmp_path / "r.onnx").exists()


def test_bad_arguments(tmp_path):
    from examples.mnist import build_model
    model = build_model()
    with pytest.raises(ValueError, match="opset"):
        tg.onnx.export(model, tmp_path / "m.onnx", images(2), opset=9)
    with pytest.raises(ValueError, match="output_names"):
        tg.onnx.export(model, tmp_path / "m.onnx", images(2), output_names=["a", "b"])
    with pytest.raises(TypeError, match="Module"):
        tg.onnx.export(lambda x: x, tmp_path / "m.onnx", images(2))
    assert os.listdir(tmp_path) == []


def test_identity_model_output_is_the_input(tmp_path):
    """A model that records nothing in eval (Dropout only): the graph is one Identity."""
    model = nn.Sequential([nn.Dropout(0.5)])
    x = images(2, 1, 3, 3)
    roundtrip(model, tmp_path / "id.onnx", x, images(4, 1, 3, 3))


def test_missing_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)                # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match=r"\[onnx\]"):
        tg.onnx.export(nn.Sequential([nn.ReLU()]), tmp_path / "m.onnx", images(1))
    assert os.listdir(tmp_path) == []


def test_translated_ops_listed():
    names = tg.onnx.translated_ops()
    assert {"conv2d", "max_pool2d", "batch_norm", "matmul", "reshape", "relu"} <= set(names)
    assert names == sorted(names)


def test_readme_round_trip_runs(tmp_path, monkeypatch):
    """The README's three-line round trip, as written, on the MNIST CNN."""
    from pathlib import Path

    from examples.mnist import build_model
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = text.index("### ONNX export\n")
    block = text[text.index("```python\n", start) + len("```python\n"):]
    block = block[:block.index("```")]
    monkeypatch.chdir(tmp_path)
    exec(block, {"tg": tg, "np": np, "onnxruntime": ort, "model": build_model(), "x": images(40)})
    assert (tmp_path / "model.onnx").is_file()


def test_wrong_translation_is_caught_at_export(tmp_path, monkeypatch):
    """A translation whose ONNX output shape differs from the tape's fails the export (nothing written)."""
    def bad(g, r):
        return g.op("MaxPool", [g.x(r)], kernel_shape=[3, 3], strides=[2, 2])

    monkeypatch.setitem(tg.onnx.TRANSLATIONS, "max_pool2d", bad)
    from examples.mnist import build_model
    with pytest.raises(tg.onnx.ExportError, match=r"op 'max_pool2d' in layer 'layers.3'.*infers shape"):
        tg.onnx.export(build_model(), tmp_path / "m.onnx", images(2))
    assert os.listdir(tmp_path) == []


def test_export_inside_no_grad_and_from_a_tensor(tmp_path):
    from examples.mnist import build_model
    model = build_model()
    x = tg.Tensor(images(3))
    with tg.no_grad():
        roundtrip(model, tmp_path / "ng.onnx", x.data, images(2, seed=4))
        tg.onnx.export(model, tmp_path / "t.onnx", x)
    assert max_diff(run(tmp_path / "t.onnx", x.data)[0], model.predict(x.data)) <= TOL
