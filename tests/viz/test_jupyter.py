"""Notebook display: TapeGraph/Tape mime bundles with and without `dot`, render(path=None), and the tour notebook."""
import os
import shutil

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import viz

from .graphs import mlp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")


def no_dot(monkeypatch, tmp_path):
    """PATH without the `dot` program (as the missing-dot render tests do)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_render_without_a_path_returns_the_graph_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tape, loss, _ = mlp()
    g = tg.render(loss, tape=tape)
    assert isinstance(g, viz.TapeGraph) and isinstance(g, __import__("graphviz").Digraph)
    assert g.source == tape.to_dot(target=loss).source
    assert tape.render(group="layer").source == tape.to_dot(group="layer").source
    assert os.listdir(tmp_path) == []
    assert tape.render(tmp_path / "g.dot") == tmp_path / "g.dot"          # with a path: writes, returns it


@needs_dot
def test_graph_and_tape_show_svg_in_jupyter():
    tape, _, _ = mlp()
    g = tape.to_dot()
    bundle = g._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg")) and "matmul" in bundle["image/svg+xml"]
    assert "matmul" in bundle["text/plain"]
    assert g._repr_svg_() == bundle["image/svg+xml"]
    assert set(g._repr_mimebundle_(include=["text/plain"])) == {"text/plain"}
    assert set(g._repr_mimebundle_(exclude=["text/plain"])) == {"image/svg+xml"}
    tb = tape._repr_mimebundle_()
    assert "fc1.weight" in tb["image/svg+xml"] and "fc1" in tb["image/svg+xml"]
    assert tb["text/plain"] == repr(tape)


def test_without_dot_the_notebook_shows_readable_text(tmp_path, monkeypatch):
    tape, _, _ = mlp()
    no_dot(monkeypatch, tmp_path)
    g = tape.to_dot()
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"text/plain"} and g._repr_svg_() is None
    text = bundle["text/plain"]
    assert "Graphviz" in text and "7 of 7 ops" in text
    assert "matmul(float32[8, 16], float32[16, 32]) -> float32[8, 32] in fc1" in text
    tb = tape._repr_mimebundle_()
    assert tb == {"text/plain": repr(tape)}
    assert tg.Tape()._repr_mimebundle_() == {"text/plain": repr(tg.Tape())}


def test_a_large_tape_is_shown_collapsed(monkeypatch):
    from tests.viz.graphs import deep
    from tapegraph.viz import formats
    tape, _ = deep(60, ops_per_layer=3)
    seen = {}
    real = viz.to_dot

    def spy(t, **options):
        seen.update(options)
        return real(t, **options)
    monkeypatch.setattr("tapegraph.viz.build.to_dot", spy)
    formats.tape_mimebundle(tape, include=["image/svg+xml"])
    assert seen == {"group": "layer", "collapse": True}


# -- the tour notebook -------------------------------------------------------------------------------------------
def test_tour_notebook_runs_headless_and_shows_svg():
    for mod in ("nbformat", "nbconvert", "ipykernel"):
        pytest.importorskip(mod, reason=f"{mod} missing: pip install -e \".[notebook]\"")
    pytest.importorskip("matplotlib", reason="matplotlib missing: pip install -e \".[plot]\"")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' not installed (the notebook's graphs are SVG)")
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(os.path.join(ROOT, "examples", "tour.ipynb"), as_version=4)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    old = dict(os.environ)
    os.environ.update(env)
    try:
        ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(nb, {"metadata": {"path": ROOT}})
    finally:
        os.environ.clear()
        os.environ.update(old)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    svgs = [o["data"]["image/svg+xml"] for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 2 and all("<svg" in s for s in svgs)
    assert "layers.0 · Conv2D" in svgs[0] and "images" in svgs[0] and "labels" in svgs[0]
    assert "∇" in svgs[1] and "‖g‖" in svgs[1]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 2                                   # the curves and the gradient-flow plot
    assert any("tape profile" in o.get("text", "") for o in outputs)
