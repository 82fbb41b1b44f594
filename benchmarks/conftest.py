"""Shared setup for the pytest-benchmark suites in benchmarks/ (not run by the default test command).

``pytest benchmarks/ --benchmark-only`` collects every ``bench_*.py`` here; a file named on the command line is
collected once, as usual. Fixtures: ``rng`` (a seeded generator) and ``torch`` (PyTorch with this machine's thread
count, or the test is skipped where it is not installed).
"""
import numpy as np
import pytest


def pytest_collect_file(file_path, parent):
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    from _bench_env import blas_threads
    torch.set_num_threads(blas_threads())
    return torch
