"""Weights on disk: an .npz archive of the state dict plus a format marker; no pickle, atomic replace on save."""
from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

FORMAT_KEY = "__tapegraph_format__"
FORMAT = "tapegraph-weights-1"


def _write_npz(fileobj, arrays: dict):
    """The writer (one place, so tests can interrupt it)."""
    np.savez(fileobj, **arrays)


def save_weights(module, path):
    """Write ``module.state_dict()`` to ``path`` (exactly that name; .npz format), atomically (see atomic_savez)."""
    arrays = {FORMAT_KEY: np.array(FORMAT)}
    for k, p in module.named_parameters():
        arrays[k] = p.data
    for k, b in module.named_buffers():
        arrays[k] = b
    atomic_savez(path, arrays)


def atomic_savez(path, arrays: dict):
    """Write ``arrays`` as an .npz archive to a temporary file in the same directory, then ``os.replace`` it over
    ``path``: an interrupted save leaves any previous file intact and no temporary file behind."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_weights(path) -> dict[str, np.ndarray]:
    """The state dict stored in ``path``; ValueError naming the file when it is not a readable tapegraph file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: no such file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"load_weights: {path} is not a tapegraph weights file ({type(e).__name__}: {e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"load_weights: {path} is a single .npy array, not a tapegraph weights file (.npz)")
    try:
        with data:
            if FORMAT_KEY not in data.files:
                raise ValueError(f"load_weights: {path} is an .npz archive without the {FORMAT_KEY!r} marker; "
                                 f"not written by tapegraph's save()")
            fmt = str(data[FORMAT_KEY])
            if fmt != FORMAT:
                raise ValueError(f"load_weights: {path} has format {fmt!r}, this version reads {FORMAT!r}")
            return {k: data[k] for k in data.files if k != FORMAT_KEY}
    except ValueError as e:
        if str(e).startswith("load_weights:"):
            raise
        raise ValueError(f"load_weights: cannot read {path} (truncated or corrupt?): {e}") from e
    except Exception as e:
        raise ValueError(f"load_weights: cannot read {path} (truncated or corrupt?): {type(e).__name__}: {e}") from e


def load_weights(module, path, strict: bool = True):
    """Load a file written by ``save`` into ``module`` (see ``Module.load_state_dict`` for ``strict``)."""
    return module.load_state_dict(read_weights(path), strict=strict)
