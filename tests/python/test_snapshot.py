"""tilecopy.snapshot against copy.deepcopy: the same structure (types, keys, order, _metadata,
other values), every tensor torch.equal in fresh memory; into= reuses what matches (data_ptr
identity) and allocates only what changed; non-CPU tensors refused by key path or kept;
checksums against zlib.crc32 and a bitwise CRC32C; cancel while queued, running and finished
with exact progress. Copies are held at a known point by a rate of 1 byte a second (the first
block empties the bucket), never by timing."""

import collections
import copy
import os
import zlib

import pytest
import torch

import tilecopy

BLOCK = 64 << 10


def engine():
    return tilecopy.Engine(block_bytes=BLOCK, threads=2, pin_threads=False)


def state(seed, rows=64):
    g = torch.Generator().manual_seed(seed)
    model = collections.OrderedDict()
    model["layer.weight"] = torch.randn(rows, 300, generator=g)
    model["layer.bias"] = torch.randn(rows, generator=g).to(torch.bfloat16)
    model["proj.weight"] = torch.randn(40, 50, generator=g).t()  # clone keeps the transposed strides
    model["steps"] = torch.tensor(7)
    model._metadata = collections.OrderedDict({"": {"version": 1}})
    optim = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(rows, 300, generator=g)},
                  1: {"step": torch.tensor(3.0), "exp_avg": torch.randn(5, generator=g)[::2]}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "name": None}],
    }
    Pair = collections.namedtuple("Pair", "first second")
    return {"model": model, "optim": optim, "pair": Pair(torch.arange(10), "text"), "epoch": 3,
            "history": [1.5, torch.ones(3, dtype=torch.int16)]}


def leaves(obj, wanted):
    """The values of a nested structure for which wanted() holds, in the snapshot's order."""
    if wanted(obj):
        return [obj]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in leaves(v, wanted)]
    if isinstance(obj, (list, tuple)):
        return [x for v in obj for x in leaves(v, wanted)]
    return []


def tensors(obj):
    return leaves(obj, lambda x: isinstance(x, torch.Tensor))


def assert_like_deepcopy(ours, ref, sources=None):
    """ours mirrors ref (a deepcopy): container types, keys and order, values; tensors equal."""
    assert type(ours) is type(ref)
    if isinstance(ref, torch.Tensor):
        assert ours.dtype == ref.dtype and ours.shape == ref.shape and ours.stride() == ref.clone().stride()
        assert torch.equal(ours, ref) and not ours.requires_grad
    elif isinstance(ref, dict):
        assert list(ours.keys()) == list(ref.keys())
        assert getattr(ours, "_metadata", None) == getattr(ref, "_metadata", None)
        for k in ref:
            assert_like_deepcopy(ours[k], ref[k])
    elif isinstance(ref, (list, tuple)):
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert_like_deepcopy(a, b)
    else:
        assert ours == ref


def test_snapshot_equals_deepcopy_in_fresh_memory():
    src = state(1)
    ref = copy.deepcopy(src)
    h = tilecopy.snapshot(src)
    assert isinstance(h, tilecopy.Handle)
    snap = h.result()
    assert_like_deepcopy(snap, ref)
    assert h.result() is snap  # every call gives the same structure
    assert h.bytes_copied == h.bytes_total == sum(t.numel() * t.element_size() for t in tensors(src))
    for ours, theirs in zip(tensors(snap), tensors(src)):
        assert ours.data_ptr() != theirs.data_ptr()
    # Later writes to the sources do not reach it.
    src["model"]["layer.weight"].add_(1)
    assert torch.equal(snap["model"]["layer.weight"], ref["model"]["layer.weight"])
    # A tensor alone, blocking, and through an Engine.
    t = torch.randn(1000)
    assert torch.equal(tilecopy.snapshot(t, non_blocking=False), t)
    assert_like_deepcopy(engine().snapshot(src, non_blocking=False), copy.deepcopy(src))
    assert_like_deepcopy(tilecopy.snapshot(src, engine=engine()).result(), copy.deepcopy(src))


