"""copy_with_checksum and checksum against zlib.crc32 (CRC-32) and a bitwise CRC32C, of the
destination's bytes in row-major order after conversion; ValueError for an unknown kind."""

import zlib

import pytest
import torch

import tilecopy


def crc32c(data):
    table = crc32c.table
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _table():
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        out.append(c)
    return out


crc32c.table = _table()


def logical_bytes(t):
    return t.resolve_conj().resolve_neg().contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""


def reference(kind, t):
    data = logical_bytes(t)
    return zlib.crc32(data) if kind == "crc32" else crc32c(data)


def test_known_vectors():
    t = torch.frombuffer(bytearray(b"123456789"), dtype=torch.uint8)
    assert tilecopy.checksum(t, "crc32c") == 0xE3069283
    assert tilecopy.checksum(t, "crc32") == 0xCBF43926
    assert tilecopy.checksum(t) == 0xE3069283  # crc32c by default


@pytest.mark.parametrize("n", [0, 1, 7, 63, 64, 65, 4095, 4096, 4097, 100003, (3 << 20) + 5])
@pytest.mark.parametrize("offset", [0, 1, 13])
def test_checksum_matches_zlib_at_every_alignment(n, offset):
    g = torch.Generator().manual_seed(n + offset)
    buf = torch.randint(0, 256, (n + offset,), dtype=torch.uint8, generator=g)
    t = buf[offset:]
    assert tilecopy.checksum(t, "crc32") == zlib.crc32(t.numpy().tobytes())
    if n <= 4097:
        assert tilecopy.checksum(t, "crc32c") == crc32c(t.numpy().tobytes())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.int64])
@pytest.mark.parametrize("layout", ["contiguous", "narrowed", "transposed"])
def test_copy_with_checksum_matches_copy_and_zlib(dtype, layout):
    g = torch.Generator().manual_seed(3)
    src = torch.randn(257, 1500, generator=g)
    if layout == "contiguous":
        dst = torch.empty(257, 1500, dtype=dtype)
    elif layout == "narrowed":
        dst = torch.zeros(257, 1600, dtype=dtype)[:, 50:1550]
    else:
        dst = torch.empty(1500, 257, dtype=dtype).t()
    expected = torch.empty(257, 1500, dtype=dtype).copy_(src)
    crc = tilecopy.copy_with_checksum(dst, src, kind="crc32")
    assert torch.equal(dst, expected)
    assert crc == zlib.crc32(logical_bytes(expected))
    assert tilecopy.checksum(dst, "crc32") == crc
    small = src[:3, :7]
    dsmall = torch.empty(3, 7, dtype=dtype)
    assert tilecopy.copy_with_checksum(dsmall, small, "crc32c") == crc32c(logical_bytes(dsmall))


def test_unknown_kind_is_a_value_error_naming_the_kinds_and_writes_nothing():
    dst = torch.zeros(100)
    with pytest.raises(ValueError, match="crc32c"):
        tilecopy.copy_with_checksum(dst, torch.ones(100), kind="md5")
    assert torch.equal(dst, torch.zeros(100))
    with pytest.raises(ValueError, match="crc32"):
        tilecopy.checksum(dst, "adler32")


def test_refused_copy_writes_nothing():
    dst = torch.zeros(10, 10)
    with pytest.raises(tilecopy.Error):
        tilecopy.copy_with_checksum(dst, torch.ones(3, 7))
    assert torch.equal(dst, torch.zeros(10, 10))
    with pytest.raises(TypeError):
        tilecopy.checksum([1, 2, 3])


def _batch():
    """Pairs on every route: contiguous, converted, strided and transposed destinations, copy_'s
    path, an empty pair."""
    g = torch.Generator().manual_seed(5)
    f = torch.randn(130, 1100, generator=g)
    dsts = [torch.empty(130, 1100), torch.empty(130, 1100, dtype=torch.bfloat16),
            torch.zeros(130, 1200)[:, 40:1140], torch.empty(1100, 130).t(), torch.empty(5),
            torch.empty(0, 3), torch.empty(2000, dtype=torch.int32)]
    srcs = [f, f, f, f, torch.randn(5, generator=g), torch.empty(0, 3),
            torch.randint(0, 99, (2000,), dtype=torch.int64, generator=g)]
    expected = [torch.empty(d.shape, dtype=d.dtype).copy_(s) for d, s in zip(dsts, srcs)]
    return dsts, srcs, expected


def _check_batch(dsts, expected, crcs):
    assert isinstance(crcs, list) and len(crcs) == len(dsts)
    for d, e, crc in zip(dsts, expected, crcs):
        assert torch.equal(d, e)
        assert crc == zlib.crc32(logical_bytes(e))
    assert crcs[5] == 0  # the empty pair


def test_copy_with_checksum_of_lists_gives_one_per_pair():
    dsts, srcs, expected = _batch()
    _check_batch(dsts, expected, tilecopy.copy_with_checksum(dsts, srcs, "crc32"))


def test_async_copies_with_a_checksum():
    dsts, srcs, expected = _batch()
    h = tilecopy.copy_batch_async(dsts, srcs, checksum="crc32")
    _check_batch(dsts, expected, h.checksums())
    with pytest.raises(tilecopy.Error, match="checksums"):
        h.checksum()
    dst = torch.empty(257, 1500, dtype=torch.bfloat16)
    src = torch.randn(257, 1500)
    h = tilecopy.default_engine().copy_async(dst, src, checksum="crc32c")
    assert h.checksum() == crc32c(logical_bytes(dst)) == tilecopy.checksum(dst)
    assert tilecopy.copy_async(dst, src, checksum="crc32").checksums() == [zlib.crc32(logical_bytes(dst))]
    with pytest.raises(tilecopy.Error, match="without a checksum"):
        tilecopy.copy_async(dst, src).checksum()


def test_refused_checksummed_batches_write_nothing():
    dsts = [torch.zeros(100), torch.zeros(10, 10)]
    good = [torch.ones(100), torch.ones(10, 10)]
    bad = [torch.ones(100), torch.ones(3, 7)]
    with pytest.raises(tilecopy.Error, match="pair 1"):
        tilecopy.copy_with_checksum(dsts, bad)
    with pytest.raises(tilecopy.Error, match="pair 1"):
        tilecopy.copy_batch_async(dsts, bad, checksum="crc32c")
    with pytest.raises(ValueError, match="crc32c"):
        tilecopy.copy_batch_async(dsts, good, checksum="sha1")
    with pytest.raises(TypeError, match="checksum"):
        tilecopy.copy_async(dsts[0], good[0], checksum=1)
    with pytest.raises(TypeError):
        tilecopy.copy_with_checksum(dsts, good[0])
    assert all(torch.equal(d, torch.zeros_like(d)) for d in dsts)
