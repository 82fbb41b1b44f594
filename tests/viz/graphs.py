"""Small tapes with known structure for the renderer, profiler and JSON tests (no nn needed: scopes by hand)."""
import re

import numpy as np

import tapegraph as tg
from tapegraph.tape import scope


def mlp(profile=False, persistent=False, seed=0):
    """x[8,16] -> fc1 (matmul, add, relu) -> fc2 (matmul) -> (o*o).mean() * 0.5: 7 ops, 3 parameters."""
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((8, 16)), name="x")
    w1 = tg.tensor(rng.standard_normal((16, 32)) * 0.1, requires_grad=True, name="fc1.weight")
    b1 = tg.tensor(np.zeros(32), requires_grad=True, name="fc1.bias")
    w2 = tg.tensor(rng.standard_normal((32, 10)) * 0.1, requires_grad=True, name="fc2.weight")
    with tg.Tape(profile=profile, persistent=persistent) as tape:
        with scope("fc1"):
            h = tg.relu(x @ w1 + b1)
        with scope("fc2"):
            o = h @ w2
        loss = (o * o).mean() * 0.5
    return tape, loss, (x, w1, b1, w2)


def deep(n_layers, ops_per_layer=3, width=4):
    """n_layers scoped layers of ``ops_per_layer`` ops each (a matmul with a named weight, then tanh/mul), + a loss."""
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal((2, width)), name="x")
    ws = [tg.tensor(rng.standard_normal((width, width)) * 0.3, requires_grad=True, name=f"layers.{i}.weight")
          for i in range(n_layers)]
    with tg.Tape() as tape:
        h = x
        for i, w in enumerate(ws):
            with scope("layers"), scope(str(i)):
                h = h @ w
                for _ in range(ops_per_layer - 2):
                    h = tg.tanh(h)
                h = h * 0.5
        loss = h.sum()
    return tape, loss


NODE = re.compile(r"^\s*([\w.\"]+) \[", re.M)
EDGE = re.compile(r"^\s*([\w.\"]+) -> ([\w.\"]+)", re.M)


def nodes(src):
    """Declared node names of a DOT source (graph/node/edge defaults excluded)."""
    return [n for n in NODE.findall(src) if n not in ("graph", "node", "edge")]


def edges(src):
    return EDGE.findall(src)


def label_of(src, name):
    m = re.search(rf"^\s*{re.escape(name)} \[label=(.*)$", src, re.M)
    assert m, f"no node {name} in the DOT source"
    return m.group(1)
