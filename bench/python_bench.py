"""tilecopy from Python against torch's Tensor.copy_ and against the same copies from C++.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--rounds 7] [--sizes 4K,1M,64M,1G]

Every method runs on the same page-touched float32 tensors, interleaved round by round with the
order rotated each round; each sample is warmed first (a few untimed calls: spinning helper
threads and caches in the state a trainer's back-to-back copies see), then times enough calls
to last ~20 ms. Rows give the median per-call time (and GB/s = destination bytes / s, 1 GB =
10^9 bytes); ratios are medians of per-round ratios. Methods:

  torch copy_      dst.copy_(src) from Python (what DeepSpeed's swapper calls today), with
                   torch.set_num_threads(every CPU) unless --torch-threads says otherwise
  tilecopy         tilecopy.copy_(dst, src) from Python, default engine
  deepspeed        tilecopy.deepspeed_py_memcpy(dst, src) from Python
  C++ tensor       the default engine's copy(dst, src) from a C++ loop (Engine._time_copies), no
                   Python between calls: what the Python call costs on top

The issue's targets (issue 13) are checked at the end: 4 KiB tilecopy <= 1.1x torch copy_ and
<= 5 us over C++; 64 MiB and 1 GiB tilecopy >= 0.97x C++; tilecopy and deepspeed >= 1.0x torch
copy_ at every size from 1 MiB.
"""

import argparse
import os
import statistics
import sys
import time

import torch

import tilecopy

SAMPLE_S = 0.02
WARM_S = 0.005


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def size_text(n):
    for unit, b in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= b:
            return f"{n // b} {unit}"
    return f"{n} B"


def python_loop(call, dst, src):
    def run(k):
        start = time.perf_counter()
        for _ in range(k):
            call(dst, src)
        return time.perf_counter() - start
    return run


def cpp_loop(dst, src):
    engine = tilecopy.default_engine()
    return lambda k: engine._time_copies(dst, src, k)


def sample(run, per_call_guess):
    """Warm, then time k calls lasting ~SAMPLE_S; returns seconds per call."""
    warm = max(1, int(WARM_S / per_call_guess))
    run(warm)
    k = max(1, int(SAMPLE_S / per_call_guess))
    return run(k) / k


def measure(size, rounds):
    n = size // 4
    src = torch.randn(n)
    dst = torch.empty(n)
    dst.fill_(1.0)  # pages touched before timing
    methods = {
        "torch copy_": python_loop(torch.Tensor.copy_, dst, src),
        "tilecopy": python_loop(tilecopy.copy_, dst, src),
        "deepspeed": python_loop(tilecopy.deepspeed_py_memcpy, dst, src),
        "C++ tensor": cpp_loop(dst, src),
    }
    names = list(methods)
    guess = {}
    for name, run in methods.items():  # one call each for a first estimate, and a check
        dst.zero_()
        guess[name] = max(run(1), 1e-7)
        if not torch.equal(dst, src):
            sys.exit(f"python_bench: {name} copied wrong bytes at {size_text(size)}")
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t = sample(methods[name], guess[name])
            guess[name] = t
            times[name].append(t)
    return times


def ratio(times, a, b):
    """Median over rounds of (speed a / speed b) = time b / time a."""
    return statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sizes", default="4K,1M,4M,16M,64M,256M,1G")
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count(),
                        help="torch.set_num_threads for copy_ (default: every CPU, as tilecopy-bench does)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    sizes = [parse_size(s) for s in args.sizes.split(",")]

    print(f"tilecopy {tilecopy.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{args.rounds} rounds, medians")
    print(f"{'size':>8} | {'torch copy_':>18} | {'tilecopy':>18} | {'deepspeed':>18} | {'C++ tensor':>18} | "
          f"{'tc/torch':>8} | {'ds/torch':>8} | {'tc/C++':>6}")
    results = {}
    for size in sizes:
        times = measure(size, args.rounds)
        results[size] = times
        cells = []
        for name in ("torch copy_", "tilecopy", "deepspeed", "C++ tensor"):
            t = statistics.median(times[name])
            cells.append(f"{t * 1e6:9.2f} us {size / t / 1e9:5.1f}")
        print(f"{size_text(size):>8} | " + " | ".join(cells) + f" | {ratio(times, 'tilecopy', 'torch copy_'):7.2f}x"
              f" | {ratio(times, 'deepspeed', 'torch copy_'):7.2f}x | {ratio(times, 'tilecopy', 'C++ tensor'):5.2f}x")
        sys.stdout.flush()

    print("targets:")
    for size, times in results.items():
        tc = statistics.median(times["tilecopy"])
        if size == 4096:
            over = statistics.median(a - b for a, b in zip(times["tilecopy"], times["C++ tensor"]))
            r = statistics.median(a / b for a, b in zip(times["tilecopy"], times["torch copy_"]))
            print(f"  4 KiB: tilecopy per call {tc * 1e6:.2f} us = {r:.2f}x torch copy_'s (<= 1.1x: "
                  f"{'met' if r <= 1.1 else 'not met'}), {over * 1e6:.2f} us over C++ (<= 5 us: "
                  f"{'met' if over <= 5e-6 else 'not met'})")
        if size in (64 << 20, 1 << 30):
            r = ratio(times, "tilecopy", "C++ tensor")
            print(f"  {size_text(size)}: tilecopy from Python {r:.3f}x C++ (>= 0.97x: {'met' if r >= 0.97 else 'not met'})")
        if size >= 1 << 20:
            r1, r2 = ratio(times, "tilecopy", "torch copy_"), ratio(times, "deepspeed", "torch copy_")
            print(f"  {size_text(size)}: tilecopy {r1:.2f}x, deepspeed_py_memcpy {r2:.2f}x torch copy_ (>= 1.0x: "
                  f"{'met' if min(r1, r2) >= 1.0 else 'not met'})")


if __name__ == "__main__":
    main()
