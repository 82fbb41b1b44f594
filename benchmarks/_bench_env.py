"""Facts about the machine a benchmark ran on, for the report header (and torch's thread count)."""
from __future__ import annotations

import os

import numpy as np


def blas_threads() -> int:
    """Threads numpy's BLAS uses: OPENBLAS_NUM_THREADS/OMP_NUM_THREADS if set, else the CPUs this process may use."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine_info() -> dict:
    info = {"cores": blas_threads(), "numpy": np.__version__}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # show_config's layout differs across numpy versions
        pass
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        info["blas"] = info.get("blas", "OpenBLAS") + f" (OPENBLAS_CORETYPE={coretype})"
    try:
        import torch
        info["torch"] = f"{torch.__version__}"
    except ImportError:
        pass
    return info
