"""The idx format of MNIST and Fashion-MNIST: a big-endian header (magic ``0x0000 08 nd``, then ``nd`` uint32 sizes)
followed by the uint8 payload, optionally gzip-compressed."""
from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

_KINDS = {1: "labels", 3: "images"}


def _describe(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims) + " " + _KINDS.get(len(dims), f"{len(dims)}-d arrays")


def _read_exact(f, buf: memoryview) -> int:
    """Fill ``buf`` from ``f``; returns the number of bytes read (less than ``len(buf)`` at end of file)."""
    got = 0
    while got < len(buf):
        n = f.readinto(buf[got:])
        if not n:
            break
        got += n
    return got


def _remaining(f) -> int:
    n = 0
    while chunk := f.read(1 << 20):
        n += len(chunk)
    return n


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """Read one idx file (raw or gzip, told apart by its first bytes) into a writable uint8 array.

    Validates the magic number (``0x00000801`` labels, ``0x00000803`` images; only the uint8 type ``0x08`` is
    accepted), ``ndim`` when given, and the exact file length. Any defect raises ValueError naming the file.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
        if is_gzip:  # the gzip trailer holds the decompressed size mod 2**32: check it before allocating
            raw.seek(max(os.fstat(raw.fileno()).st_size - 4, 0))
            size_hint = int.from_bytes(raw.read(4), "little")
        else:
            size_hint = os.fstat(raw.fileno()).st_size
    f = gzip.open(path, "rb") if is_gzip else open(path, "rb")
    try:
        with f:
            head = f.read(4)
            if len(head) < 4:
                raise ValueError(f"{name}: file too short for an idx header ({len(head)} bytes)")
            magic = int.from_bytes(head, "big")
            if head[:2] != b"\0\0" or head[2] != 0x08 or head[3] not in _KINDS:
                raise ValueError(f"{name}: bad idx magic number 0x{magic:08x}; expected 0x00000801 (labels) or "
                                 "0x00000803 (images) of unsigned bytes")
            nd = head[3]
            if ndim is not None and nd != ndim:
                raise ValueError(f"{name}: holds {_KINDS[nd]} (magic 0x{magic:08x}); expected {_KINDS[ndim]} "
                                 f"(magic 0x{0x800 + ndim:08x})")
            size_bytes = f.read(4 * nd)
            if len(size_bytes) < 4 * nd:
                raise ValueError(f"{name}: file ends inside the idx header ({4 + len(size_bytes)} bytes)")
            dims = tuple(int(d) for d in np.frombuffer(size_bytes, ">u4"))
            header = 4 + 4 * nd
            expected = header + math.prod(dims)
            if size_hint != (expected % 2**32 if is_gzip else expected):
                got = header + _remaining(f) if is_gzip else size_hint
            else:
                out = np.empty(dims, np.uint8)
                got = header + _read_exact(f, memoryview(out.reshape(-1)))
                if got == expected:
                    got += _remaining(f)  # also reaches the gzip trailer, so its CRC gets checked
            if got != expected:
                raise ValueError(f"{name}: expected {expected} bytes for {_describe(dims)}, got {got}"
                                 + (" (truncated)" if got < expected else " (trailing data)"))
    except (OSError, EOFError, zlib.error) as e:
        if not is_gzip or isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{name}: corrupt gzip file ({e})") from None
    return out
