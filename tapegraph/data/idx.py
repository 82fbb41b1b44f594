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


_TRAILING_CAP = 64 << 20   # decompress at most this much trailing data just to count it


def _count_rest(f, cap: int) -> tuple[int, bool]:
    """Bytes left in ``f``, read and dropped, counting at most ``cap``; (count, True when there is more)."""
    n = 0
    while n <= cap:
        piece = f.read(1 << 20)
        if not piece:
            return n, False
        n += len(piece)
    return n, True


def _read_bounded(f, limit: int, chunk: int = 1 << 22) -> tuple[bytearray, int]:
    """Up to ``limit`` bytes from ``f`` into a bytearray that grows only as data arrives (never ``limit`` up front);
    returns (buffer, bytes read). Reads past ``limit`` are not done."""
    buf = bytearray()
    while len(buf) < limit:
        piece = f.read(min(chunk, limit - len(buf)))
        if not piece:
            break
        buf += piece
    return buf, len(buf)


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """Read one idx file (raw or gzip, told apart by its first bytes) into a writable uint8 array.

    Validates the magic number (``0x00000801`` labels, ``0x00000803`` images; only the uint8 type ``0x08`` is
    accepted), ``ndim`` when given, and the exact file length. Any defect raises ValueError naming the file.
    """
    if ndim is not None and (isinstance(ndim, bool) or ndim not in _KINDS):
        raise ValueError(f"read_idx: ndim must be 1 (labels), 3 (images) or None, got {ndim!r}")
    path = os.fspath(path)
    name = os.path.basename(path)
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
        size_hint = None if is_gzip else os.fstat(raw.fileno()).st_size
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
            if is_gzip:
                # The header's sizes are a claim: a 31-byte file can claim 65536x65536x256. Decompress in bounded
                # chunks into a buffer that grows with what the file really holds, and stop one chunk past the claim.
                buf, got = _read_bounded(f, expected - header)
                got += header
                more = False
                if got == expected:        # reaches the gzip trailer, so its CRC gets checked
                    extra, more = _count_rest(f, _TRAILING_CAP)
                    got += extra
                if got != expected:
                    raise ValueError(f"{name}: expected {expected} bytes for {_describe(dims)}, got "
                                     + ("more than " if more else "") + f"{got}"
                                     + (" (truncated)" if got < expected else " (trailing data)"))
                out = np.frombuffer(buf, np.uint8).reshape(dims)
            else:
                if size_hint != expected:
                    raise ValueError(f"{name}: expected {expected} bytes for {_describe(dims)}, got {size_hint}"
                                     + (" (truncated)" if size_hint < expected else " (trailing data)"))
                out = np.empty(dims, np.uint8)
                got = header + _read_exact(f, memoryview(out.reshape(-1)))
                if got != expected:
                    raise ValueError(f"{name}: expected {expected} bytes for {_describe(dims)}, got {got} "
                                     f"(truncated)")
    except (OSError, EOFError, zlib.error) as e:
        if not is_gzip or isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{name}: corrupt gzip file ({e})") from None
    return out
