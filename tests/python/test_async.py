"""Handles: results equal copy_'s, waiting with and without a timeout, progress, and the
tensors kept alive until the copy is done when the caller has dropped every reference."""

import gc
import sys
import time
import traceback
import weakref

import numpy as np
import pytest
import torch

import tilecopy
from wrappers import Wrapper

MIB = 1 << 20


def test_copy_async_and_copy_batch_async_equal_copy():
    g = torch.Generator().manual_seed(7)
    srcs = [torch.randn(n, generator=g) for n in (1, 1000, 300_000, 2 * MIB)]
    srcs.append(torch.randn(64, 2100, generator=g).t())
    srcs.append(torch.randn(5000, generator=g))
    dsts = [torch.empty(s.shape, dtype=torch.bfloat16 if i == 5 else torch.float32) for i, s in enumerate(srcs)]
    expected = [torch.empty_like(d).copy_(s) for d, s in zip(dsts, srcs)]
    h = tilecopy.copy_batch_async(dsts, srcs)
    assert h.wait() is True
    assert h.done()
    assert h.bytes_copied == h.bytes_total == sum(d.numel() * d.element_size() for d in dsts)
    for e, d in zip(expected, dsts):
        assert torch.equal(e.view(torch.int16) if e.dtype == torch.bfloat16 else e.view(torch.int32),
                           d.view(torch.int16) if d.dtype == torch.bfloat16 else d.view(torch.int32))
    one = torch.empty(3 * MIB)
    h = tilecopy.copy_async(one, srcs[3].repeat(2)[: 3 * MIB])
    h.wait()
    assert torch.equal(one, srcs[3].repeat(2)[: 3 * MIB])


def test_copy_batch_returns_its_destinations_and_equals_copy():
    dsts = [torch.zeros(10), torch.zeros(3, 4, dtype=torch.float16)]
    srcs = [torch.arange(10.0), torch.arange(12.0).view(4, 3).t()]
    assert tilecopy.copy_batch(dsts, srcs) is dsts
    assert torch.equal(dsts[0], torch.arange(10.0))
    assert torch.equal(dsts[1], torch.arange(12.0).view(4, 3).t().half())
    e = tilecopy.Engine(threads=1)
    t = (torch.zeros(4), torch.zeros(4))
    assert e.copy_batch(t, (torch.ones(4), torch.ones(4))) is t


