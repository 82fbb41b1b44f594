"""compile / fit / evaluate with Keras's names: loss strings and objects, optimizer strings, data forms,
validation_split, initial_epoch, callbacks, metrics, and the guards against silent traps."""
import csv
import functools
import warnings

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn, optim

CE = functools.partial(tg.losses.categorical_crossentropy, from_logits=True)


def blobs(n=64, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(0, 3, (classes, 2))
    x = rng.normal(0, 0.4, (n, 2)) + centres[y]
    return x.astype(np.float32), y


def mlp(seed=0, out=2, head=()):
    tg.manual_seed(seed)
    return nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(out), *head], input_shape=(2,))


def lazy_mlp(seed=0):
    tg.manual_seed(seed)
    return nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(2)])


# -- compile ----------------------------------------------------------------------------------------------------
def test_compile_with_names_trains_and_matches_explicit_objects():
    x, y = blobs()
    a = mlp()
    a.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True, metrics=["accuracy"])
    assert isinstance(a.optimizer, optim.SGD) and a.optimizer.lr == 0.01          # Keras's default for SGD
    tg.manual_seed(5)
    ha = a.fit(x, y, epochs=3, batch_size=16, verbose=0)
    b = mlp()
    tg.manual_seed(5)
    hb = b.fit(x, y, epochs=3, batch_size=16, verbose=0, loss=nn.SparseCategoricalCrossentropy(from_logits=True),
               optimizer=optim.SGD(b.parameters(), lr=0.01))
    assert ha.history == hb.history and set(ha.history) == {"loss", "accuracy"}
    np.testing.assert_array_equal(a[0].weight.data, b[0].weight.data)


def test_compile_string_optimizer_waits_for_a_lazy_model_and_learning_rate():
    x, y = blobs()
    model = lazy_mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", from_logits=True, learning_rate=0.2)
    assert model.optimizer is None                                  # no parameters yet
    model.fit(x, y, epochs=1, verbose=0)
    assert isinstance(model.optimizer, optim.SGD) and model.optimizer.lr == 0.2
    assert len(model.optimizer.params) == 4


def test_fit_arguments_override_compile():
    x, y = blobs()
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    opt = optim.SGD(model.parameters(), lr=0.1)
    h = model.fit(x, y, loss=CE, optimizer=opt, verbose=0)
    assert model.optimizer is opt and set(h.history) == {"loss", "accuracy"}


def test_adam_by_name():
    x, y = blobs()
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
    h = model.fit(x, y, epochs=5, verbose=0)
    assert type(model.optimizer).__name__ == "Adam" and model.optimizer.lr == pytest.approx(1e-3)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_compile_errors_name_the_argument():
    model = mlp()
    with pytest.raises(ValueError, match="compile: unknown optimizer 'adamx'"):
        model.compile(optimizer="adamx", loss="mse")
    with pytest.raises(ValueError, match="compile: unknown loss 'hinge'"):
        model.compile(optimizer="sgd", loss="hinge")
    with pytest.raises(ValueError, match="from_logits= applies to a loss given by name"):
        model.compile(optimizer="sgd", loss=nn.BinaryCrossentropy(), from_logits=True)
    with pytest.raises(ValueError, match="compile: unknown metric 'f1'"):
        model.compile(optimizer="sgd", loss="mse", metrics=["f1"])
    with pytest.raises(TypeError, match="compile: optimizer must have step"):
        model.compile(optimizer=object(), loss="mse")
    with pytest.raises(ValueError, match="learning_rate must be a positive"):
        model.compile(optimizer="sgd", loss="mse", learning_rate=-1)
    with pytest.raises(ValueError, match="fit: no loss: call model.compile"):
        mlp().fit(*blobs(), optimizer=optim.SGD(model.parameters(), lr=0.1), verbose=0)


