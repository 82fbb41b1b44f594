"""Gradient health: grad_stats annotations and colours on the graph, and plot_grad_flow."""
import re

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import losses, nn, viz
from tapegraph.viz import GRAD_HEALTH

from .graphs import edges, label_of, mlp, nodes

RED, BLUE, PURPLE = GRAD_HEALTH["exploding"][1], GRAD_HEALTH["vanishing"][1], viz.STYLE["grad"][1]


def bad_step(persistent=False):
    """ReLU MLP, first layer x1e-9 and last x1e5: exploding first-layer and bias gradients, a vanishing last
    kernel gradient (its input is ~0), a healthy last bias."""
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(6), nn.ReLU(), nn.Dense(6), nn.ReLU(), nn.Dense(3)])
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((8, 5)), name="images")
    y = tg.tensor(rng.integers(0, 3, 8), name="labels")
    model(x)
    model.layers[0].weight.data *= 1e-9
    model.layers[4].weight.data *= 1e5
    with tg.Tape(persistent=persistent) as tape:
        loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
    tape.backward(loss)
    return tape, model, loss


def grad_node(src, pname):
    return next(n for n in nodes(src) if n.startswith("d_") and f"{pname}.grad" in label_of(src, n))


def edge_attrs(src, a, b):
    m = re.search(rf"^\s*{a} -> {b} \[(.*)\]$", src, re.M)
    assert m, f"no edge {a} -> {b}"
    return m.group(1)


@pytest.mark.parametrize("persistent", [False, True])
def test_grad_stats_annotate_norm_ratio_and_colour_by_health(persistent):
    tape, model, _ = bad_step(persistent)
    src = tape.to_dot(backward=True, group="layer", grad_stats=True).source
    health = {n: viz.grad_stats(p)["health"] for n, p in model.named_parameters()}
    assert health == {"layers.0.weight": "exploding", "layers.0.bias": "exploding", "layers.2.weight": "ok",
                      "layers.2.bias": "exploding", "layers.4.weight": "vanishing", "layers.4.bias": "ok"}
    for name, p in model.named_parameters():
        d = grad_node(src, name)
        lab = label_of(src, d)
        norm = float(np.sqrt(np.sum(p.grad.astype(np.float64) ** 2)))
        assert f"‖g‖ {norm:.3g}" in lab
        into = [s for s, t in edges(src) if t == d and not s.startswith("t")]
        assert len(into) == 1
        attrs = edge_attrs(src, into[0], d)
        colour = {"exploding": RED, "vanishing": BLUE, "ok": PURPLE}[health[name]]
        assert f'color="{colour}"' in attrs
        if health[name] != "ok":
            assert health[name] in lab and "penwidth=2.5" in attrs and f'color="{colour}"' in lab
        assert ("style=dashed" in attrs) == (health[name] == "vanishing")
    w = model.layers[2].weight
    ratio = np.abs(w.grad).mean() / np.abs(w.data).mean()
    assert f"|g|/|w| {ratio:.3g}" in label_of(src, grad_node(src, "layers.2.weight"))
    assert "|w| = 0" in label_of(src, grad_node(src, "layers.2.bias"))       # zero-initialised bias
    assert "1 vanishing" in src and "3 exploding" in src


def test_non_finite_gradient_is_exploding_and_missing_grad_is_said():
    tape, model, _ = bad_step()
    model.layers[2].weight.grad[0, 0] = np.nan
    model.layers[4].bias.grad = None
    src = tape.to_dot(backward=True, grad_stats=True).source
    lab = label_of(src, grad_node(src, "layers.2.weight"))
    assert "nan" in lab and "exploding" in lab and RED in lab
    assert "no .grad" in label_of(src, grad_node(src, "layers.4.bias"))
    assert viz.grad_stats(model.layers[2].weight)["health"] == "exploding"
    assert viz.grad_stats(tg.tensor(np.ones(2), requires_grad=True)) is None


