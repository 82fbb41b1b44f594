"""Regenerate the README's graph images: python docs/make_images.py (needs Graphviz's `dot`)."""
import os

import numpy as np

import tapegraph as tg
from tapegraph import losses, nn

HERE = os.path.dirname(os.path.abspath(__file__))


def mnist_step():
    """One training step of the MNIST CNN from DESIGN.md at batch 64, recorded with profiling."""
    tg.manual_seed(0)
    model = nn.Sequential([
        nn.Conv2D(32, 3, padding="same"), nn.ReLU(), nn.MaxPool2D(2),
        nn.Conv2D(64, 3), nn.ReLU(), nn.MaxPool2D(2),
        nn.Flatten(), nn.Dense(128), nn.ReLU(), nn.Dropout(0.5), nn.Dense(10),
    ])
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((64, 1, 28, 28), dtype=np.float32), name="images")
    y = tg.tensor(rng.integers(0, 10, 64), name="labels")
    model(x)                                   # build the parameters (their names come with the first call)
    with tg.Tape(profile=True, persistent=True) as tape:
        loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
    tape.backward(loss)
    return tape


if __name__ == "__main__":
    tape = mnist_step()
    for ext in ("svg", "png"):
        tape.render(os.path.join(HERE, f"mnist_step.{ext}"), group="layer", title="MNIST CNN: one training step")
        tape.render(os.path.join(HERE, f"mnist_step_backward.{ext}"), backward=True, cost=True,
                    title="MNIST CNN: forward and backward, coloured by profiled time")
    tape.summary()
