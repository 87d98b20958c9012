"""Peak resident memory of one clone, each in a fresh process: VmHWM after the clone (reset to
the resident size just before it through /proc/self/clear_refs) minus VmRSS before it, less the
clone's bytes. The target is at most 2 MiB over the bytes.

    PYTHONPATH=build/python /usr/bin/python3 bench/clone_rss.py [--sizes 64M,256M,1G]
"""

import argparse
import subprocess
import sys

METHODS = {
    "torch clone()": "src.clone()",
    "tilecopy.clone": "tilecopy.clone(src)",
    "tilecopy.clone, populate='first_copy'": "tilecopy.clone(src, populate='first_copy')",
    "tilecopy.clone_batch([src])": "tilecopy.clone_batch([src])[0]",
}

CHILD = r"""
import sys, torch, tilecopy
def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
src = torch.ones({n} // 4)
warm = tilecopy.clone(torch.ones(1 << 20)); del warm   # the engine's threads and a first clone
warm = torch.ones(1 << 20).clone(); del warm
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                                        # VmHWM := VmRSS
out = {call}
assert torch.equal(out[:1000], src[:1000])
print(status("VmHWM") - before)
"""


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64M,256M")
    args = parser.parse_args()
    print(f"{'size':>6}  {'method':<40} {'peak - before':>14} {'over bytes':>12}")
    for size in args.sizes.split(","):
        n = parse_size(size)
        for name, call in METHODS.items():
            out = subprocess.run([sys.executable, "-c", CHILD.format(n=n, call=call)], capture_output=True, text=True,
                                 check=True)
            peak = int(out.stdout.split()[-1])
            print(f"{size:>6}  {name:<40} {peak / 2**20:>10.2f} MiB {(peak - n) / 2**20:>8.2f} MiB")


if __name__ == "__main__":
    main()