def test_loss_names_and_objects():
    rng = np.random.default_rng(0)
    logits = tg.tensor(rng.normal(size=(6, 3)))
    labels = np.array([0, 1, 2, 2, 1, 0])
    onehot = np.eye(3, dtype=np.float32)[labels]
    ref = float(CE(logits, labels).data)
    assert float(nn.SparseCategoricalCrossentropy(from_logits=True)(logits, labels).data) == pytest.approx(ref)
    assert float(nn.SparseCategoricalCrossentropy(from_logits=True)(logits, labels.astype(np.float32)).data) == \
        pytest.approx(ref)
    assert float(nn.CategoricalCrossentropy(from_logits=True)(logits, onehot).data) == pytest.approx(ref)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy: got one-hot"):
        nn.SparseCategoricalCrossentropy(from_logits=True)(logits, onehot)
    with pytest.raises(ValueError, match="labels must be integers"):
        nn.SparseCategoricalCrossentropy(from_logits=True)(logits, labels + 0.5)
    p = tg.tensor(rng.uniform(0.1, 0.9, (6, 1)))
    t = (rng.uniform(size=6) > 0.5).astype(np.float32)
    assert float(nn.BinaryCrossentropy()(p, t).data) == pytest.approx(
        float(tg.losses.binary_crossentropy(p, t[:, None]).data))           # (N,) target for (N, 1) output
    mae = nn.MeanAbsoluteError()(p, t)
    assert float(mae.data) == pytest.approx(np.abs(p.data[:, 0] - t).mean(), rel=1e-6)
    with tg.Tape() as tape:
        w = tg.tensor(rng.normal(size=(6, 1)), requires_grad=True)
        loss = nn.MeanAbsoluteError()(w, t)
    tape.backward(loss)
    np.testing.assert_allclose(w.grad[:, 0], np.sign(w.data[:, 0] - t) / 6, rtol=1e-6)
    with pytest.raises(ValueError, match=r"mean_squared_error: target shape \(5,\) does not match"):
        nn.MeanSquaredError()(p, t[:5])


@pytest.mark.parametrize("name", ["sparse_categorical_crossentropy", "categorical_crossentropy",
                                  "binary_crossentropy", "mse", "mae"])
def test_every_loss_name_trains(name):
    x, y = blobs()
    if name == "sparse_categorical_crossentropy":
        model, target = mlp(head=[nn.Softmax()]), y
    elif name == "categorical_crossentropy":
        model, target = mlp(head=[nn.Softmax()]), np.eye(2, dtype=np.float32)[y]
    elif name == "binary_crossentropy":
        model, target = mlp(out=1, head=[nn.Sigmoid()]), y.astype(np.float32)
    else:
        model, target = mlp(out=1), (x @ np.array([0.3, -0.2], dtype=np.float32))[:, None]
    lr = 0.1 if "crossentropy" in name else 0.02
    model.compile(optimizer=optim.SGD(model.parameters(), lr=lr, momentum=0.9), loss=name)
    h = model.fit(x, target, epochs=6, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0] * 0.85
    if "crossentropy" in name:
        assert h.history["accuracy"][-1] > 0.9


# -- data forms --------------------------------------------------------------------------------------------------
def test_fit_y_none_with_arrays_is_a_clear_error():
    x, y = blobs()
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    with pytest.raises(ValueError, match=r"fit: y is None but x is an array; pass the targets"):
        model.fit(x, None, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: y is None but x is an array"):
        model.evaluate(x)


def test_fit_accepts_a_dataloader_and_a_list_of_batches_like_arrays():
    x, y = blobs(48)
    a, b = mlp(), mlp()
    for m in (a, b):
        m.compile(optimizer=optim.SGD(m.parameters(), lr=0.1), loss="sparse_categorical_crossentropy",
                  from_logits=True)
    ha = a.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    hb = b.fit(tg.data.DataLoader(x, y, batch_size=16, shuffle=False), epochs=2, verbose=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)
    np.testing.assert_array_equal(a[0].weight.data, b[0].weight.data)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 48, 16)]
    h = b.fit(batches, epochs=2, validation_data=batches, verbose=0)
    assert len(h.history["val_loss"]) == 2
    assert set(b.evaluate(tg.data.DataLoader(x, y, 16))) == {"loss", "accuracy"}
    assert b.predict(tg.data.DataLoader(x, y, 16, shuffle=False)).shape == (48, 2)
    with pytest.raises(ValueError, match="fit: x is a DataLoader .* so y must be None"):
        b.fit(tg.data.DataLoader(x, y, 16), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs array data"):
        b.fit(batches, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"fit: batch 0 of x is a ndarray; an iterable x must yield \(x, y\) pairs"):
        b.fit(iter([x]), verbose=0)


def test_one_shot_generator_is_refused_for_several_epochs():
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    gen = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8))
    with pytest.raises(ValueError, match="fit: x is a one-shot iterator .* epochs=2; pass a DataLoader"):
        model.fit(gen, epochs=2, verbose=0)
    assert model.fit(gen, epochs=1, verbose=0).epoch == [0]         # one epoch is fine
    lazy = lazy_mlp()
    lazy.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    sizes = []

    class Sizes(nn.Callback):
        def on_batch_end(self, batch, logs=None):
            sizes.append(logs["size"])

    gen = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8))
    lazy.fit(gen, verbose=0, callbacks=[Sizes()])                    # the batch that built the model is trained on
    assert sizes == [8, 8, 8, 8] and isinstance(lazy.optimizer, optim.SGD)
    assert tg.callbacks.EarlyStopping is nn.EarlyStopping


