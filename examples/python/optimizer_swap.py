"""An optimizer-state swap as DeepSpeed's swapper does it, from Python: the fp32 master weights
and Adam's two moments of every parameter go out to page-aligned staging buffers and come back
with one copy_batch_async each way, while the trainer does other work; then the bf16 weights
the forward pass uses are cast from the masters, and training goes on, checkpointed: every
other step the model's and optimizer's state_dicts are snapshotted in the background (into the
previous snapshot, with CRC-32) while the next forward and backward run. Every step is checked
byte for byte against torch's copy_, copy.deepcopy and a model that was never swapped; exits 1
on any mismatch.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/optimizer_swap.py
"""

import copy
import sys
import time
import zlib

import torch

import tilecopy

PAGE = 4096


def staging_for(tensors):
    """One page-aligned uint8 buffer, each tensor's slice starting on its own page (as an aio
    swapper wants it); returns float32 views of the tensors' shapes."""
    sizes = [(t.numel() * t.element_size() + PAGE - 1) // PAGE * PAGE for t in tensors]
    raw = torch.empty(sum(sizes) + PAGE, dtype=torch.uint8)
    base = (-raw.data_ptr()) % PAGE
    views, offset = [], base
    for t, size in zip(tensors, sizes):
        nbytes = t.numel() * t.element_size()
        views.append(raw[offset:offset + nbytes].view(t.dtype).view(t.shape))
        offset += size
    return views


def same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.detach().reshape(-1).view(torch.uint8), b.detach().reshape(-1).view(torch.uint8))


def forward_backward(model, optimizer, tokens):
    optimizer.zero_grad()
    loss = model(tokens).float().pow(2).mean()
    loss.backward()


def train_step(model, optimizer, tokens):
    forward_backward(model, optimizer, tokens)
    optimizer.step()


def compare_snapshot(ours, ref, sums, where, check):
    """Checks a snapshot (and its checksums) against a deepcopy of the state, key by key;
    returns the snapshot's tensors in order."""
    if isinstance(ref, torch.Tensor):
        check(same_bytes(ours, ref), where)
        check(sums == zlib.crc32(ref.reshape(-1).view(torch.uint8).numpy()), where + "'s checksum")
        return [ours]
    check(type(ours) is type(ref), where + "'s type")
    if isinstance(ref, dict):
        check(list(ours) == list(ref), where + "'s keys")
        return [t for k in ref for t in compare_snapshot(ours[k], ref[k], sums[k], f"{where}[{k!r}]", check)]
    if isinstance(ref, (list, tuple)):
        return [t for i, (a, b, c) in enumerate(zip(ours, ref, sums))
                for t in compare_snapshot(a, b, c, f"{where}[{i}]", check)]
    check(ours == ref and sums is None, where)
    return []


def checkpointed_steps(model, optimizer, tokens, steps, check):
    """Training with a background snapshot after every other step. The optimizer's step writes
    the state, so a snapshot must be done before the next step; the forward and backward before
    it (which only read the weights) overlap with the copy. Returns how many were taken."""
    h, expected, previous, previous_tensors, taken = None, None, None, [], 0
    for step in range(1, steps + 1):
        forward_backward(model, optimizer, tokens)  # beside the copy of the last snapshot
        if h is not None:
            tensors = compare_snapshot(h.result(), expected, h.checksums(), f"snapshot {taken}", check)
            if previous is not None:  # into= the previous snapshot: the same tensors, nothing allocated
                check(all(a is b for a, b in zip(tensors, previous_tensors)), f"snapshot {taken}'s memory")
            previous, previous_tensors, taken, h = h.result(), tensors, taken + 1, None
        optimizer.step()
        if step % 2 == 0:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
            expected = copy.deepcopy(state)
            h = tilecopy.snapshot(state, into=previous, checksum="crc32", bytes_per_second=4e9, threads=1)
    return taken


def main():
    torch.manual_seed(0)
    # A small transformer's worth of parameters: embedding, attention and MLP projections, norms.
    model = torch.nn.Sequential(
        torch.nn.Embedding(8192, 256), torch.nn.Linear(256, 768), torch.nn.LayerNorm(768),
        torch.nn.Linear(768, 256), torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 256),
        torch.nn.LayerNorm(256))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, 8192, (8, 64))
    train_step(model, optimizer, tokens)  # Adam's moments exist from here on
    reference_model = copy.deepcopy(model)
    reference_optimizer = torch.optim.Adam(reference_model.parameters(), lr=1e-3)
    reference_optimizer.load_state_dict(optimizer.state_dict())

    params = list(model.parameters())
    exp_avg = [optimizer.state[p]["exp_avg"] for p in params]
    exp_avg_sq = [optimizer.state[p]["exp_avg_sq"] for p in params]
    state = params + exp_avg + exp_avg_sq  # one batch for all of it
    originals = [torch.empty_like(t).copy_(t.detach()) for t in state]
    staging = staging_for(params) + staging_for(exp_avg) + staging_for(exp_avg_sq)
    nbytes = sum(t.numel() * t.element_size() for t in state)
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)
            print(f"optimizer_swap.py: {what} differs", file=sys.stderr)

    with torch.no_grad():
        # Swap out, overlapped with other work (the GIL is free while the copy runs).
        start = time.perf_counter()
        out = tilecopy.copy_batch_async(staging, state)
        side = torch.randn(256, 256)
        busy = float((side @ side).sum())
        out.wait()
        out_s = time.perf_counter() - start
        check(out.bytes_copied == out.bytes_total == nbytes, "the swap-out handle's byte count")
        for i, (s, o) in enumerate(zip(staging, originals)):
            check(same_bytes(s, o), f"staged tensor {i}")

        for t in state:  # the parameters' memory is reused while they are out
            t.fill_(-1.0)

        start = time.perf_counter()
        back = tilecopy.copy_batch_async(state, staging)
        back.wait()
        in_s = time.perf_counter() - start
        for i, (t, o) in enumerate(zip(state, originals)):
            check(same_bytes(t, o), f"restored tensor {i}")

        # The bf16 weights the forward pass computes with, cast from the fp32 masters.
        for i, w in enumerate(params):
            ours = tilecopy.copy_(torch.empty(w.shape, dtype=torch.bfloat16), w)
            check(same_bytes(ours, torch.empty(w.shape, dtype=torch.bfloat16).copy_(w)), f"bf16 weights {i}")
        # And DeepSpeed's own entry point, as its swapper calls it.
        flat = torch.empty(sum(p.numel() for p in params))
        offset = 0
        for p in params:
            check(tilecopy.deepspeed_py_memcpy(flat[offset:offset + p.numel()], p.view(-1)) == 0,
                  "deepspeed_py_memcpy's return value")
            offset += p.numel()
        check(same_bytes(flat, torch.cat([p.detach().view(-1) for p in params])), "deepspeed_py_memcpy's flat copy")

    # Training goes on from the restored state exactly as from one never swapped.
    train_step(model, optimizer, tokens)
    train_step(reference_model, reference_optimizer, tokens)
    for i, (p, q) in enumerate(zip(model.parameters(), reference_model.parameters())):
        check(same_bytes(p, q), f"parameter {i} after a step")

    snapshots = checkpointed_steps(model, optimizer, tokens, 5, check)

    print(f"optimizer_swap.py: {len(state)} tensors, {nbytes / 2**20:.1f} MiB each way: out {out_s * 1e3:.2f} ms, "
          f"in {in_s * 1e3:.2f} ms (side work {busy:.3g}); {snapshots} background snapshots; "
          f"{'MISMATCH' if failures else 'all copies match copy_'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
