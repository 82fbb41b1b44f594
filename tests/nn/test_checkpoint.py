"""fit(checkpoint=..., resume=True): an interrupted run continues bit for bit; a crash mid-save loses nothing."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph import nn, optim
from tapegraph.nn import serialization


def data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def run(epochs, path=None, resume=False, seed=0):
    tg.manual_seed(seed)
    model = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dropout(0.3), nn.Dense(2)], input_shape=(6,))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    x, y = data()
    hist = model.fit(x, y, loss=lambda p, t: tg.losses.categorical_crossentropy(p, t, from_logits=True),
                     optimizer=opt, epochs=epochs, batch_size=16, callbacks=[sched], verbose=0,
                     checkpoint=path, resume=resume)
    return model, opt, hist


def test_resume_continues_exactly(tmp_path):
    ref, ref_opt, ref_hist = run(5)
    path = tmp_path / "ckpt.npz"
    run(2, path)                                           # "crashes" after epoch 2
    model, opt, hist = run(5, path, resume=True, seed=123)  # a different seed: everything must come from the file
    for (k, a), (_, b) in zip(ref.named_parameters(), model.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)
    assert opt.lr == ref_opt.lr
    assert hist.epoch == ref_hist.epoch == [0, 1, 2, 3, 4]
    assert hist.history["loss"] == ref_hist.history["loss"]


def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    run(1, path)
    before = path.read_bytes()
    real = serialization._write_npz

    def crash(f, arrays):
        real(f, arrays)
        f.write(b"partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(serialization, "_write_npz", crash)
    with pytest.raises(KeyboardInterrupt):
        run(3, path, resume=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]      # no temporary file left behind
    monkeypatch.setattr(serialization, "_write_npz", real)
    _, _, hist = run(3, path, resume=True)
    assert hist.epoch == [0, 1, 2]


def test_corrupt_checkpoint_is_refused_by_name(tmp_path):
    path = tmp_path / "ckpt.npz"
    run(1, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cannot resume from .*ckpt.npz: not a complete tapegraph checkpoint"):
        run(2, path, resume=True)
