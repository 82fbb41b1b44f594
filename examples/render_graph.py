"""Draw one training step of the MNIST CNN (examples/mnist.py) from its tape, three ways.

    python examples/render_graph.py --out graphs          # SVG
    python examples/render_graph.py --out graphs --png    # SVG and PNG

Writes into OUT:
  mnist_forward_layers.svg   the forward ops, one cluster per layer (parameters by name, shapes on the edges)
  mnist_backward_cost.svg    forward and backward, coloured by measured time (darker is slower)
  mnist_collapsed.svg        one box per layer call, with the backward pass and its cost
Without Graphviz's `dot` program the .dot sources are written instead (render them later with `dot -Tsvg`).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys

import tapegraph as tg
from tapegraph import losses, optim

if __package__:
    from .mnist import build_model, load
else:  # run as a script: examples/ is sys.path[0]
    from mnist import build_model, load

VIEWS = {  # file name: (title, render options)
    "mnist_forward_layers": ("forward pass by layer", dict(group="layer")),
    "mnist_backward_cost": ("forward and backward, by measured time", dict(backward=True, cost=True)),
    "mnist_collapsed": ("one box per layer call", dict(collapse=True, backward=True, cost=True)),
}


def record_step(batch_size: int, seed: int = 0):
    """A profiled tape of one SGD step of a fresh MNIST CNN on the first ``batch_size`` sample images (after one
    unrecorded warm-up step, so that the timings are not first-call costs)."""
    tg.manual_seed(seed)
    (x, y), _ = load(None)
    x, y = tg.tensor(x[:batch_size], name="images"), tg.tensor(y[:batch_size], name="labels")
    model = build_model()
    loss_fn = functools.partial(losses.categorical_crossentropy, from_logits=True)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for profile in (False, True):
        with tg.Tape(profile=profile) as tape:
            loss = loss_fn(model(x), y)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()
    return tape


def render_all(tape, out_dir, formats=("svg",)):
    """Render every view in each format; returns (paths written, True if Graphviz was missing)."""
    written, missing = [], False
    for name, (title, options) in VIEWS.items():
        for fmt in formats:
            path = os.path.join(out_dir, f"{name}.{fmt}")
            try:
                written.append(tape.render(path, title=f"MNIST CNN, one training step: {title}", **options))
            except tg.GraphvizNotFound as e:
                missing = True
                if e.dot_path not in written:
                    written.append(e.dot_path)
    return written, missing


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out", help="output folder (default: ./out)")
    ap.add_argument("--png", action="store_true", help="write PNG images as well as SVG")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    tape = record_step(args.batch_size, args.seed)
    os.makedirs(args.out, exist_ok=True)
    written, missing = render_all(tape, args.out, ("svg", "png") if args.png else ("svg",))
    if missing:
        print("render_graph.py: Graphviz's `dot` program was not found, so only the .dot sources were written; "
              "install Graphviz (apt-get install graphviz / brew install graphviz) and run e.g. "
              f"`dot -Tsvg {written[0]} -o {os.path.splitext(written[0])[0]}.svg`", file=sys.stderr)
    print(f"one training step, {len(tape)} ops:")
    for path in written:
        print(f"  {path}")
    tape.summary(top=5)
    return written


if __name__ == "__main__":
    main()