def test_wait_with_a_timeout_returns_whether_the_copy_finished():
    src = torch.randn(32 * MIB // 4)
    dst = torch.empty_like(src)
    h = tilecopy.copy_async(dst, src)
    first = h.wait(timeout=0)
    assert first in (True, False)
    assert first is False or h.done()
    assert h.wait(timeout=60.0) is True
    assert h.wait(0) is True  # done: at once, every time
    assert torch.equal(dst, src)
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        h.wait(-1)
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None, not str"):
        h.wait("1")


def test_a_dropped_handle_waits_for_its_copy():
    src = torch.randn(16 * MIB // 4)
    dst = torch.empty_like(src)
    tilecopy.copy_async(dst, src)  # the handle dies here: its destructor waits (GIL released)
    assert torch.equal(dst, src)


def test_the_handle_keeps_the_source_alive_when_the_caller_drops_it():
    g = torch.Generator().manual_seed(3)
    blocker_dst = torch.empty(64 * MIB // 4)
    blocker = tilecopy.copy_async(blocker_dst, torch.randn(64 * MIB // 4, generator=g))  # queued first
    src = torch.randn(16 * MIB // 4, generator=g)
    expected = src.clone()
    dst = torch.empty_like(src)
    h = tilecopy.copy_async(dst, src)
    del src
    gc.collect()
    churn = [torch.full((16 * MIB // 4,), 7.0) for _ in range(4)]  # reuses freed memory, if any was
    h.wait()
    blocker.wait()
    assert torch.equal(dst, expected)
    del churn


def test_the_handle_keeps_numpy_backed_tensors_alive_until_done_and_then_lets_them_go():
    src_array = np.arange(16 * MIB // 4, dtype=np.float32)
    dst_array = np.zeros(16 * MIB // 4, dtype=np.float32)
    blocker_src, blocker_dst = torch.ones(64 * MIB // 4), torch.empty(64 * MIB // 4)
    blocker = tilecopy.copy_async(blocker_dst, blocker_src)  # queued first: h waits behind it
    src_ref, dst_ref = weakref.ref(src_array), weakref.ref(dst_array)
    h = tilecopy.copy_batch_async([torch.from_numpy(dst_array)], [torch.from_numpy(src_array)])
    del src_array, dst_array
    gc.collect()
    # Read liveness before done(): if the copy was still running at done(), it was running
    # when the arrays were looked at, and they must have been alive.
    alive = src_ref() is not None and dst_ref() is not None
    done = h.done()
    assert alive or done
    assert h.wait() is True
    blocker.wait()
    del h, blocker
    for _ in range(100):  # the submitter thread drops its references just after finishing
        gc.collect()
        if src_ref() is None and dst_ref() is None:
            break
        time.sleep(0.01)
    assert src_ref() is None and dst_ref() is None, "the handle leaked its tensors"


def test_progress_rises_to_the_total():
    src = torch.randn(64 * MIB // 4)
    dst = torch.empty_like(src)
    h = tilecopy.copy_async(dst, src)
    seen = []
    while not h.done():
        seen.append(h.bytes_copied)
    h.wait()
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    assert h.bytes_copied == h.bytes_total == 64 * MIB
    assert "done" in repr(h)


def test_an_engine_outlives_the_handles_it_gave_even_when_dropped():
    engine = tilecopy.Engine(threads=2)
    src = torch.randn(32 * MIB // 4)
    dst = torch.empty_like(src)
    h = engine.copy_async(dst, src)
    ref = weakref.ref(engine)
    del engine
    gc.collect()
    assert ref() is not None or h.done()
    h.wait()
    assert torch.equal(dst, src)
    del h
    gc.collect()
    assert ref() is None


def test_the_engine_s_thread_never_needs_the_gil_to_let_go_of_dropped_tensors():
    """The caller drops its tensors while their copy is queued, then holds the GIL (a Python
    loop; no other thread may take it for 100 s). Were the tensors' last references left to the
    engine's thread, it would wait for the GIL after the first copy and the second, queued
    behind it, would never finish; the handle holds them instead."""
    src = torch.randn(32 * MIB // 4)
    first = tilecopy.copy_async(torch.empty_like(src), src.clone())  # both tensors dropped at once
    second_dst = torch.empty_like(src)
    second = tilecopy.copy_batch_async([second_dst], [src])
    del src
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        deadline = time.monotonic() + 20
        while not second.done() and time.monotonic() < deadline:
            pass
        finished = second.done()
    finally:
        sys.setswitchinterval(old)
    assert finished
    assert first.wait() and second.wait()


class DispatchFailed(ValueError):
    pass


class Failing(Wrapper):
    """Its copy_ fails in Python."""

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise DispatchFailed(f"refused by __torch_dispatch__: {func}")


@pytest.mark.parametrize("numel", [4, 100_000], ids=["run-at-submission", "on-a-lane"])
@pytest.mark.parametrize("call", ["copy_async", "copy_batch_async", "Engine.copy_async"])
def test_an_exception_raised_in_python_during_an_async_copy_is_raised_again_with_its_traceback(numel, call):
    engine = tilecopy.Engine(threads=1)
    submit = {
        "copy_async": tilecopy.copy_async,
        "copy_batch_async": lambda d, s: tilecopy.copy_batch_async([d], [s]),
        "Engine.copy_async": engine.copy_async,
    }[call]
    dst = torch.zeros(numel)
    try:
        handle = submit(dst, Failing(torch.ones(numel)))
    except DispatchFailed as refused:  # raised at submission: as good, if it is the original
        raised = [refused]
    else:
        raised = []
        for attempt in range(2):  # every wait() raises it again
            with pytest.raises(DispatchFailed) as failure:
                handle.wait()
            raised.append(failure.value)
        assert raised[0] is raised[1]  # the very exception Python raised, not a copy
        assert handle.done()
    for e in raised:
        assert str(e).startswith("refused by __torch_dispatch__: aten.copy_"), str(e)
        frames = [f.name for f in traceback.extract_tb(e.__traceback__)]
        assert "__torch_dispatch__" in frames, frames
    assert not dst.any()
    # The thread that ran it copies on.
    src = torch.randn(numel)
    submit(dst, src).wait()
    assert torch.equal(dst, src)
