"""The graphviz rendering of a tape: structure of the DOT source, real renders, and the missing-`dot` path."""
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import viz
from tapegraph.tape import scope


def _read(path) -> str:
    with open(path) as f:
        return f.read()

from .graphs import deep, edges, label_of, mlp, nodes

pytest.importorskip("graphviz")  # a declared dependency; the import is lazy in tapegraph.viz


def test_forward_nodes_edges_and_labels():
    tape, loss, (x, w1, b1, w2) = mlp()
    src = tape.to_dot().source
    names = nodes(src)
    # 7 ops + x + 3 parameters + the constant 0.5; one edge per op input.
    assert sorted(n for n in names if n.startswith("op")) == [f"op{i}" for i in range(7)]
    assert len(names) == 7 + 5
    assert len(edges(src)) == sum(len(n.inputs) for n in tape.nodes) == 12
    assert ("op3", "op4") in edges(src) and edges(src).count(("op3", "op4")) == 2  # o * o: used twice
    w1_node = next(n for n in names if "fc1.weight" in label_of(src, n))
    assert "float32[16, 32]" in label_of(src, w1_node) and (w1_node, "op0") in edges(src)
    assert "<B>matmul</B>" in label_of(src, "op0") and "float32[8, 32]" in label_of(src, "op0")
    assert "axis=None" in label_of(src, "op5")
    loss_label = label_of(src, "op6")
    assert "loss" in loss_label and f"{float(loss.data):.4g}" in loss_label and "penwidth=2" in loss_label
    assert "loss" not in label_of(src, "op5")


def test_kinds_have_distinct_styles():
    x = tg.tensor(np.ones((2, 3)), name="images")          # data
    v = tg.tensor(np.ones((2, 3)), requires_grad=True)    # input variable
    p = tg.tensor(np.ones((3,)), requires_grad=True, name="head.bias")
    with tg.Tape() as tape:
        y = (x * v + p) * 2.0
    src = tape.to_dot().source
    leaf = {}
    for n in nodes(src):
        if n.startswith("t"):
            lab = label_of(src, n)
            key = next(k for k in ("images", "head.bias", "<B>input</B>", "2 ") if k in lab)
            leaf[key] = lab
    assert set(leaf) == {"images", "head.bias", "<B>input</B>", "2 "}
    assert "shape=ellipse" in leaf["images"] and viz.STYLE["data"][0] in leaf["images"]
    assert "shape=ellipse" in leaf["<B>input</B>"] and viz.STYLE["variable"][0] in leaf["<B>input</B>"]
    assert "requires grad" in leaf["<B>input</B>"] and "requires grad" not in leaf["images"]
    assert "shape=box" in leaf["head.bias"] and viz.STYLE["parameter"][0] in leaf["head.bias"]
    assert "shape=plaintext" in leaf["2 "] and leaf["2 "].startswith("2 ")
    assert y.shape == (2, 3)


def test_attributes_shown_and_arrays_skipped():
    x = tg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    idx = np.array([2, 0, 2])
    with tg.Tape() as tape:
        y = x[idx, 1:3].sum(axis=1, keepdims=True)
    src = tape.to_dot().source
    get = label_of(src, "op0")
    assert "index=(int64[3], 1:3)" in get and "2, 0, 2" not in get
    assert "axis=1, keepdims=True" in label_of(src, "op1")
    assert y.shape == (3, 1)


def test_backward_accumulates_a_reused_tensor():
    x = tg.tensor(np.ones(3), requires_grad=True, name="x")
    d = tg.tensor(np.ones(3), name="d")                     # needs no gradient
    with tg.Tape() as tape:
        a = x * d                                          # op0
        y = (a + a * a).sum()                              # op1 mul(a, a), op2 add(a, ...), op3 sum
    src = tape.to_dot(backward=True).source
    names = nodes(src)
    assert sorted(n for n in names if n.startswith("g_")) == ["g_op0", "g_op1", "g_op2", "g_op3"]
    acc = [n for n in names if n.startswith("acc_")]
    assert len(acc) == 1                                   # a gets three contributions, added once
    into_acc = [s for s, t in edges(src) if t == acc[0]]
    assert sorted(into_acc) == ["g_op1", "g_op1", "g_op2"]
    assert (acc[0], "g_op0") in edges(src)
    grads = [n for n in names if n.startswith("d_")]
    assert len(grads) == 1 and "x.grad" in label_of(src, grads[0])   # no gradient node for d
    assert ("g_op0", grads[0]) in edges(src)
    assert ("g_op3", "g_op2") in edges(src) and ("g_op2", "g_op1") in edges(src)
    assert "saved" in label_of(src, "g_op0") and 'rank=same' in src
    assert y.shape == ()


def test_backward_after_release_uses_profiled_saved_sizes():
    tape, loss, _ = mlp(profile=True)
    before = tape.to_dot(backward=True).source
    tape.backward(loss)
    after = tape.to_dot(backward=True, cost=True).source
    assert sorted(nodes(before)) == sorted(nodes(after))
    assert len(edges(before)) == len(edges(after))
    saved = re.findall(r"op0 -> g_op0 \[.*label=\"saved ([\d.]+ [kM]?B)\"", after)
    assert saved and saved[0] == viz._mb(tape.nodes[0].stats["saved_bytes"])
    assert all(" ms · " in label_of(after, f"g_op{i}") for i in range(7))


