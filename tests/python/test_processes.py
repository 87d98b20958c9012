"""tilecopy in processes a trainer makes: a child of multiprocessing's fork start method, forked
after the parent's engine started its threads, and a DataLoader worker."""

import multiprocessing

import torch
import torch.utils.data

import tilecopy

MIB = 1 << 20


def copies_equal_copy_():
    """Runs in the child: copies that take every path (inline, parallel, batch, async,
    conversion) checked against copy_. Returns a list of what went wrong."""
    g = torch.Generator().manual_seed(11)
    wrong = []
    for n in (1000, 8 * MIB // 4):
        src = torch.randn(n, generator=g)
        dst = torch.empty(n)
        tilecopy.copy_(dst, src)
        if not torch.equal(dst, src):
            wrong.append(f"copy_ of {n} floats")
        half = torch.empty(n, dtype=torch.bfloat16)
        tilecopy.copy_(half, src)
        if not torch.equal(half.view(torch.int16), torch.empty_like(half).copy_(src).view(torch.int16)):
            wrong.append(f"float32 -> bfloat16 of {n}")
        dst.zero_()
        tilecopy.copy_async(dst, src).wait()
        if not torch.equal(dst, src):
            wrong.append(f"copy_async of {n} floats")
        dst.zero_()
        tilecopy.copy_batch([dst[: n // 2], dst[n // 2:]], [src[: n // 2], src[n // 2:]])
        if not torch.equal(dst, src):
            wrong.append(f"copy_batch of {n} floats")
    return wrong


def child(queue):
    try:
        queue.put(copies_equal_copy_())
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        queue.put([f"{type(e).__name__}: {e}"])


def warm_up_parent():
    """The parent's default engine starts its worker and submitter threads before the fork."""
    src = torch.randn(8 * MIB // 4)
    dst = torch.empty_like(src)
    tilecopy.copy_(dst, src)
    tilecopy.copy_async(dst, src).wait()
    assert torch.equal(dst, src)


def test_a_child_forked_after_the_parent_copied_copies_correctly():
    warm_up_parent()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=child, args=(queue,))
    p.start()
    try:
        wrong = queue.get(timeout=120)
    finally:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    assert p.exitcode == 0
    assert wrong == []
    assert copies_equal_copy_() == []  # and the parent still does


class CopyingDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        src = torch.randn(2 * MIB // 4 * (i + 1), generator=g)
        dst = torch.empty(src.numel(), dtype=torch.bfloat16 if i % 2 else torch.float32)
        tilecopy.copy_(dst, src)
        return dst, torch.empty_like(dst).copy_(src), copies_equal_copy_() if i == 0 else []


def test_a_dataloader_worker_copies_correctly():
    warm_up_parent()
    loader = torch.utils.data.DataLoader(CopyingDataset(), batch_size=None, num_workers=1,
                                         multiprocessing_context="fork", timeout=120)
    seen = 0
    for ours, expected, wrong in loader:
        assert wrong == []
        assert ours.dtype == expected.dtype
        assert torch.equal(ours.view(torch.int16), expected.view(torch.int16))
        seen += 1
    assert seen == 4
