"""Shared setup for the pytest-benchmark suites in benchmarks/ (not run by the default test command).

``pytest benchmarks/ --benchmark-only`` collects every ``bench_*.py`` here; a file named on the command line is
collected once, as usual. Benchmarks that share a parametrization (one function per implementation) run back to
back, so a noisy spell on a shared machine hits every implementation of a group alike. Fixtures: ``rng`` (a seeded generator) and ``torch`` (PyTorch with this machine's thread
count, or the test is skipped where it is not installed).
"""
import numpy as np
import pytest


def pytest_collect_file(file_path, parent):
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(session, config, items):
    """Interleave implementations: order bench_* items by the first appearance of their (file, parameter id)."""
    first = {}

    def key(item):
        callspec = getattr(item, "callspec", None)
        return first.setdefault((str(item.path), callspec.id if callspec else item.name), len(first))

    bench = [i for i, item in enumerate(items) if item.path.name.startswith("bench_")]
    ordered = sorted((items[i] for i in bench), key=key)                 # stable: functions keep their order
    for i, item in zip(bench, ordered):
        items[i] = item


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    from _bench_env import blas_threads
    torch.set_num_threads(blas_threads())
    return torch


def pytest_benchmark_update_machine_info(config, machine_info):
    """Cores, BLAS (and its forced core type, if any), numpy and torch versions, for benchmarks/report.py."""
    from _bench_env import machine_info as facts
    machine_info.update(facts())