def test_cost_before_backward_says_backward_did_not_run():
    tape, _, _ = mlp(profile=True)
    src = tape.to_dot(backward=True, cost=True).source
    assert all("backward not run yet" in label_of(src, f"g_op{i}") for i in range(7))


def test_released_tape_still_renders_with_the_same_structure():
    t1, loss, _ = mlp()
    src1 = t1.to_dot().source
    t1.backward(loss)
    src2 = t1.to_dot().source
    assert nodes(src1) == nodes(src2) and edges(src1) == edges(src2)
    assert re.search(r"loss</B> = [-\d]", label_of(src1, "op6"))
    assert label_of(src1, "op6") == label_of(src2, "op6")   # the user still holds `loss`: its value is shown
    del loss
    assert "loss</B>" in label_of(t1.to_dot().source, "op6") and "loss</B> =" not in t1.to_dot().source


def test_same_code_gives_the_same_dot_source():
    assert mlp(seed=3)[0].to_dot(backward=True, group="layer").source == \
        mlp(seed=3)[0].to_dot(backward=True, group="layer").source


def test_group_by_layer_makes_nested_clusters():
    w = tg.tensor(np.ones((3, 3)), requires_grad=True, name="block.conv.weight")
    x = tg.tensor(np.ones((2, 3)))
    with tg.Tape() as tape:
        with scope("block"):
            with scope("conv"):
                h = x @ w
            h = tg.relu(h)
        with scope("head"):
            y = h.sum()
    src = tape.to_dot(group="layer").source
    clusters = [c.strip('"') for c in re.findall(r"subgraph (\S+) \{", src)]
    assert clusters == ["cluster_block", "cluster_block.conv", "cluster_head"]
    block = src[src.index("subgraph cluster_block {"):src.index("subgraph cluster_head")]
    conv = block[block.index('subgraph "cluster_block.conv"'):]
    assert "op0 [" in conv and "block.conv.weight" in conv and "op1 [" in block and "op1 [" not in conv
    assert "subgraph" not in tape.to_dot().source
    assert y.shape == ()


def test_collapse_draws_one_box_per_layer_call():
    tape, loss = deep(4, ops_per_layer=3)
    src = tape.to_dot(collapse=True).source
    names = nodes(src)
    boxes = [n for n in names if n.startswith("layer")]
    assert len(boxes) == 4 and "op12" in names and len(names) == 4 + 1 + 1   # + loss sum + x
    lab = label_of(src, boxes[2])
    assert "layers.2" in lab and "3 ops: matmul, tanh, mul" in lab and "layers.2.weight" in lab
    assert "float32[2, 4]" in lab
    assert not any("layers.2.weight" in label_of(src, n) for n in names if n != boxes[2])
    assert len(edges(src)) == 1 + 3 + 1                     # x -> box0, box chain, box3 -> sum
    by_depth = tape.to_dot(collapse=1).source               # everything under "layers" in one box
    assert len([n for n in nodes(by_depth) if n.startswith("layer")]) == 1


def test_collapse_names_a_second_call_of_a_layer():
    w = tg.tensor(np.eye(2), requires_grad=True, name="shared.weight")
    x = tg.tensor(np.ones((1, 2)))
    with tg.Tape() as tape:
        h = x
        for _ in range(2):
            with scope("shared"):
                h = tg.tanh(h @ w)
            h = h * 2.0
    src = tape.to_dot(collapse=True, backward=True).source
    labels = [label_of(src, n) for n in nodes(src) if n.startswith("layer")]
    assert len(labels) == 2 and "(call 2)" in labels[1] and "(call 2)" not in labels[0]
    param = [n for n in nodes(src) if n.startswith("t") and "shared.weight" in label_of(src, n)]
    assert len(param) == 1                                   # shared across two boxes: drawn once, two edges
    assert len([e for e in edges(src) if e[0] == param[0]]) == 2
    acc = [n for n in nodes(src) if n.startswith("acc_")]
    assert len(acc) == 1 and "shared.weight.grad" in src


def test_cost_needs_a_profiled_tape_and_colours_by_time():
    tape, _, _ = mlp()
    with pytest.raises(ValueError, match=r"profile=True"):
        tape.to_dot(cost=True)
    tape, _, _ = mlp(profile=True)
    src = tape.to_dot(cost=True).source
    fills = {re.search(r'fillcolor="([^"]+)"', label_of(src, f"op{i}")).group(1) for i in range(7)}
    assert fills <= set(viz.COST_PALETTE) and len(fills) >= 2
    assert all(" ms · " in label_of(src, f"op{i}") for i in range(7))


