"""Whole training steps of the MNIST CNN (conv32-relu-pool-conv64-relu-pool-dense128-relu-dense10, softmax
cross-entropy, SGD with momentum) in tapegraph and in PyTorch, same architecture, same thread count, same run.

Both engines share this pytest process: torch's OpenMP pool and OpenBLAS's threads then contend, and torch runs
under whatever allocator settings the process has, so these ratios are indicative only. Compare engines with
``benchmarks/steps.py`` (one process per engine and repeat; README "Performance").

    python -m pytest benchmarks/bench_train_step.py --benchmark-only --benchmark-group-by=param:batch
"""
import numpy as np
import pytest

import tapegraph as tg
from step_models import _tg_models
from tapegraph import losses, optim

BATCHES = [64, 256]


mnist_cnn = _tg_models()["mnist_cnn"]                  # the model steps.py times (benchmarks/step_models.py)


def batch_data(batch):
    rng = np.random.default_rng(0)
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


@pytest.mark.parametrize("batch", BATCHES)
def test_step_tapegraph(benchmark, batch):
    tg.manual_seed(0)
    model = mnist_cnn()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = batch_data(batch)

    def step():
        with tg.Tape() as tape:
            loss = losses.categorical_crossentropy(model(x), y, from_logits=True)
        tape.backward(loss)
        opt.step()
        opt.zero_grad()

    benchmark.group = f"MNIST CNN training step, batch {batch}"
    benchmark.extra_info.update(impl="tapegraph", label="tapegraph", batch=batch)
    benchmark.pedantic(step, rounds=15, warmup_rounds=3)


@pytest.mark.parametrize("batch", BATCHES)
def test_step_torch(benchmark, batch):
    torch = pytest.importorskip("torch")
    from _bench_env import blas_threads
    torch.set_num_threads(blas_threads())
    torch.manual_seed(0)
    tnn = torch.nn
    model = tnn.Sequential(tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(32, 64, 3), tnn.ReLU(),
                           tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(1600, 128), tnn.ReLU(), tnn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = batch_data(batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    lossf = tnn.CrossEntropyLoss()

    def step():
        loss = lossf(model(xt), yt)
        loss.backward()
        opt.step()
        opt.zero_grad()

    benchmark.group = f"MNIST CNN training step, batch {batch}"
    benchmark.extra_info.update(impl="torch", label=f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
                                batch=batch)
    benchmark.pedantic(step, rounds=15, warmup_rounds=3)