def test_snapshot_into_the_previous_reuses_its_tensors_and_reallocates_only_what_changed():
    e = engine()
    src = state(2)
    first = e.snapshot(src).result()
    for t in tensors(src):
        t.add_(1)
    again = e.snapshot(src, into=first).result()
    assert_like_deepcopy(again, copy.deepcopy(src))
    assert [t.data_ptr() for t in tensors(again)] == [t.data_ptr() for t in tensors(first)]
    assert all(a is b for a, b in zip(tensors(again), tensors(first)))

    # One tensor grows and one changes dtype: only those two get new memory.
    src["model"]["layer.weight"] = torch.randn(65, 300)
    src["optim"]["state"][0]["step"] = torch.tensor(4, dtype=torch.int64)
    third = e.snapshot(src, into=again, non_blocking=False)
    assert_like_deepcopy(third, copy.deepcopy(src))
    changed = {id(src["model"]["layer.weight"]), id(src["optim"]["state"][0]["step"])}
    for new, old, s in zip(tensors(third), tensors(again), tensors(src)):
        assert (new.data_ptr() == old.data_ptr()) == (id(s) not in changed)


def test_sources_requiring_grad_and_inference_tensors():
    w = torch.randn(100, requires_grad=True)
    snap = tilecopy.snapshot([w, w * 2]).result()
    assert not snap[0].requires_grad and snap[1].grad_fn is None
    assert torch.equal(snap[0], w.detach()) and torch.equal(snap[1], (w * 2).detach())
    with torch.inference_mode():
        made_inside = tilecopy.snapshot([w.detach()], non_blocking=False)
    assert made_inside[0].is_inference()
    # Outside InferenceMode an inference tensor cannot be written: into= passes it over.
    again = tilecopy.snapshot([w.detach()], into=made_inside, non_blocking=False)
    assert again[0] is not made_inside[0] and not again[0].is_inference()
    assert torch.equal(again[0], w.detach())


def test_nested_containers_and_values_are_kept():
    src = [({"a": [torch.ones(2), (torch.zeros(3), None)]},), "x", 5, [], {}, collections.OrderedDict(b=torch.ones(1))]
    snap = tilecopy.snapshot(src, non_blocking=False)
    assert_like_deepcopy(snap, copy.deepcopy(src))
    assert tilecopy.snapshot([], non_blocking=False) == []
    with pytest.raises(TypeError, match="tilecopy.snapshot"):
        tilecopy.snapshot(5)
    with pytest.raises(TypeError, match="engine must be a tilecopy.Engine"):
        tilecopy.snapshot(src, engine="default")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="levels deep"):
        tilecopy.snapshot(loop)


def test_a_tensor_off_the_cpu_is_refused_by_its_key_path_or_kept():
    src = state(3)
    src["optim"]["state"][1]["exp_avg"] = torch.empty(3, device="meta")
    with pytest.raises(tilecopy.Error, match=r"\['optim'\]\['state'\]\[1\]\['exp_avg'\] is on meta"):
        tilecopy.snapshot(src)
    with pytest.raises(tilecopy.Error, match="tensor given is on meta"):
        tilecopy.snapshot(torch.empty(2, device="meta"), non_blocking=False)
    with pytest.raises(ValueError, match="non_cpu"):
        tilecopy.snapshot(src, non_cpu="copy")
    h = tilecopy.snapshot(src, non_cpu="keep", checksum="crc32")
    snap = h.result()
    assert snap["optim"]["state"][1]["exp_avg"] is src["optim"]["state"][1]["exp_avg"]
    assert h.checksums()["optim"]["state"][1]["exp_avg"] is None
    assert torch.equal(snap["model"]["layer.weight"], src["model"]["layer.weight"])


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def raw(t):
    return t.contiguous().view(-1).view(torch.uint8).numpy().tobytes() if t.dim() else \
        t.reshape(1).view(torch.uint8).numpy().tobytes()