def test_forward_view_and_collapsed_view_annotate_parameters():
    tape, model, _ = bad_step()
    src = tape.to_dot(grad_stats=True).source
    w0 = next(n for n in nodes(src) if "layers.0.weight" in label_of(src, n))
    assert "exploding" in label_of(src, w0) and "‖g‖" in label_of(src, w0)
    boxes = tape.to_dot(collapse=True, grad_stats=True).source
    assert "layers.4.weight" in boxes and "vanishing" in boxes


def test_grad_stats_without_gradients_says_what_to_do():
    tape, loss, _ = mlp()
    with pytest.raises(ValueError, match=r"grad_stats.*no parameter has a .grad.*tape.backward\(loss\).*zero_grad"):
        tape.to_dot(backward=True, grad_stats=True)
    model = nn.Sequential([nn.Dense(2)], input_shape=(3,))
    with pytest.raises(ValueError, match="plot_grad_flow: no parameter has a .grad"):
        viz.plot_grad_flow(model)


def test_backward_by_layer_keeps_gradient_nodes_in_their_layer_cluster():
    tape, model, _ = bad_step()
    src = tape.to_dot(backward=True, group="layer").source
    assert "cluster_backward" not in src
    block = src[src.index('subgraph "cluster_layers.2"'):src.index('subgraph "cluster_layers.3"')]
    assert "∇ matmul" in block and "layers.2.weight.grad" in block and "<B>matmul</B>" in block
    grad_edges = [a for a in re.findall(r"^\s*g_\w+ -> [gd]_\w+ \[(.*)\]$", src, re.M)]
    assert grad_edges and all("constraint=false" in a for a in grad_edges)
    assert "cluster_backward" in tape.to_dot(backward=True).source      # ungrouped: the one backward cluster


# -- plots ---------------------------------------------------------------------------------------------------------
def test_plot_grad_flow_writes_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib missing: pip install -e \".[plot]\"")
    tape, model, _ = bad_step()
    fig = viz.plot_grad_flow(model, tmp_path / "flow.png")
    data = (tmp_path / "flow.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [n for n, _ in model.named_parameters()]
    from matplotlib.colors import to_hex
    colours = [to_hex(p.get_facecolor(), keep_alpha=False).upper() for p in ax.patches]
    assert colours[0] == RED.upper() and colours[4] == BLUE.upper() and colours[5] not in (RED.upper(), BLUE.upper())
    heights = [p.get_height() for p in ax.patches]
    assert np.isclose(heights[2], viz.grad_stats(model.layers[2].weight)["norm"])
    by_layer = viz.plot_grad_flow(model, tmp_path / "flow.svg", by="layer")
    assert [t.get_text() for t in by_layer.axes[0].get_xticklabels()] == \
        ["layers.0 · Dense", "layers.2 · Dense", "layers.4 · Dense"]
    assert (tmp_path / "flow.svg").read_text().lstrip().startswith("<?xml")
    params = viz.plot_grad_flow(model.parameters())                   # a list of parameters, nothing written
    assert len(params.axes[0].patches) == 6 and sorted(p.name for p in tmp_path.iterdir()) == ["flow.png",
                                                                                              "flow.svg"]
    with pytest.raises(ValueError, match="by must be"):
        viz.plot_grad_flow(model, by="module")
    with pytest.raises(ValueError, match=r"cannot tell the format.*\.png"):
        viz.plot_grad_flow(model, tmp_path / "flow.jpeg")


def test_plots_without_matplotlib_name_the_extra(monkeypatch):
    import sys
    from tapegraph.viz import plots
    monkeypatch.setattr(plots, "_FIGURE", [])
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    tape, model, _ = bad_step()
    with pytest.raises(ImportError, match=r"plot_grad_flow needs matplotlib.*tapegraph\[plot\]"):
        viz.plot_grad_flow(model)
    h = nn.training.History()
    h._record(0, {"loss": 1.0})
    with pytest.raises(ImportError, match=r"History.plot needs matplotlib.*tapegraph\[plot\]"):
        h.plot()
