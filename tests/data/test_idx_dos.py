"""Issue 13: idx files whose header claims more than the file holds are refused before allocating; read_idx's
arguments are checked."""
import gzip
import struct

import numpy as np
import pytest

import tapegraph as tg
from tests.data.writers import idx_bytes, traced_peak_of_refusal, write_bytes


def test_gzip_idx_claiming_a_terabyte_is_refused_without_allocating(tmp_path):
    # 16-byte header: images 65536 x 65536 x 256 (1 TiB), no payload. gzip's trailer stores the size mod 2**32,
    # which the claim matches (2**40 + 16 = 16 mod 2**32): only the real decompressed length can tell.
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 65536, 65536, 256), mtime=0))
    assert p.stat().st_size < 64
    peak = traced_peak_of_refusal(lambda: tg.data.read_idx(p), r"train-images-idx3-ubyte.gz: expected "
                                  r"1099511627792 bytes for 65536x65536x256 images, got 16 \(truncated\)")
    assert peak < 16 << 20


def test_gzip_idx_still_reads_and_checks_trailing_data(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (3, 5, 4), dtype=np.uint8)
    p = write_bytes(tmp_path / "a-idx3-ubyte", idx_bytes(x), True)
    y = tg.data.read_idx(p, 3)
    np.testing.assert_array_equal(y, x)
    assert y.flags.writeable
    p = write_bytes(tmp_path / "b-idx3-ubyte", idx_bytes(x) + b"\0" * 5, True)
    with pytest.raises(ValueError, match=r"got 81 \(trailing data\)"):
        tg.data.read_idx(p)


@pytest.mark.parametrize("ndim", [2, 0, "3", True])
def test_read_idx_checks_ndim(tmp_path, ndim):
    p = write_bytes(tmp_path / "a-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)), False)
    with pytest.raises(ValueError, match=r"^read_idx: ndim must be 1 \(labels\), 3 \(images\) or None"):
        tg.data.read_idx(p, ndim)