def test_checksums_are_a_structure_matching_the_snapshot():
    src = state(4, rows=4)
    h = tilecopy.snapshot(src, checksum="crc32")
    snap, sums = h.result(), h.checksums()
    assert sums["epoch"] is None and sums["pair"][1] is None and sums["history"][0] is None
    assert sums["optim"]["param_groups"][0]["lr"] is None
    assert type(sums["model"]) is collections.OrderedDict
    flat_sums = leaves(sums, lambda x: isinstance(x, int))
    assert flat_sums == [zlib.crc32(raw(t)) for t in tensors(snap)]
    assert flat_sums == [zlib.crc32(raw(t)) for t in tensors(src)]

    small = {"a": torch.arange(100, dtype=torch.int32), "b": [torch.ones(7, dtype=torch.float64).t()]}
    snap, sums = tilecopy.snapshot(small, checksum="crc32c", non_blocking=False)
    assert sums == {"a": crc32c(raw(small["a"])), "b": [crc32c(raw(small["b"][0]))]}
    with pytest.raises(ValueError, match="crc32c"):
        tilecopy.snapshot(small, checksum="md5")
    with pytest.raises(tilecopy.Error):
        tilecopy.snapshot(small).checksums()  # started without one


def test_cancel_while_queued_running_and_finished():
    e = engine()
    src = {"w": torch.randint(1, 100, (16 * BLOCK // 4,), dtype=torch.int32), "n": 1}
    blocker_src = torch.ones(16 * BLOCK, dtype=torch.uint8)
    blocker = e.copy_async(torch.empty_like(blocker_src), blocker_src, bytes_per_second=1, priority="background")

    queued = e.snapshot(src, bytes_per_second=1)  # background: behind the blocker
    queued.cancel()
    assert queued.done() and queued.bytes_copied == 0
    with pytest.raises(tilecopy.Error, match=f"cancelled after 0 of {16 * BLOCK} bytes"):
        queued.result()
    blocker.cancel()
    with pytest.raises(tilecopy.Error, match="cancelled"):
        blocker.wait()

    previous = e.snapshot(src).result()
    running = e.snapshot(src, into=previous, threads=1, bytes_per_second=1)
    while running.bytes_copied == 0:
        running.wait(0.001)
    running.cancel()
    with pytest.raises(tilecopy.Error, match=f"cancelled after {BLOCK} of {16 * BLOCK} bytes"):
        running.result()
    assert running.bytes_copied == BLOCK
    with pytest.raises(tilecopy.Error, match="cancelled"):
        running.checksums()

    done = e.snapshot(src, checksum="crc32")
    done.wait()
    done.cancel()
    assert torch.equal(done.result()["w"], src["w"]) and done.result()["n"] == 1
    assert done.checksums()["w"] == zlib.crc32(raw(src["w"]))


def test_blocking_snapshots_refuse_limits():
    with pytest.raises(ValueError, match="never limited"):
        tilecopy.snapshot(torch.ones(3), non_blocking=False, bytes_per_second=1e9)
    with pytest.raises(ValueError, match="tilecopy.snapshot"):
        tilecopy.snapshot(torch.ones(3), threads=0)


def exit_status_of_child(body):
    """Runs body() in a forked child; its exit status (0: body returned True)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if body() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1


def test_a_forked_child_takes_its_own_snapshot():
    src = state(5, rows=8)
    tilecopy.snapshot(src).result()  # the parent's threads exist before the fork

    def child():
        snap = tilecopy.snapshot(src, checksum="crc32c").result()
        return all(torch.equal(a, b) for a, b in zip(tensors(snap), tensors(src)))
    assert exit_status_of_child(child) == 0


def test_cancel_in_a_forked_child_leaves_the_parents_snapshot_alone():
    e = engine()
    src = {"w": torch.randint(1, 100, (8 * BLOCK // 4,), dtype=torch.int32)}
    h = e.snapshot(src, bytes_per_second=8 * BLOCK * 20)  # ~50 ms
    assert exit_status_of_child(lambda: h.cancel() is None) == 0
    assert torch.equal(h.result()["w"], src["w"])  # ran whole in the parent