def test_target_tensor_draws_its_subgraph(tmp_path):
    x = tg.tensor(np.ones((2, 2)), requires_grad=True, name="x")
    with tg.Tape() as tape:
        a = tg.exp(x)
        b = tg.tanh(x)                     # not needed by c
        c = (a * 3.0).sum()
        inside = tg.render(c, tmp_path / "inside.dot")     # the innermost recording tape
    src = tape.to_dot(target=c).source
    assert [n for n in nodes(src) if n.startswith("op")] == ["op0", "op2", "op3"]
    assert "loss" in label_of(src, "op3") and b.shape == (2, 2)
    out = tg.render(c, tmp_path / "c.dot", tape=tape)
    assert _read(out) == src == _read(inside)
    with pytest.raises(TypeError, match=r"pass tape="):
        tg.render(c, tmp_path / "c.svg")
    with pytest.raises(ValueError, match="not the output of any op"):
        tape.to_dot(target=x)
    tape.backward(c)                                        # releases the arrays; the records keep c's identity
    assert tape.to_dot(target=c).source == src


def test_bad_options_raise_clear_errors(tmp_path):
    tape, _, _ = mlp()
    with pytest.raises(ValueError, match="group must be"):
        tape.to_dot(group="module")
    with pytest.raises(ValueError, match="collapse must be"):
        tape.to_dot(collapse=-1)
    with pytest.raises(ValueError, match=r"7 op boxes.*max_nodes=5.*collapse=True"):
        tape.to_dot(max_nodes=5)
    assert len(nodes(tape.to_dot(max_nodes=7).source)) == 12
    with pytest.raises(ValueError, match=r"render: cannot tell the format.*\.svg"):
        tape.render(tmp_path / "graph.jpeg")
    with pytest.raises(TypeError, match="expected a Tape"):
        viz.to_dot([1, 2])


def test_title_and_facts_line():
    tape, _, _ = mlp()
    src = tape.to_dot(title="MLP step").source
    assert "<B>MLP step</B>" in src and "7 ops · 3 parameter tensors (864 values)" in src


# -- real renders ------------------------------------------------------------------------------------------------
needs_dot = pytest.mark.skipif(__import__("shutil").which("dot") is None, reason="Graphviz 'dot' not installed")


@needs_dot
def test_render_svg_and_png_are_valid(tmp_path):
    tape, loss, _ = mlp()
    svg = tape.render(tmp_path / "step.svg", group="layer", backward=True, title="step")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    assert "fc1.weight" in texts and "matmul" in texts and "backward pass" in texts
    png = tg.render(tape, str(tmp_path / "step.png"))
    with open(png, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 100 < width < 5_000 and 100 < height < 5_000
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".dot") or ".tmp" in f]


@needs_dot
def test_a_3000_op_tape_renders_collapsed(tmp_path):
    tape, _ = deep(600, ops_per_layer=5)
    assert len(tape) == 3001
    g = tape.to_dot(collapse=True, group="layer", max_nodes=700)
    assert len([n for n in nodes(g.source) if n.startswith("layer")]) == 600
    path = tape.render(tmp_path / "deep.svg", collapse=True, group="layer")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg") and "layers.599" in "".join(root.itertext())
    drawn = [g for g in root.iter() if g.tag.endswith("}g") and g.get("class") == "node"]
    assert len(drawn) == 600 + 2                          # the boxes, x and the final sum


def test_missing_dot_writes_the_source_and_says_how_to_install(tmp_path, monkeypatch):
    tape, _, _ = mlp()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(viz.GraphvizNotFound) as info:
        tape.render(tmp_path / "step.png")
    err = info.value
    assert isinstance(err, RuntimeError)
    dot_path = str(tmp_path / "step.dot")
    assert err.dot_path == dot_path and dot_path in str(err)
    assert "apt-get install graphviz" in str(err) and "brew install graphviz" in str(err)
    assert _read(dot_path) == tape.to_dot().source
    assert not (tmp_path / "step.png").exists()


def test_dot_vanishing_after_the_lookup_is_handled_too(tmp_path, monkeypatch):
    tape, _, _ = mlp()
    monkeypatch.setattr(viz.shutil, "which", lambda name: "/usr/bin/" + name)   # claims it exists
    monkeypatch.setenv("PATH", str(tmp_path))                                   # but it cannot run
    with pytest.raises(viz.GraphvizNotFound, match="was written to"):
        tape.render(tmp_path / "g.svg", collapse=True)
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_a_real_model_shows_parameter_names_and_layer_clusters():
    from tapegraph import nn
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(3)])
    x = tg.tensor(np.ones((4, 5)), name="x")
    model(x)                                       # builds and names the parameters
    with tg.Tape() as tape:
        y = model(x).sum()
    src = tape.to_dot(group="layer").source
    names = sorted(p.name for p in model.parameters())
    assert len(names) == 4 and all(n and n in src for n in names)
    layers = sorted({n.layer for n in tape if n.layer})
    clusters = sorted(c.strip('"') for c in re.findall(r"subgraph (\S+) \{", src))
    assert layers and all(f"cluster_{layer}" in clusters for layer in layers)
    boxes = [n for n in nodes(tape.to_dot(collapse=True).source) if n.startswith("layer")]
    assert len(boxes) == len(layers) == 3 and y.shape == ()
