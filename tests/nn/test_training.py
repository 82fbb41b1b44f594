"""fit / evaluate / predict: learning, History, the explicit-tape equivalence, callbacks, output and errors."""
import functools
import io

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn, optim

CE = functools.partial(tg.losses.categorical_crossentropy, from_logits=True)


def blobs(n=64, seed=0):
    """Two well separated Gaussian blobs in 2-D, integer labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(0, 0.5, (n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return x.astype(np.float32), y


def classifier(seed=0, dropout=0.0):
    tg.manual_seed(seed)
    layers = [nn.Dense(8), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Dense(2)]
    return nn.Sequential(layers, input_shape=(2,))


def test_fit_reaches_full_training_accuracy_and_history():
    x, y = blobs()
    xv, yv = blobs(32, seed=1)
    model = classifier()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    hist = model.fit(x, y, loss=CE, optimizer=opt, epochs=8, batch_size=16, validation_data=(xv, yv), verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 8 for v in hist.history.values()) and hist.epoch == list(range(8))
    assert hist.history["accuracy"][-1] == 1.0 and hist.history["val_accuracy"][-1] == 1.0
    assert hist.history["loss"][-1] < hist.history["loss"][0] / 4
    result = model.evaluate(x, y, batch_size=10)
    assert result["accuracy"] == 1.0
    assert result["loss"] == pytest.approx(float(CE(model.predict(x), y).data), rel=1e-5)
    assert hist.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv)["loss"], rel=1e-6)


def test_fit_is_exactly_the_explicit_tape_loop():
    x, y = blobs(50)
    model = classifier(3, dropout=0.2)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    tg.manual_seed(11)
    model.fit(x, y, loss=CE, optimizer=opt, epochs=2, batch_size=16, verbose=0)

    hand = classifier(3, dropout=0.2)
    hopt = optim.SGD(hand.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    tg.manual_seed(11)
    for _ in range(2):
        order = tg.get_rng().permutation(len(x))
        for s in range(0, len(x), 16):
            idx = order[s:s + 16]
            with tg.Tape() as tape:
                loss = CE(hand(x[idx]), y[idx])
            tape.backward(loss)
            hopt.step()
            hopt.zero_grad()
    for (name, a), (_, b) in zip(model.named_parameters(), hand.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_unshuffled_fit_uses_consecutive_batches():
    x, y = blobs(20)
    model, hand = classifier(5), classifier(5)
    model.fit(x, y, loss=CE, optimizer=optim.SGD(model.parameters(), lr=0.1), batch_size=8, shuffle=False,
              verbose=0)
    opt = optim.SGD(hand.parameters(), lr=0.1)
    for s in range(0, 20, 8):
        with tg.Tape() as tape:
            loss = CE(hand(x[s:s + 8]), y[s:s + 8])
        tape.backward(loss)
        opt.step()
        opt.zero_grad()
    np.testing.assert_array_equal(model[0].weight.data, hand[0].weight.data)


def test_predict_and_evaluate_shapes_modes_and_no_recording():
    x, y = blobs(10)
    model = classifier(dropout=0.5)
    with tg.Tape() as tape:
        p = model.predict(x, batch_size=3)
    assert len(tape) == 0
    assert p.shape == (10, 2) and p.dtype == np.float32
    np.testing.assert_allclose(p, model.predict(x, batch_size=10), rtol=1e-5)  # eval: no dropout
    assert model.training and model[2].training                          # mode restored
    model.eval()
    out = model.evaluate(x, y, loss=CE)
    assert set(out) == {"loss", "accuracy"} and not model.training
    fresh = classifier()
    assert set(fresh.evaluate(x, y)) == {"accuracy"}                     # no loss: the metrics it can compute


def test_string_losses_and_accuracy_only_for_classification():
    x, y = blobs(32)
    model = nn.Sequential([nn.Dense(4), nn.Tanh(), nn.Dense(1), nn.Sigmoid()], input_shape=(2,))
    opt = optim.SGD(model.parameters(), lr=0.5)
    yb = y[:, None].astype(np.float32)
    h = model.fit(x, yb, loss="binary_crossentropy", optimizer=opt, epochs=3, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}
    h = model.fit(x, yb, loss="mse", optimizer=opt, epochs=2, verbose=0)
    assert set(h.history) == {"loss"}
    onehot = nn.Sequential([nn.Dense(2), nn.Softmax()], input_shape=(2,))
    h = onehot.fit(x, np.eye(2)[y], loss="categorical_crossentropy", epochs=1, verbose=0,
                   optimizer=optim.SGD(onehot.parameters(), lr=0.1))
    assert 0 <= h.history["accuracy"][0] <= 1
    with pytest.raises(ValueError, match="fit: unknown loss 'hinge'"):
        model.fit(x, yb, loss="hinge", optimizer=opt, verbose=0)


def test_callbacks_schedules_last_tape_and_early_stop():
    x, y = blobs(20)
    model = classifier()
    opt = optim.SGD(model.parameters(), lr=0.1)
    calls = []

    class Recorder(nn.Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append(("batch", batch, logs["size"]))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch", epoch, sorted(logs)))
            if epoch == 1:
                model.stop_training = True

    h = model.fit(x, y, loss=CE, optimizer=opt, epochs=5, batch_size=8, verbose=0,
                  callbacks=[Recorder(), optim.StepLR(opt, 1, 0.5)])
    assert h.epoch == [0, 1]
    assert calls[:4] == [("batch", 0, 8), ("batch", 1, 8), ("batch", 2, 4), ("epoch", 0, ["accuracy", "loss"])]
    assert opt.lr == pytest.approx(0.025)
    tape = model.last_tape
    assert isinstance(tape, tg.Tape) and [n.layer for n in tape][:2] == ["layers.0", "layers.0"]
    assert tape[0].inputs[1].name == "layers.0.weight"


def test_verbose_output_line_per_epoch_when_not_a_terminal(capsys):
    x, y = blobs(20)
    model = classifier()
    model.fit(x, y, loss=CE, optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=8)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2 - 20 samples in")
    assert "img/s" in lines[1] and "loss: " in lines[1] and "accuracy: " in lines[1]
    model.fit(x, y, loss=CE, optimizer=optim.SGD(model.parameters(), lr=0.1), verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stdout", term)
    x, y = blobs(20)
    model = classifier()
    model.fit(x, y, loss=CE, optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=8)
    out = term.getvalue()
    assert out.startswith("\rEpoch 1/1") and "3/3 [========================]" in out and out.endswith("\n")
    assert "img/s" in out and "loss: " in out


def test_fit_input_errors():
    x, y = blobs(10)
    model = classifier()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"categorical_crossentropy: labels must lie in \[0, 2\)"):
        model.fit(x, y + 1, loss=CE, optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match=r"fit: x has 10 samples but y has shape \(9,\)"):
        model.fit(x, y[:9], loss=CE, optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="fit: batch_size must be a positive int"):
        model.fit(x, y, loss=CE, optimizer=opt, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"^layers\.0 \(Dense\): expected input \(batch, 2\)"):
        model.fit(np.zeros((10, 3)), y, loss=CE, optimizer=opt, verbose=0)
    with pytest.raises(TypeError, match="fit: optimizer must have step"):
        model.fit(x, y, loss=CE, optimizer=object(), verbose=0)
    with pytest.raises(ValueError, match="fit: no optimizer: call model.compile"):
        classifier().fit(x, y, loss=CE, verbose=0)
