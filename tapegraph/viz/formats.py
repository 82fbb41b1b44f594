"""Output: ``render`` to .svg/.png/.pdf/.dot (or the graph object), what a Tape shows in Jupyter, and the plain
text stand-in when Graphviz's ``dot`` is missing. graphviz itself is imported when a graph is built (digraph.py).
"""
from __future__ import annotations

import os
import shutil

FORMATS = ("svg", "png", "pdf", "dot", "gv")
TAPE_COLLAPSE_OVER = 150   # a Tape shown in a notebook is drawn one box per layer beyond this many ops


class GraphvizNotFound(RuntimeError):
    """The ``dot`` program is missing; the graph's .dot source was written instead (``dot_path``)."""

    def __init__(self, message, dot_path):
        super().__init__(message)
        self.dot_path = dot_path


def mimebundle(svg, text, include=None, exclude=None) -> dict:
    """``{"image/svg+xml": ..., "text/plain": ...}`` as Jupyter asks (``svg`` is called only when wanted)."""
    def wanted(mime):
        return (include is None or mime in include) and (exclude is None or mime not in exclude)
    out = {}
    if wanted("image/svg+xml"):
        s = svg()
        if s is not None:
            out["image/svg+xml"] = s
    if wanted("text/plain"):
        out["text/plain"] = text
    return out


def tape_mimebundle(tape, include=None, exclude=None) -> dict:
    """What a ``Tape`` shows in Jupyter: its graph by layer (one box per layer beyond 150 ops) and its repr."""
    text = repr(tape)
    if not tape.nodes:
        return mimebundle(lambda: None, text, include, exclude)
    from .build import to_dot

    def svg():
        return to_dot(tape, group="layer", collapse=len(tape.nodes) > TAPE_COLLAPSE_OVER)._svg()
    return mimebundle(svg, text, include, exclude)


def render(tape_or_tensor, path=None, *, tape=None, **options):
    """Draw a tape, or the ops a tensor depends on; write it to ``path`` when given.

    ``render(tape, path)`` draws the whole tape; ``render(tensor, path, tape=tape)`` the sub-graph of ``tape``
    that ``tensor`` depends on, with ``tensor`` highlighted as the loss (inside a ``with Tape()`` block the
    innermost recording tape is used when ``tape`` is omitted). Other options go to ``to_dot``.

    ``path`` .svg, .png, .pdf (through Graphviz's ``dot``) or .dot/.gv (the source; needs no program): the file is
    written and ``path`` returned. Without the ``dot`` program the .dot source is written next to ``path`` and
    ``GraphvizNotFound`` is raised. ``path=None``: nothing is written and the ``TapeGraph`` is returned (it
    displays inline in Jupyter).
    """
    from ..tensor import Tensor
    from .build import to_dot

    if isinstance(tape_or_tensor, Tensor):
        if tape is None:
            from ..tape import _active
            active = _active.get()
            if not active:
                raise TypeError("render: a tensor does not know its tape; pass tape=... (render(loss, path, "
                                "tape=tape)) or call tape.render(path)")
            tape = active[-1]
        options["target"] = tape_or_tensor
        src = tape
    else:
        if tape is not None:
            raise TypeError("render: tape= is only for rendering a tensor; got a tape and tape=")
        src = tape_or_tensor
    if path is None:
        return to_dot(src, **options)
    fspath = os.fspath(path)
    suffix = os.path.splitext(fspath)[1].lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"render: cannot tell the format from {fspath!r}; use a .svg, .png, .pdf or .dot path")
    graph = to_dot(src, **options)
    if suffix in ("dot", "gv"):
        _write(fspath, graph.source.encode())
        return path
    if shutil.which("dot") is None:
        _missing_dot(graph, fspath)
    from .digraph import graphviz
    try:
        data = graph.pipe(format=suffix, quiet=True)
    except graphviz.ExecutableNotFound:
        _missing_dot(graph, fspath)
    _write(fspath, data)
    return path


def _missing_dot(graph, fspath):
    dot_path = os.path.splitext(fspath)[0] + ".dot"
    _write(dot_path, graph.source.encode())
    raise GraphvizNotFound(
        f"render: the Graphviz 'dot' program was not found on PATH, so {fspath!r} was not drawn; the graph's source "
        f"was written to {dot_path!r}. Install Graphviz (apt-get install graphviz / brew install graphviz / "
        f"https://graphviz.org/download/) and run: dot -T{os.path.splitext(fspath)[1].lstrip('.') or 'svg'} "
        f"{dot_path} -o {fspath}", dot_path)


def _write(path, data: bytes):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
