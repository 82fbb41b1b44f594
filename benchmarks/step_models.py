"""The models ``benchmarks/steps.py`` times, each written once per engine with the same architecture.

``make_step(engine, model, batch)`` returns a zero-argument callable that runs one whole step (forward, loss,
backward, SGD-with-momentum update; or one ``predict`` call for the inference entries). Only the engine asked for
is imported, so a process holds one engine's runtime and allocator state.

Models (all float32, 1x28x28 inputs, 10 classes, softmax cross-entropy from logits):

- ``mnist_cnn``: conv32(3x3)-relu-maxpool2-conv64(3x3)-relu-maxpool2-dense128-relu-dense10.
- ``mnist_cnn_predict``: the same network, inference only (tapegraph ``model.predict``, torch ``inference_mode``).
- ``lenet5``: conv6(5x5, pad 2)-sigmoid-avgpool2-conv16(5x5)-sigmoid-avgpool2-dense120-sigmoid-dense84-sigmoid-
  dense10.
- ``resnet_small``: conv16(3x3)-BN-relu, then 3 stages of two residual blocks (16/32/64 channels; the first block
  of stages 2 and 3 has stride 2 and a 1x1 conv + BN shortcut), global average pool, dense10.
- ``depthwise_block``: conv32(3x3)-BN-relu, depthwise 3x3-BN-relu, conv64(1x1)-BN-relu, depthwise 3x3 stride 2-BN-
  relu, conv128(1x1)-BN-relu, global average pool, dense10 (a MobileNet block pair).
- ``conv_transpose_decoder``: conv16(3x3, stride 2)-relu-conv32(3x3, stride 2)-relu, then two 3x3 stride-2
  transposed convs (16, 1 channels) back to 1x28x28; mean squared error against the input.
Both are listed only when tapegraph has the layers (see ``available``).
"""
from __future__ import annotations

import numpy as np

MODELS = ("mnist_cnn", "mnist_cnn_predict", "lenet5", "resnet_small", "depthwise_block", "conv_transpose_decoder")


def available(model: str) -> bool:
    """Whether tapegraph in this checkout has what ``model`` needs."""
    import importlib
    if model == "depthwise_block":
        nn = importlib.import_module("tapegraph.nn")
        return hasattr(nn, "DepthwiseConv2D")
    if model == "conv_transpose_decoder":
        nn = importlib.import_module("tapegraph.nn")
        return hasattr(nn, "Conv2DTranspose")
    return model in MODELS


def batch_data(batch: int):
    rng = np.random.default_rng(0)
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