def test_validation_split_holds_out_the_last_samples_before_shuffling():
    x, y = blobs(50)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    h = model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
    ref = model.evaluate(x[40:], y[40:])
    assert h.history["val_loss"][0] == pytest.approx(ref["loss"], rel=1e-6)
    assert h.history["val_accuracy"][0] == ref["accuracy"]
    with pytest.raises(ValueError, match=r"validation_split must be a number in \[0, 1\)"):
        model.fit(x, y, validation_split=1.0, verbose=0)


def test_initial_epoch_and_epochs_is_the_last_index():
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    assert model.fit(x, y, epochs=5, initial_epoch=2, verbose=0).epoch == [2, 3, 4]
    with pytest.warns(UserWarning, match="initial_epoch=3 and epochs=3: nothing to train"):
        assert model.fit(x, y, epochs=3, initial_epoch=3, verbose=0).epoch == []


def test_batches_are_named_images_and_labels_on_the_tape():
    tg.manual_seed(0)
    model = nn.Sequential([nn.Conv2D(2, 3), nn.ReLU(), nn.Flatten(), nn.Dense(3)], input_shape=(1, 6, 6))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    x = np.random.default_rng(0).random((8, 1, 6, 6), dtype=np.float32)
    model.fit(x, np.arange(8) % 3, batch_size=4, verbose=0)
    tape = model.last_tape
    assert tape[0].name == "conv2d" and tape[0].inputs[0].name == "images"
    assert tape[len(tape) - 1].inputs[1].name == "labels"
    assert "images" in tape.to_dot().source


