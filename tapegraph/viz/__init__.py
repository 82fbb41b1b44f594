"""The tape as pictures: a graphviz diagram of the ops (forward and backward), and matplotlib plots of training.

``to_dot(tape)`` returns a ``TapeGraph`` (a ``graphviz.Digraph`` that shows itself inline in Jupyter: SVG, or a
text listing without Graphviz's ``dot``); ``render(tape_or_tensor, path)`` writes .svg/.png/.pdf through ``dot``
(or .dot/.gv source, which needs no program) and returns ``path``; ``render(..., path=None)`` returns the graph.
Options:

* ``backward=True``  the backward pass too: one gradient node per op (edges reversed), a ``+`` node where a tensor's
  gradients are accumulated, dotted "saved" edges from each op to its gradient node with the saved arrays' sizes.
  With ``group="layer"`` each gradient node stays in its layer's cluster, beside its forward op.
* ``grad_stats=True`` each parameter's gradient gets its L2 norm and mean|g|/mean|w|; vanishing (norm < 1e-7) and
  exploding (norm > 1e3 or not finite) gradients are drawn blue / red. Reads the leaves' ``.grad``: draw after
  ``tape.backward(loss)`` and before ``zero_grad()`` (any tape; a released one keeps its parameters).
* ``group="layer"``  a cluster per module (nested by the dotted scope), titled ``layers.0 · Conv2D``.
* ``collapse=True``  one box per layer call (op count, op kinds, output shape, parameters inside); ``collapse=n``
  groups by the first ``n`` scope parts. Ops outside any module stay single.
* ``cost=True``      colour by profiled time (needs ``Tape(profile=True)``); darker is slower (square-root scale).
* ``max_nodes``      refuse (ValueError) to draw more than this many op/layer boxes.
* ``target``         a tensor: draw only the ops it depends on, and highlight it as the loss.

Inputs are labelled by ``Tensor.name`` (``images``); an unnamed one is ``input``, or ``labels``/``targets`` when
it is a loss's target. Only the tape's records are read; graphviz is imported when a graph is built, matplotlib
when a plot is made (``plot_history``, ``plot_grad_flow``; extra ``[plot]``).

Files: records.py (what to draw), style.py, build.py (forward + assembly), backward.py, gradients.py,
formats.py (render, Jupyter), digraph.py (TapeGraph), plots.py.
"""
import shutil  # noqa: F401  (tests patch viz.shutil.which)

from .build import to_dot
from .formats import GraphvizNotFound, render, tape_mimebundle
from .gradients import EXPLODING, VANISHING, grad_stats
from .plots import plot_grad_flow, plot_history
from .style import COST_PALETTE, FONT, GRAD_HEALTH, MUTED, STYLE, _mb  # noqa: F401

__all__ = ["to_dot", "render", "GraphvizNotFound", "plot_history", "plot_grad_flow", "grad_stats", "VANISHING",
           "EXPLODING", "STYLE", "COST_PALETTE", "GRAD_HEALTH", "tape_mimebundle"]


def __getattr__(name):
    if name == "TapeGraph":   # imports graphviz, so only on request
        from .digraph import TapeGraph
        return TapeGraph
    raise AttributeError(f"module 'tapegraph.viz' has no attribute {name!r}")
