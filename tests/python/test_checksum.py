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
