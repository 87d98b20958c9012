"""Handles that stop early or go slowly: cancel() at every stage with exact progress, the
copy's times and rate, and the threads=, bytes_per_second=, priority= keywords. Nothing is
timed: a copy is held at a known point by a rate of 1 byte a second (its first block empties
the bucket, the next waits for days)."""

import os
import time

import pytest
import torch

import tilecopy

BLOCK = 64 << 10


def engine():
    return tilecopy.Engine(block_bytes=BLOCK, threads=2, pin_threads=False)


def nonzero(nbytes, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (nbytes,), dtype=torch.uint8, generator=g)


def test_cancel_a_running_copy_stops_at_a_block_with_exact_progress():
    e = engine()
    src = nonzero(16 * BLOCK, 1)
    dst = torch.zeros_like(src)
    h = e.copy_async(dst, src, threads=1, bytes_per_second=1, priority="background")
    while h.bytes_copied == 0:
        time.sleep(0.001)
    assert not h.done()
    h.cancel()
    n = h.bytes_copied
    with pytest.raises(tilecopy.Error, match=f"cancelled after {n} of {16 * BLOCK} bytes"):
        h.wait()
    assert h.done()
    assert 0 < n <= BLOCK + 64
    assert torch.equal(dst[:n], src[:n])  # one thread: the blocks in order from the front
    assert int(dst[n:].count_nonzero()) == 0
    assert h.started_at is not None and h.finished_at >= h.started_at
    h.cancel()  # done: nothing


def test_cancel_a_queued_batch_never_runs_it():
    e = engine()
    src = nonzero(16 * BLOCK, 2)
    slow_dst = torch.zeros_like(src)
    slow = e.copy_async(slow_dst, src, bytes_per_second=1)  # holds the bulk lane
    dsts = [torch.zeros(BLOCK * 8, dtype=torch.uint8) for _ in range(2)]
    queued = e.copy_batch_async(dsts, [src[: BLOCK * 8], src[BLOCK * 8:]])
    assert queued.started_at is None and queued.seconds == 0.0
    queued.cancel()
    assert queued.done()
    with pytest.raises(tilecopy.Error, match=f"cancelled after 0 of {16 * BLOCK} bytes"):
        queued.wait()
    slow.cancel()
    with pytest.raises(tilecopy.Error, match="cancelled after"):
        slow.wait()
    assert all(int(d.count_nonzero()) == 0 for d in dsts)


def test_a_finished_copy_keeps_its_result_and_reports_its_times():
    src = nonzero(4 << 20, 3)
    dst = torch.zeros_like(src)
    before = time.time()
    h = tilecopy.copy_async(dst, src, threads=1)
    h.wait()
    h.cancel()
    assert h.wait() is True
    assert torch.equal(dst, src)
    assert before - 1 <= h.started_at <= h.finished_at <= time.time() + 1
    assert h.seconds > 0
    assert h.bytes_per_second == pytest.approx(h.bytes_copied / h.seconds)


def test_cancel_in_a_forked_child_leaves_the_parents_copy_alone():
    e = engine()
    src = nonzero(8 * BLOCK, 4)
    dst = torch.zeros_like(src)
    h = e.copy_async(dst, src, bytes_per_second=8 * BLOCK * 20)  # ~50 ms
    pid = os.fork()
    if pid == 0:
        h.cancel()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    h.wait()  # ran whole in the parent
    assert torch.equal(dst, src)


def test_limit_keywords_are_checked_and_the_engine_defaults_are_options():
    src = torch.ones(1 << 20)
    dst = torch.empty_like(src)
    for bad, error in [(dict(threads=0), ValueError), (dict(threads="2"), TypeError),
                       (dict(bytes_per_second=0), ValueError), (dict(bytes_per_second=True), TypeError),
                       (dict(priority="later"), ValueError), (dict(priority=1), TypeError)]:
        with pytest.raises(error, match="tilecopy.copy_async"):
            tilecopy.copy_async(dst, src, **bad)
    with pytest.raises(TypeError):
        tilecopy.copy_async(dst, src, 1)  # keywords only
    tilecopy.copy_async(dst, src, threads=1, bytes_per_second=2.5e9, priority="foreground").wait()
    assert torch.equal(dst, src)

    e = tilecopy.Engine(async_threads=1, async_bytes_per_second=1 << 30, async_priority="background")
    assert e.options["async_threads"] == 1
    assert e.options["async_bytes_per_second"] == 1 << 30
    assert e.options["async_priority"] == "background"
    assert any(line.startswith("async copies use at most: 1 thread(s)") for line in e.describe())
    assert tilecopy.Engine(threads=1).options["async_bytes_per_second"] is None  # unlimited
    with pytest.raises(ValueError, match="async_priority"):
        tilecopy.Engine(async_priority="later")