# -- tapegraph ---------------------------------------------------------------------------------------------------
def _tg_models():
    import tapegraph as tg
    from tapegraph import nn

    def mnist_cnn():
        return nn.Sequential([
            nn.Conv2D(32, 3), nn.ReLU(), nn.MaxPool2D(2),
            nn.Conv2D(64, 3), nn.ReLU(), nn.MaxPool2D(2),
            nn.Flatten(), nn.Dense(128), nn.ReLU(), nn.Dense(10),
        ], input_shape=(1, 28, 28))

    def lenet5():
        return nn.Sequential([
            nn.Conv2D(6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2D(2),
            nn.Conv2D(16, 5), nn.Sigmoid(), nn.AvgPool2D(2),
            nn.Flatten(), nn.Dense(120), nn.Sigmoid(), nn.Dense(84), nn.Sigmoid(), nn.Dense(10),
        ], input_shape=(1, 28, 28))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2D(cout, 3, strides=stride, padding=1, use_bias=False)
            self.bn1 = nn.BatchNorm()
            self.conv2 = nn.Conv2D(cout, 3, padding=1, use_bias=False)
            self.bn2 = nn.BatchNorm()
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential([nn.Conv2D(cout, 1, strides=stride, use_bias=False), nn.BatchNorm()])

        def forward(self, x):
            y = tg.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return tg.relu(y + (x if self.short is None else self.short(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential([nn.Conv2D(16, 3, padding=1, use_bias=False), nn.BatchNorm(), nn.ReLU()])
            blocks, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.blocks = nn.Sequential(blocks)
            self.head = nn.Dense(10)

        def forward(self, x):
            return self.head(tg.mean(self.blocks(self.stem(x)), axis=(2, 3)))

    class DepthwiseBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential([
                nn.Conv2D(32, 3, padding=1, use_bias=False), nn.BatchNorm(), nn.ReLU(),
                nn.DepthwiseConv2D(3, padding=1, use_bias=False), nn.BatchNorm(), nn.ReLU(),
                nn.Conv2D(64, 1, use_bias=False), nn.BatchNorm(), nn.ReLU(),
                nn.DepthwiseConv2D(3, strides=2, padding=1, use_bias=False), nn.BatchNorm(), nn.ReLU(),
                nn.Conv2D(128, 1, use_bias=False), nn.BatchNorm(), nn.ReLU()])
            self.head = nn.Dense(10)

        def forward(self, x):
            return self.head(tg.mean(self.body(x), axis=(2, 3)))

    def decoder():
        return nn.Sequential([
            nn.Conv2D(16, 3, strides=2, padding=1), nn.ReLU(), nn.Conv2D(32, 3, strides=2, padding=1), nn.ReLU(),
            nn.Conv2DTranspose(16, 3, strides=2, padding="same"), nn.ReLU(),
            nn.Conv2DTranspose(1, 3, strides=2, padding="same")], input_shape=(1, 28, 28))

    return {"mnist_cnn": mnist_cnn, "mnist_cnn_predict": mnist_cnn, "lenet5": lenet5, "resnet_small": ResNet,
            "depthwise_block": DepthwiseBlock, "conv_transpose_decoder": decoder}


def _loss(model, out, x, y):
    """Softmax cross-entropy from logits; the decoder reconstructs its input (mean squared error)."""
    from tapegraph import losses
    if model == "conv_transpose_decoder":
        return losses.mean_squared_error(out, x)
    return losses.categorical_crossentropy(out, y, from_logits=True)


def _tg_step(model: str, batch: int):
    import tapegraph as tg
    from tapegraph import optim

    tg.manual_seed(0)
    net = _tg_models()[model]()
    x, y = batch_data(batch)
    if model.endswith("_predict"):
        return lambda: net.predict(x, batch_size=batch)
    net(x[:2])                                            # build lazily-shaped layers before the optimizer
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step():
        with tg.Tape() as tape:
            loss = _loss(model, net(x), x, y)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()
    return step


def tg_profile(model: str, batch: int, warmup: int = 2):
    """A ``Tape(profile=True)`` of one training step of ``model``, after ``warmup`` unprofiled steps."""
    import tapegraph as tg
    from tapegraph import optim

    tg.manual_seed(0)
    net = _tg_models()[model]()
    x, y = batch_data(batch)
    net(x[:2])
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for i in range(warmup + 1):
        with tg.Tape(profile=i == warmup) as tape:
            loss = _loss(model, net(x), x, y)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()
    return tape


# -- torch -------------------------------------------------------------------------------------------------------
def _torch_models():
    import torch
    tnn = torch.nn

    def mnist_cnn():
        return tnn.Sequential(tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(32, 64, 3), tnn.ReLU(),
                              tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(1600, 128), tnn.ReLU(), tnn.Linear(128, 10))

    def lenet5():
        return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.Sigmoid(), tnn.AvgPool2d(2),
                              tnn.Conv2d(6, 16, 5), tnn.Sigmoid(), tnn.AvgPool2d(2), tnn.Flatten(),
                              tnn.Linear(400, 120), tnn.Sigmoid(), tnn.Linear(120, 84), tnn.Sigmoid(),
                              tnn.Linear(84, 10))

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.short is None else self.short(x)))

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Sequential(tnn.Conv2d(1, 16, 3, 1, 1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU())
            blocks, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.blocks = tnn.Sequential(*blocks)
            self.head = tnn.Linear(64, 10)

        def forward(self, x):
            return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))

    class DepthwiseBlock(tnn.Module):
        def __init__(self):
            super().__init__()

            def cbr(cin, cout, k, stride=1, groups=1):
                return [tnn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), tnn.BatchNorm2d(cout),
                        tnn.ReLU()]
            self.body = tnn.Sequential(*cbr(1, 32, 3), *cbr(32, 32, 3, groups=32), *cbr(32, 64, 1),
                                       *cbr(64, 64, 3, 2, groups=64), *cbr(64, 128, 1))
            self.head = tnn.Linear(128, 10)

        def forward(self, x):
            return self.head(self.body(x).mean(dim=(2, 3)))

    def decoder():
        return tnn.Sequential(tnn.Conv2d(1, 16, 3, 2, 1), tnn.ReLU(), tnn.Conv2d(16, 32, 3, 2, 1), tnn.ReLU(),
                              tnn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=1), tnn.ReLU(),
                              tnn.ConvTranspose2d(16, 1, 3, 2, 1, output_padding=1))

    return {"mnist_cnn": mnist_cnn, "mnist_cnn_predict": mnist_cnn, "lenet5": lenet5, "resnet_small": ResNet,
            "depthwise_block": DepthwiseBlock, "conv_transpose_decoder": decoder}


def _torch_step(model: str, batch: int):
    import torch
    torch.manual_seed(0)
    net = _torch_models()[model]()
    x, y = batch_data(batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    if model.endswith("_predict"):
        net.eval()

        def predict():
            with torch.inference_mode():
                return net(xt).numpy()
        return predict
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    lossf = torch.nn.MSELoss() if model == "conv_transpose_decoder" else torch.nn.CrossEntropyLoss()
    if model == "conv_transpose_decoder":
        yt = xt

    def step():
        loss = lossf(net(xt), yt)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return step


def make_step(engine: str, model: str, batch: int):
    if engine == "tapegraph":
        return _tg_step(model, batch)
    if engine == "torch":
        return _torch_step(model, batch)
    raise ValueError(f"make_step: unknown engine {engine!r}; expected 'tapegraph' or 'torch'")
