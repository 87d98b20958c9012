"""The GIL is released during copies and waits: another Python thread keeps running while a
large copy runs. 256 MiB rather than 1 GiB: the GIL is released before the copy starts
whatever its size, and 256 MiB (several ms even at full bandwidth) keeps the suite's memory
and time small on a shared 2-core machine."""

import sys
import threading

import pytest
import torch

import tilecopy

SIZE = 256 << 20


class Counter(threading.Thread):
    """Counts as fast as it can, giving the GIL up on every iteration (time.sleep(0)): with the
    switch interval raised, the copying thread can only lose the GIL when it releases it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.count = 0
        self.stop = False
        self.started = threading.Event()

    def run(self):
        import time
        self.started.set()
        while not self.stop:
            self.count += 1
            time.sleep(0)


def counts_during(call, repeats=3):
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    counter = Counter()
    counter.start()
    counter.started.wait()
    try:
        during = []
        for _ in range(repeats):
            before = counter.count
            call()
            during.append(counter.count - before)
        return during
    finally:
        counter.stop = True
        sys.setswitchinterval(old)
        counter.join()


@pytest.fixture(scope="module")
def buffers():
    """Made once: fresh pages cost ~11 us each, 0.7 s for 256 MiB."""
    return torch.ones(SIZE // 4), torch.zeros(SIZE // 4)


def test_a_python_thread_runs_while_a_large_copy_runs(buffers):
    src, dst = buffers
    during = counts_during(lambda: tilecopy.copy_(dst, src))
    # With the GIL held through the copy the counter could not move at all between `before` and
    # the copy's return (the switch interval is 100 s); it moves by thousands when released.
    assert max(during) > 10, during
    assert torch.equal(dst, src)


def test_a_python_thread_runs_while_waiting_for_an_asynchronous_copy_and_a_batch(buffers):
    src, dst = buffers
    assert max(counts_during(lambda: tilecopy.copy_async(dst, src).wait())) > 10
    halves = [dst[: SIZE // 8], dst[SIZE // 8:]]
    assert max(counts_during(lambda: tilecopy.copy_batch(halves, [src[: SIZE // 8], src[SIZE // 8:]]))) > 10
    assert max(counts_during(lambda: tilecopy.deepspeed_py_memcpy(dst, src))) > 10


def test_the_counter_does_not_move_during_a_copy_that_holds_the_gil(buffers):
    """The measurement's control: bytes() copies a quarter of the same buffer with the GIL
    held, and the counter stays still, so the tests above measure the release, not the
    scheduler."""
    view = memoryview(buffers[0][: SIZE // 16].numpy())
    during = counts_during(lambda: bytes(view), repeats=2)
    assert max(during) <= 1, during


def test_a_python_thread_runs_while_tensors_are_cloned(buffers):
    src = buffers[0][: SIZE // 16]  # 16 MiB: fresh pages cost milliseconds each round
    assert max(counts_during(lambda: tilecopy.clone(src), repeats=2)) > 10
    assert max(counts_during(lambda: tilecopy.clone_batch([src, src[::2]]), repeats=2)) > 10
    assert max(counts_during(lambda: tilecopy.clone(src, non_blocking=True).result(), repeats=2)) > 10
    # A new size each call: the clone pool would hand a dead tensor's warm memory to one of the
    # same size at once, and here the fresh pages' population is the work measured.
    shorter = iter(range(1, 10))
    assert max(counts_during(lambda: tilecopy.empty_like(src[: -1024 * next(shorter)]), repeats=2)) > 10
