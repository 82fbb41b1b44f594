"""``TapeGraph``: the ``graphviz.Digraph`` that ``to_dot`` returns, displayed inline by Jupyter."""
from __future__ import annotations

import shutil

try:
    import graphviz
except ImportError as e:  # pragma: no cover - graphviz is a declared dependency
    raise ImportError("tapegraph.viz needs the graphviz Python package: pip install graphviz") from e

from .formats import mimebundle


class TapeGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that shows itself in Jupyter: SVG when ``dot`` runs, else ``text_fallback``
    (one line per op). ``.source`` is the DOT text, ``.pipe(format=...)`` the rendered bytes."""

    text_fallback = ""

    def _svg(self):
        """The SVG text, or None when ``dot`` is not installed (or cannot run)."""
        if shutil.which("dot") is None:
            return None
        try:
            return self.pipe(format="svg", encoding="utf-8", quiet=True)
        except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
            return None

    def _repr_svg_(self):
        return self._svg()

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        return mimebundle(self._svg, self.text_fallback or self.source, include, exclude)
