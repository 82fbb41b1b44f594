"""Weights on disk: an .npz archive of the state dict plus a format marker; no pickle, atomic replace on save.

``load_weights`` also reads the model part of a checkpoint written by ``fit(checkpoint=...)``."""
from __future__ import annotations

import contextlib
import json
import os
import threading

import numpy as np

FORMAT_KEY = "__tapegraph_format__"
FORMAT = "tapegraph-weights-1"


CHECKPOINT_FORMATS = ("tapegraph-checkpoint-1", "tapegraph-checkpoint-2")   # written by fit(checkpoint=)


def _checkpoint_format(meta) -> str | None:
    """The "format" of a checkpoint's JSON meta array, or None when it is not one."""
    try:
        if meta.dtype.kind != "U" or meta.ndim != 0:
            return None
        value = json.loads(str(meta))
    except (ValueError, RecursionError):
        return None
    return value.get("format") if isinstance(value, dict) else None


def _write_npz(fileobj, arrays: dict):
    """The writer (one place, so tests can interrupt it)."""
    np.savez(fileobj, **arrays)


def module_arrays(module, prefix: str = "") -> dict:
    """``prefix + dotted name`` -> every parameter's and buffer's live array (no copies: written out at once)."""
    arrays = {prefix + k: p.data for k, p in module.named_parameters()}
    arrays.update((prefix + k, b) for k, b in module.named_buffers())
    return arrays


def save_weights(module, path):
    """Write ``module.state_dict()`` to ``path`` (exactly that name; .npz format), atomically (see atomic_savez)."""
    arrays = {FORMAT_KEY: np.array(FORMAT), **module_arrays(module)}
    atomic_savez(path, arrays, who=f"{type(module).__name__}.save")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True                                     # exists (another user's process) or cannot tell: keep
    return True


def _remove_stale_temporaries(folder: str, base: str):
    """Delete ``.<base>.tmp-<pid>-<tid>`` files left by a save whose process is gone (killed mid-write)."""
    prefix = f".{base}.tmp-"
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


def fspath(path, who: str) -> str:
    """os.fspath with an error naming ``who`` (``save(None)`` says which call wanted a path)."""
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{who}: path must be a str or os.PathLike, got {type(path).__name__} {path!r}") from None


def atomic_savez(path, arrays: dict, who: str = "save"):
    """Write ``arrays`` as an .npz archive to ``.<name>.tmp-<pid>-<thread>`` in the same directory, then
    ``os.replace`` it over ``path``: an interrupted save leaves any previous file intact. A temporary left by a
    process that was killed (SIGKILL: no cleanup ran) is removed by the next save to the same path. The file is
    created with mode 0o666 minus the umask, as ``np.savez`` would."""
    path = fspath(path, who)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path!r} is a directory; pass a file path such as "
                                f"{os.path.join(path, 'model.npz')!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: cannot write {path!r}: the folder {folder!r} does not exist")
    base = os.path.basename(path)
    _remove_stale_temporaries(folder, base)
    tmp = os.path.join(folder, f".{base}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
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
    path = fspath(path, "load_weights")
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: no such file: {path}")
    try:
        f = open(path, "rb")
    except OSError as e:                                # a directory, no permission
        raise ValueError(f"load_weights: {path} is not a tapegraph weights file ({type(e).__name__}: {e})") from e
    with f:                                             # closed on every path (np.load(path) leaks it on a bad zip)
        return _read_weights(f, path)


def _read_weights(f, path) -> dict[str, np.ndarray]:
    """read_weights from the open file ``f``."""
    try:
        data = np.load(f, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"load_weights: {path} is not a tapegraph weights file ({type(e).__name__}: {e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"load_weights: {path} is a single .npy array, not a tapegraph weights file (.npz)")
    try:
        with data:
            if FORMAT_KEY not in data.files and "meta" in data.files:
                fmt = _checkpoint_format(data["meta"])
                if fmt in CHECKPOINT_FORMATS:             # a fit checkpoint: its model part
                    return {k[len("model/"):]: data[k] for k in data.files if k.startswith("model/")}
            if FORMAT_KEY not in data.files:
                raise ValueError(f"load_weights: {path} is an .npz archive without the {FORMAT_KEY!r} marker; "
                                 f"not written by tapegraph's save() or fit(checkpoint=)")
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
