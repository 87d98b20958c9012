"""tilecopy's checksums from Python against zlib.crc32, and a converting copy with a checksum
against the conversion alone.

    PYTHONPATH=build/python /usr/bin/python3 bench/checksum_python.py [--rounds 7] [--size 1G]

Rows, all on the same page-touched tensors, interleaved round by round with the order rotated;
each figure is the median over rounds of one call's time, and ratios are medians of per-round
ratios:

  zlib.crc32            zlib.crc32(memoryview of the buffer): Python's CRC-32, one thread
  tilecopy crc32        tilecopy.checksum(t, "crc32"): the same value, computed in parallel
  tilecopy crc32c       tilecopy.checksum(t, "crc32c")
  f32->bf16             tilecopy.copy_(bf16, f32) of size/4 float32 elements (size bytes read)
  f32->bf16 + crc32c    tilecopy.copy_with_checksum(bf16, f32, "crc32c")

Issue targets (each ratio line says met or NOT met): checksum >= 4x zlib.crc32; the converting
copy with a checksum >= 0.85x without.
"""

import argparse
import statistics
import time
import zlib

import torch

import tilecopy


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--size", default="1G", help="bytes checksummed (binary units); the conversion reads this many")
    args = ap.parse_args()
    size = parse_size(args.size)

    buf = torch.randint(0, 256, (size,), dtype=torch.uint8)
    view = memoryview(buf.numpy())
    f32 = torch.randn(size // 4)
    bf16 = torch.zeros(size // 4, dtype=torch.bfloat16)

    expected = zlib.crc32(view)
    assert tilecopy.checksum(buf, "crc32") == expected, "tilecopy crc32 differs from zlib.crc32"
    tilecopy.copy_(bf16, f32)
    plain = bf16.clone()
    bf16.zero_()
    crc = tilecopy.copy_with_checksum(bf16, f32, "crc32")
    assert torch.equal(bf16.view(torch.int16), plain.view(torch.int16))
    assert crc == zlib.crc32(memoryview(bf16.view(torch.uint8).numpy())), "copy_with_checksum differs from zlib"

    rows = {
        "zlib.crc32": lambda: zlib.crc32(view),
        "tilecopy crc32": lambda: tilecopy.checksum(buf, "crc32"),
        "tilecopy crc32c": lambda: tilecopy.checksum(buf, "crc32c"),
        "f32->bf16": lambda: tilecopy.copy_(bf16, f32),
        "f32->bf16 + crc32c": lambda: tilecopy.copy_with_checksum(bf16, f32, "crc32c"),
        "f32->bf16 + crc32": lambda: tilecopy.copy_with_checksum(bf16, f32, "crc32"),
    }
    names = list(rows)
    times = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            rows[n]()  # warm: helpers spinning, as in back-to-back calls
            times[n].append(timed(rows[n])[0])

    print(f"# {args.rounds} rounds, {size} bytes checksummed, {size // 4} float32 -> bfloat16; "
          f"load average {open('/proc/loadavg').read().split()[0]}")
    for n in names:
        print(f"{n:22s} {statistics.median(times[n]) * 1e3:9.2f} ms")

    def ratio(a, b):
        return statistics.median([x / y for x, y in zip(times[a], times[b])])

    def line(label, value, target=None):
        verdict = "" if target is None else f"  target >= {target}x {'met' if value >= target else 'NOT met'}"
        print(f"{label:36s}{value:5.2f}x{verdict}")

    line("tilecopy crc32 / zlib.crc32 speed:", ratio("zlib.crc32", "tilecopy crc32"), 4)
    line("tilecopy crc32c / zlib.crc32 speed:", ratio("zlib.crc32", "tilecopy crc32c"), 4)
    line("f32->bf16 + crc32c / f32->bf16:", ratio("f32->bf16", "f32->bf16 + crc32c"), 0.85)
    line("f32->bf16 + crc32 / f32->bf16:", ratio("f32->bf16", "f32->bf16 + crc32"), 0.85)


if __name__ == "__main__":
    main()