# -- callbacks -----------------------------------------------------------------------------------------------------
class Scripted(nn.Callback):
    """Replaces the logs' val_loss by a scripted sequence (so EarlyStopping's decisions are known)."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def test_early_stopping_patience_and_restore_best_weights():
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1), loss=CE)
    seen = {}

    class Snap(nn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen[epoch] = model[0].weight.data.copy()

    stop = nn.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = model.fit(x, y, epochs=20, verbose=0, callbacks=[Scripted([5, 3, 4, 3.5, 1, 2]), Snap(), stop])
    assert h.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3 and stop.best_epoch == 1
    np.testing.assert_array_equal(model[0].weight.data, seen[1])
    model2 = mlp()
    model2.compile(optimizer=optim.SGD(model2.parameters(), lr=0.1), loss=CE)
    stop = nn.EarlyStopping(patience=0, min_delta=0.5)
    h = model2.fit(x, y, epochs=20, verbose=0, callbacks=[Scripted([5, 4.8, 1]), stop])
    assert h.epoch == [0, 1]                                    # 4.8 is not better by more than min_delta
    acc = nn.EarlyStopping(monitor="accuracy", patience=1)
    assert acc.mode == "max"
    with pytest.warns(UserWarning, match="EarlyStopping: the logs have no 'val_loss'"):
        model2.fit(x, y, epochs=1, verbose=0, callbacks=[nn.EarlyStopping()])


def test_model_checkpoint_best_only_and_filename_pattern(tmp_path):
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1), loss=CE)
    saved = {}

    class Snap(nn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved[epoch] = model.state_dict()

    best = tmp_path / "best.npz"
    model.fit(x, y, epochs=4, verbose=0, callbacks=[Scripted([3, 1, 2, 4]), Snap(),
                                                    nn.ModelCheckpoint(best, save_best_only=True),
                                                    nn.ModelCheckpoint(str(tmp_path / "e{epoch:02d}.npz"))])
    fresh = mlp(seed=9)
    fresh.load_weights(best)
    for k, v in saved[1].items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v, err_msg=k)
    assert sorted(p.name for p in tmp_path.glob("e*.npz")) == ["e01.npz", "e02.npz", "e03.npz", "e04.npz"]


def test_learning_rate_scheduler_and_per_batch_hooks():
    x, y = blobs(32)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    model.compile(optimizer=opt, loss=CE)
    events = []

    class PerBatch(nn.Callback):
        def on_batch_begin(self, batch, logs=None):
            events.append(("begin", batch, opt.lr))

        def on_batch_end(self, batch, logs=None):
            events.append(("end", batch))

    h = model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                  callbacks=[nn.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch), PerBatch()])
    assert h.history["learning_rate"] == [0.1, 0.05, 0.025]
    assert events[:4] == [("begin", 0, 0.1), ("end", 0), ("begin", 1, 0.1), ("end", 1)]
    assert events[4] == ("begin", 0, 0.05)
    with pytest.raises(ValueError, match="LearningRateScheduler: schedule returned lr=nan"):
        model.fit(x, y, verbose=0, callbacks=[nn.LearningRateScheduler(lambda e: float("nan"))])


def test_csv_logger_writes_and_appends(tmp_path):
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1), loss=CE)
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[nn.CSVLogger(path)])
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, validation_data=(x, y),
              callbacks=[nn.CSVLogger(path, append=True)])
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"] and float(rows[1][2]) > 0
    with pytest.raises(IsADirectoryError, match="CSVLogger: .* is a directory"):
        nn.CSVLogger(tmp_path)


def test_nan_loss_stops_training_before_the_bad_step():
    x, y = blobs(32)
    calls = []

    def flaky(pred, target):                           # the third step of the run gives NaN
        calls.append(1)
        loss = CE(pred, target)
        return loss * float("nan") if len(calls) == 3 else loss

    model = mlp()
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1), loss=flaky)
    with pytest.warns(RuntimeWarning, match=r"loss is nan at epoch 1, step 3; training stopped .*tg.detect_anomaly"):
        h = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert h.epoch == [0] and np.isnan(h.history["loss"][0])
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = model.fit(x, y, epochs=2, batch_size=8, verbose=0, terminate_on_nan=False)
    assert h.epoch == [0, 1] and not np.isfinite(model[0].weight.data).all()   # what happens without the guard


def test_optim_schedules_are_callbacks_per_epoch_and_per_batch():
    x, y = blobs(32)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    model.compile(optimizer=opt, loss=CE)

    class PerBatchSchedule:                             # the shape of a per-batch tg.optim schedule (OneCycleLR)
        def __init__(self):
            self.steps = 0

        def on_batch_end(self, batch, logs=None):
            self.steps += 1

    per_batch = PerBatchSchedule()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[optim.StepLR(opt, 1, 0.5), per_batch])
    assert opt.lr == pytest.approx(0.025) and per_batch.steps == 8


# -- metrics -------------------------------------------------------------------------------------------------------
def test_accuracy_reads_labels_one_hot_logits_probabilities_and_binary():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0], [0.1, 0.2, 0.3]])
    labels = np.array([0, 2, 2])
    for target in (labels, np.eye(3)[labels], labels.astype(np.float32)):
        acc = nn.Accuracy()
        acc.update(logits, target)
        assert acc.result() == pytest.approx(2 / 3)
    acc = nn.Accuracy()
    acc.update(np.array([[0.7], [0.4], [0.6]]), np.array([1.0, 0.0, 0.0]))      # probabilities: threshold 0.5
    assert acc.result() == pytest.approx(2 / 3)
    acc = nn.Accuracy()
    acc.update(np.array([[0.7], [-0.4], [0.2]]), np.array([1.0, 0.0, 0.0]), from_logits=True)   # logits: 0
    assert acc.result() == pytest.approx(2 / 3)
    acc = nn.Accuracy()
    acc.update(np.array([3.0, -2.0, 0.2]), np.array([1, 0, 0]))                   # outside [0, 1]: logits
    assert acc.result() == pytest.approx(2 / 3)
    top = nn.TopKAccuracy(k=2)
    top.update(logits, np.array([0, 2, 0]))             # the last row's label scores lowest
    assert top.result() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="TopKAccuracy: k must be a positive int"):
        nn.TopKAccuracy(k=0)


def test_metric_names_in_history_and_evaluate_without_a_loss():
    x, y = blobs(60, classes=6)
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(6)], input_shape=(2,))
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9), loss=CE,
                  metrics=["acc", "top_k_accuracy", nn.TopKAccuracy(2, name="top2")])
    h = model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y))
    assert set(h.history) == {"loss", "acc", "top_k_accuracy", "top2", "val_loss", "val_acc", "val_top_k_accuracy",
                              "val_top2"}
    assert h.history["top_k_accuracy"][-1] >= h.history["top2"][-1] >= h.history["acc"][-1]
    fresh = nn.Sequential([nn.Dense(6)], input_shape=(2,))
    assert set(fresh.evaluate(x, y)) == {"accuracy"}
    assert set(fresh.evaluate(x, np.eye(6)[y])) == {"accuracy"}
    with pytest.raises(ValueError, match="evaluate: no loss .* and no metric applies to outputs"):
        fresh.evaluate(x, np.zeros((60, 3)))


# -- guards ----------------------------------------------------------------------------------------------------------
def test_integer_images_warn_once_per_model():
    (x, y), _ = tg.data.load_mnist()
    x, y = x[:64], y[:64]
    tg.manual_seed(0)
    model = nn.Sequential([nn.Flatten(), nn.Dense(10)], input_shape=(1, 28, 28))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", from_logits=True)
    with pytest.warns(UserWarning, match=r"fit: integer input \(uint8, values 0\.\.255\) .* x / 255 .*"
                                         r"load_mnist\(dtype=\"float32\"\)") as record:
        model.fit(x, y, verbose=0)
        model.predict(x)
        model(x[:2])
    assert sum("integer input" in str(w.message) for w in record) == 1
    assert record[0].filename == __file__                       # points at the user's line
    other = nn.Sequential([nn.Flatten(), nn.Dense(10)], input_shape=(1, 28, 28))
    with pytest.warns(UserWarning, match="Sequential: integer input"):
        other(tg.tensor(x[:2]))
    quiet = nn.Sequential([nn.Flatten(), nn.Dense(10)], input_shape=(1, 28, 28))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.predict(x / 255)
        quiet((x[:2] > 100).astype(np.int64))                    # 0/1 integers are fine


def test_tensor_backward_explains_the_tape():
    t = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AttributeError, match=r"gradients come from the tape that recorded the loss") as e:
        t.sum().backward()
    assert "with tg.Tape() as tape:" in str(e.value) and "tape.backward(loss)" in str(e.value)
    assert not hasattr(t, "backward")


def test_save_to_a_directory_names_the_path(tmp_path):
    model = mlp()
    with pytest.raises(IsADirectoryError, match=f"Sequential.save: '{tmp_path}' is a directory"):
        model.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="the folder .*missing.* does not exist"):
        model.save(tmp_path / "missing" / "m.npz")


def test_load_weights_reads_a_fit_checkpoint(tmp_path):
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9), loss=CE)
    model.fit(x, y, epochs=2, verbose=0, checkpoint=tmp_path / "run.npz")
    other = mlp(seed=3)
    other.load_weights(tmp_path / "run.npz")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_fit_docstring_documents_every_argument():
    import inspect
    doc = nn.Module.fit.__doc__
    for name in inspect.signature(tg.nn.training.fit).parameters:
        if name != "model":
            assert f"{name}" in doc, name
    assert "Returns:" in doc and "Example::" in doc


def test_stop_in_a_batch_ends_training_and_skips_the_checkpoint_of_the_cut_epoch(tmp_path):
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.1), loss=CE)

    class StopAt(nn.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    path = tmp_path / "c.npz"
    h = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[StopAt()], checkpoint=path)
    assert h.epoch == [0] and not path.exists()
    with pytest.raises(TypeError, match=r"fit: callbacks must be a list of callbacks, got a StopAt"):
        model.fit(x, y, verbose=0, callbacks=StopAt())
