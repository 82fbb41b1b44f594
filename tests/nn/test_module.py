"""Module tree: registration, dotted names, scopes on the tape, modes, dtype, state dicts and weight files."""
import os

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn
from tapegraph.nn import serialization


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential([nn.Dense(4), nn.BatchNorm(), nn.ReLU()])
        self.head = nn.Dense(2)
        self.scale = nn.Parameter(np.ones(2))

    def forward(self, x):
        return self.head(self.features(x)) * self.scale


def mlp(seed=0):
    tg.manual_seed(seed)
    return nn.Sequential([nn.Dense(6), nn.BatchNorm(), nn.ReLU(), nn.Dropout(0.3), nn.Dense(3)], input_shape=(4,))


def test_registration_and_dotted_names():
    net = Net()
    net(np.zeros((3, 5), np.float32))
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "features.layers.0.weight", "features.layers.0.bias", "features.layers.1.gamma",
                     "features.layers.1.beta", "head.weight", "head.bias"]
    assert [n for n, _ in net.named_buffers()] == ["features.layers.1.running_mean", "features.layers.1.running_var"]
    assert [p.name for p in net.parameters()] == names                 # the root call named every Parameter
    assert isinstance(net.scale, nn.Parameter) and net.scale.dtype == np.float32 and net.scale.requires_grad
    assert net.count_params() == 2 + 5 * 4 + 4 + 4 + 4 + 4 * 2 + 2
    assert net.features[0].path == "features.layers.0"


def test_ops_carry_the_scope_of_the_module_that_ran_them():
    net = Net()
    with tg.Tape() as tape:
        net(np.zeros((3, 5), np.float32))
    layers = [(n.name, n.layer) for n in tape]
    assert layers == [("matmul", "features.layers.0"), ("add", "features.layers.0"),
                      ("batch_norm", "features.layers.1"), ("relu", "features.layers.2"),
                      ("matmul", "head"), ("add", "head"), ("mul", "")]
    assert tape[0].scope == ("features", "layers.0")


def test_names_follow_changes_to_the_tree():
    model = nn.Sequential([nn.Dense(3)], input_shape=(2,))
    model.add(nn.Dense(4))
    model.layers[0].weight = nn.Parameter(np.zeros((2, 3)))
    model(np.zeros((1, 2), np.float32))
    assert [p.name for p in model.parameters()] == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                                                    "layers.1.bias"]
    model.layers[0].bias = None                                          # unregisters
    assert [n for n, _ in model.named_parameters()] == ["layers.0.weight", "layers.1.weight", "layers.1.bias"]


def test_calling_a_child_directly_keeps_its_dotted_names():
    model = mlp()
    model(np.zeros((2, 4), np.float32))
    with tg.Tape() as tape:
        model[0](np.zeros((2, 4), np.float32))
    assert model[0].weight.name == "layers.0.weight" and tape[0].layer == "layers.0"


def test_train_eval_propagate():
    net = Net()
    assert net.training and net.features[1].training
    assert net.eval() is net and not net.features[1].training and not net.head.training
    net.train()
    assert net.features[2].training


def test_astype_float64_keeps_parameter_objects():
    model = mlp()
    params = model.parameters()
    model.astype(np.float64)
    assert [p is q for p, q in zip(params, model.parameters())] == [True] * len(params)
    assert {p.dtype for p in params} == {np.dtype(np.float64)}
    assert {b.dtype for b in model.buffers()} == {np.dtype(np.float64)}
    y = model(np.zeros((2, 4)))
    assert y.dtype == np.float64
    with pytest.raises(TypeError, match="astype: expected a floating-point dtype"):
        model.astype(np.int64)


def test_root_call_casts_ndarray_input_to_the_model_dtype():
    model = mlp()
    assert model(np.ones((2, 4))).dtype == np.float32                    # float64 data, float32 model


def test_state_dict_round_trip_gives_identical_predictions(tmp_path):
    model = mlp(0)
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    model(x)                                                              # moves the running statistics
    path = tmp_path / "w.npz"
    model.save(path)
    other = mlp(1)
    assert not np.array_equal(other.predict(x), model.predict(x))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    state = model.state_dict()
    assert set(state) == {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    state["layers.0.weight"][:] = 0                                       # a copy, not the live array
    assert model[0].weight.data.any()


def test_load_state_dict_strict_errors_name_the_keys():
    model = mlp()
    state = model.state_dict()
    del state["layers.1.running_var"]
    state["layers.9.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"Sequential.load_state_dict: missing keys \['layers.1.running_var'\]; "
                                         r"unexpected keys \['layers.9.weight'\]"):
        model.load_state_dict(state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["layers.1.running_var"] and unexpected == ["layers.9.weight"]
    bad = model.state_dict()
    bad["layers.4.bias"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"layers.4.bias: model has shape \(3,\), state has \(5,\)"):
        model.load_state_dict(bad, strict=False)
    with pytest.raises(ValueError, match="some layers are not built yet"):
        nn.Sequential([nn.Dense(6)]).load_state_dict({"layers.0.weight": np.zeros((4, 6))})


def test_interrupted_save_leaves_the_previous_file_and_no_temp(tmp_path, monkeypatch):
    model = mlp()
    path = tmp_path / "w.npz"
    model.save(path)
    before = path.read_bytes()

    def broken_writer(f, arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("interrupted mid-write")

    monkeypatch.setattr(serialization, "_write_npz", broken_writer)
    model[0].weight.data[:] = 7
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert os.listdir(tmp_path) == ["w.npz"]
    assert path.read_bytes() == before
    fresh = mlp()
    fresh.load_weights(path)
    assert not (fresh[0].weight.data == 7).any()


def test_loading_files_that_are_not_checkpoints(tmp_path):
    model = mlp()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"load_weights: .*notes\.txt is not a tapegraph weights file"):
        model.load_weights(text)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"load_weights: .*other\.npz is an \.npz archive without the "
                                         r"'__tapegraph_format__' marker"):
        nn.load_weights(model, other)
    single = tmp_path / "one.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match=r"one\.npy is a single \.npy array"):
        model.load_weights(single)
    good = tmp_path / "good.npz"
    model.save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match=r"load_weights: .*cut\.npz"):
        model.load_weights(cut)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        model.load_weights(tmp_path / "missing.npz")
