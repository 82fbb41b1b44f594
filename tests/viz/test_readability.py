"""What a new user sees: clusters titled by path and class, inputs by name, the loss value in every view, and
History.plot's training curves."""
import re

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import losses, nn

from .graphs import label_of, nodes


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Conv2D(4, 3)
        self.act = nn.ReLU()
        self.head = nn.Dense(3)

    def forward(self, x):
        return self.head(self.act(self.features(x)).reshape(x.shape[0], -1))


def step(model, x, y):
    model(x)
    with tg.Tape() as tape:
        loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
    return tape, loss


def cluster_labels(src):
    return dict(re.findall(r'subgraph "?cluster_([\w.]+)"? \{\s*[^}]*?label="([^"]*)"', src))


def test_clusters_and_boxes_are_titled_by_path_and_class():
    tg.manual_seed(0)
    seq = nn.Sequential([nn.Conv2D(2, 3), nn.ReLU(), nn.Flatten(), nn.Dense(3)])
    x = tg.tensor(np.ones((2, 1, 6, 6)), name="images")
    y = tg.tensor(np.array([0, 2]), name="labels")
    tape, loss = step(seq, x, y)
    src = tape.to_dot(group="layer").source
    assert cluster_labels(src) == {"layers.0": "layers.0 · Conv2D", "layers.1": "layers.1 · ReLU",
                                   "layers.2": "layers.2 · Flatten", "layers.3": "layers.3 · Dense"}
    boxes = tape.to_dot(collapse=True, backward=True).source
    assert "<B>layers.0 · Conv2D</B>" in boxes and "∇ layers.3 · Dense" in boxes
    assert [n.layer for n in tape][:2] == ["layers.0", "layers.1"]           # the JSON/profile names unchanged
    assert tape.to_json()["nodes"][0]["layer"] == "layers.0" and tape.nodes[0].scope == ("layers.0",)
    tape2, _ = step(Net(), x, y)
    assert cluster_labels(tape2.to_dot(group="layer").source) == {
        "features": "features · Conv2D", "act": "act · ReLU", "head": "head · Dense"}


def test_inputs_use_tensor_names_and_unnamed_ones_say_what_they_are():
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(3)])
    named = step(model, tg.tensor(np.ones((2, 4)), name="images"), tg.tensor(np.array([0, 1]), name="labels"))[0]
    src = named.to_dot().source
    assert "<B>images</B>" in src and "<B>labels</B>" in src
    unnamed = step(model, np.ones((2, 4), np.float32), np.array([0, 1]))[0]
    src = unnamed.to_dot().source
    assert "<B>input</B>" in src and "<B>labels</B>" in src and "<B>data</B>" not in src
    with tg.Tape() as t:
        losses.mean_squared_error(model(np.ones((2, 4), np.float32)), tg.tensor(np.zeros((2, 3))))
    assert "<B>targets</B>" in t.to_dot().source


def test_collapsed_view_shows_the_loss_value():
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(3), nn.ReLU(), nn.Dense(2)])
    x = tg.tensor(np.ones((2, 4)), name="images")
    tape, loss = step(model, x, tg.tensor(np.array([0, 1]), name="labels"))
    src = tape.to_dot(collapse=True).source
    value = f"{float(loss.data):.4g}"
    assert f"loss = {value}" in src                                         # the facts line
    lossbox = [n for n in nodes(src) if "loss</B>" in label_of(src, n)]
    assert len(lossbox) == 1 and value in label_of(src, lossbox[0])


# -- History.plot ----------------------------------------------------------------------------------------------------
def history():
    h = nn.training.History()
    for e, (l, a, vl, va) in enumerate([(2.0, 0.3, 1.5, 0.5), (1.0, 0.6, 1.1, 0.6), (0.5, 0.8, 0.9, 0.7)]):
        h._record(e, {"loss": l, "accuracy": a, "val_loss": vl, "val_accuracy": va})
    return h


def test_history_plot_draws_train_and_validation_per_metric(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib missing: pip install -e \".[plot]\"")
    h = history()
    fig = h.plot(tmp_path / "curves.png")
    data = (tmp_path / "curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["train", "validation"]
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[0].get_ydata()) == [2.0, 1.0, 0.5]
    assert list(lines[1].get_ydata()) == [1.5, 1.1, 0.9] and lines[1].get_linestyle() == "--"
    only = h.plot(tmp_path / "loss.svg", metrics=["loss"])
    assert [ax.get_title() for ax in only.axes] == ["loss"]
    assert "<svg" in (tmp_path / "loss.svg").read_text()
    inline = h.plot()                                                      # no path: the figure, nothing written
    assert inline._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n" and len(list(tmp_path.iterdir())) == 2
    with pytest.raises(ValueError, match=r"History.plot: no metric \['auc'\].*\['loss', 'accuracy'\]"):
        h.plot(metrics=["auc"])
    with pytest.raises(ValueError, match="History.plot: the history is empty"):
        nn.training.History().plot()


def test_history_plot_from_fit(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib missing: pip install -e \".[plot]\"")
    import functools
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 4)).astype(np.float32), rng.integers(0, 2, 64)
    model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(2)], input_shape=(4,))
    h = model.fit(x, y, loss=functools.partial(losses.categorical_crossentropy, from_logits=True),
                  optimizer=tg.optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=16,
                  validation_data=(x[:16], y[:16]), verbose=0)
    fig = h.plot(tmp_path / "fit.png")
    assert fig.axes[0].get_title() == "loss" and len(fig.axes[0].get_lines()) == 2
    assert (tmp_path / "fit.png").stat().st_size > 5_000


def test_examples_save_curves_or_say_why_not(tmp_path, monkeypatch, capsys):
    from examples.mnist import save_curves
    from tapegraph.viz import plots
    pytest.importorskip("matplotlib", reason="matplotlib missing: pip install -e \".[plot]\"")
    assert save_curves(history(), str(tmp_path / "mnist_curves.png")) == str(tmp_path / "mnist_curves.png")
    assert (tmp_path / "mnist_curves.png").stat().st_size > 5_000
    monkeypatch.setattr(plots, "_FIGURE", [])
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.figure", None)
    assert save_curves(history(), str(tmp_path / "again.png")) is None
    assert "tapegraph[plot]" in capsys.readouterr().err and not (tmp_path / "again.png").exists()
