"""Regenerate the README's pictures: python docs/make_images.py (needs Graphviz's `dot`; matplotlib for the plots).

mnist_step            one training step of the MNIST CNN, forward ops clustered by layer
mnist_step_backward   the same step with its backward pass, coloured by profiled time
mnist_grad_flow       forward and backward by layer, each parameter gradient's norm and |g|/|w|
mnist_grad_flow_plot  per-layer gradient norms of that step (bar chart)
mnist_exploding       the gradient-flow graph of a small MLP whose weights were scaled up (red = exploding,
                      blue = vanishing)
mnist_curves          loss and accuracy over 4 epochs on 2,000 sample images, train vs validation
"""
import functools
import os

import tapegraph as tg
from tapegraph import losses, nn, optim

HERE = os.path.dirname(os.path.abspath(__file__))


def mnist_model(**kw):
    return nn.Sequential([
        nn.Conv2D(32, 3, padding="same"), nn.ReLU(), nn.MaxPool2D(2),
        nn.Conv2D(64, 3), nn.ReLU(), nn.MaxPool2D(2),
        nn.Flatten(), nn.Dense(128), nn.ReLU(), nn.Dropout(0.5), nn.Dense(10),
    ], **kw)


def mnist_step():
    """One training step of the MNIST CNN from DESIGN.md at batch 64 of sample images, recorded with profiling."""
    tg.manual_seed(0)
    model = mnist_model()
    (x, y), _ = tg.data.load_mnist(dtype="float32")
    x = tg.tensor((x[:64] - tg.data.MNIST_MEAN) / tg.data.MNIST_STD, name="images")
    y = tg.tensor(y[:64], name="labels")
    model(x)                                   # build the parameters (their names come with the first call)
    with tg.Tape() as warm:                    # one unrecorded-for-the-picture step: no first-call costs
        warm_loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
    warm.backward(warm_loss)
    model.zero_grad()
    with tg.Tape(profile=True, persistent=True) as tape:
        loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
    tape.backward(loss)
    return tape, model, loss


def exploding_step():
    """A 4-layer ReLU MLP whose first layer is scaled by 1e-9 and last by 1e5: the gradient explodes at the first
    layer's weights (the large last layer multiplies it) and vanishes at the later layers' weights (their inputs
    are nearly zero)."""
    tg.manual_seed(0)
    model = nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(32), nn.ReLU(), nn.Dense(32), nn.ReLU(), nn.Dense(10)])
    (x, y), _ = tg.data.load_mnist(dtype="float32")
    x = tg.tensor(x[:32].reshape(32, -1), name="images")
    y = tg.tensor(y[:32], name="labels")
    model(x)
    model.layers[0].weight.data *= 1e-9
    model.layers[6].weight.data *= 1e5
    with tg.Tape() as tape:
        loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
    tape.backward(loss)
    return tape, model, loss


def curves():
    tg.manual_seed(0)
    (x, y), (xt, yt) = tg.data.load_mnist(dtype="float32")
    norm = lambda a: (a - tg.data.MNIST_MEAN) / tg.data.MNIST_STD  # noqa: E731
    model = mnist_model(input_shape=(1, 28, 28))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = functools.partial(losses.categorical_crossentropy, from_logits=True)
    return model.fit(norm(x[:2000]), y[:2000], loss=loss_fn, optimizer=opt, epochs=4,
                     batch_size=64, validation_data=(norm(xt[:500]), yt[:500]), verbose=0)


if __name__ == "__main__":
    tape, model, loss = mnist_step()
    for ext in ("svg", "png"):
        tape.render(os.path.join(HERE, f"mnist_step.{ext}"), group="layer", title="MNIST CNN: one training step")
        tape.render(os.path.join(HERE, f"mnist_step_backward.{ext}"), backward=True, cost=True,
                    title="MNIST CNN: forward and backward, coloured by profiled time")
        tape.render(os.path.join(HERE, f"mnist_grad_flow.{ext}"), group="layer", backward=True, grad_stats=True,
                    title="MNIST CNN: gradient flow (each parameter's ‖g‖ and |g|/|w|)")
    tg.viz.plot_grad_flow(model, os.path.join(HERE, "mnist_grad_flow_plot.png"))
    bad, bad_model, bad_loss = exploding_step()
    bad.render(os.path.join(HERE, "mnist_exploding.png"), group="layer", backward=True, grad_stats=True,
               title="A badly scaled MLP: exploding (red) and vanishing (blue) gradients")
    tg.viz.plot_grad_flow(bad_model, os.path.join(HERE, "mnist_exploding_plot.png"))
    history = curves()
    print(history)
    history.plot(os.path.join(HERE, "mnist_curves.png"))
    tape.summary()
