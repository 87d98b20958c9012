"""tilecopy.clone, clone_batch, empty_like and prefault against torch: Tensor.clone().detach()
is the oracle (sizes, strides, dtype, every byte, requires_grad False); clone_batch keeps the
structure it is given; non_blocking gives a Handle whose result() is the clones."""

import collections
import pickle

import pytest
import torch

import tilecopy
from conftest import DTYPES, dtype_id, values


def layouts(dtype, generator):
    base = values(dtype, 6 * 10 * 4, generator).view(6, 10, 4)
    return {
        "contiguous": base,
        "transposed": base.transpose(0, 2),
        "every other": base[:, ::2],
        "narrowed": base[1:5, 2:9, 1:3],
        "expanded": base[:, :1].expand(6, 5, 4),
        "scalar": base[0, 0, 0],
        "empty": base[:, :0],
        "channels last": values(dtype, 2 * 3 * 4 * 5, generator).view(2, 3, 4, 5).contiguous(
            memory_format=torch.channels_last),
    }


def raw(t):
    t = t.resolve_conj().resolve_neg().contiguous()
    return t.view(-1).view(torch.uint8) if t.numel() else t.view(torch.uint8) if t.dim() else t


def assert_clone_of(ours, t):
    ref = t.clone().detach()
    assert type(ours) is torch.Tensor
    assert ours.shape == ref.shape and ours.stride() == ref.stride() and ours.dtype == ref.dtype
    assert ours.storage_offset() == 0
    assert not ours.requires_grad and ours.grad_fn is None
    assert torch.equal(raw(ours), raw(ref))
    if t.numel():
        assert ours.data_ptr() != t.data_ptr()


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_clone_is_clone_detach_in_every_layout(dtype):
    g = torch.Generator().manual_seed(5)
    sources = layouts(dtype, g)
    for name, t in sources.items():
        assert_clone_of(tilecopy.clone(t), t)
        assert_clone_of(tilecopy.clone(t, non_blocking=True).result(), t)
        like = tilecopy.empty_like(t)
        ref = torch.empty_like(t)
        assert (like.shape, like.stride(), like.dtype) == (ref.shape, ref.stride(), ref.dtype), name
    clones = tilecopy.clone_batch(sources)
    assert list(clones) == list(sources)
    for name, t in sources.items():
        assert_clone_of(clones[name], t)


def test_requires_grad_is_dropped_and_the_source_untouched():
    p = torch.nn.Parameter(torch.randn(100, 7))
    c = tilecopy.clone(p)
    assert_clone_of(c, p)
    assert c.is_leaf and p.grad is None and p._version == 0
    with torch.inference_mode():
        assert tilecopy.clone(p).is_inference()


def test_clone_batch_keeps_a_state_dicts_structure():
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.BatchNorm1d(4))
    state = model.state_dict()
    clones = tilecopy.clone_batch(state)
    assert type(clones) is type(state) and list(clones) == list(state)
    assert clones._metadata == state._metadata
    for k in state:
        assert_clone_of(clones[k], state[k])
    model.load_state_dict(clones)

    Point = collections.namedtuple("Point", "x y")
    t = torch.arange(10.0)
    nested = {"a": [t, (t * 2, 3, "text")], "b": Point(t[::2], None), "c": {}, "d": 1.5}
    out = tilecopy.clone_batch(nested)
    assert out["d"] == 1.5 and out["a"][1][1:] == (3, "text") and out["c"] == {}
    assert type(out["b"]) is Point and out["b"].y is None
    for ours, theirs in [(out["a"][0], t), (out["a"][1][0], t * 2), (out["b"].x, t[::2])]:
        assert_clone_of(ours, theirs)
    assert tilecopy.clone_batch([]) == [] and tilecopy.clone_batch(()) == ()
    # Clones survive pickling (torch.save) as ordinary tensors.
    again = pickle.loads(pickle.dumps(out["a"][0]))
    assert torch.equal(again, t)


def test_non_blocking_clone_batch_and_engines():
    t = torch.randn(1 << 20)  # 4 MiB: blocks on the arenas
    h = tilecopy.clone_batch({"w": t, "rows": [t.view(1024, 1024)[::3]]}, non_blocking=True)
    assert isinstance(h, tilecopy.Handle)
    out = h.result()
    assert h.done() and h.bytes_copied == h.bytes_total == t.numel() * 4 + 342 * 1024 * 4
    assert_clone_of(out["w"], t)
    assert_clone_of(out["rows"][0], t.view(1024, 1024)[::3])
    assert h.result() is out
    assert h.wait() is True
    assert tilecopy.copy_async(torch.empty(3), torch.ones(3)).result() is None

    engine = tilecopy.Engine(threads=2, numa="off")
    h = engine.clone(t, non_blocking=True, huge_pages="never", populate="now")
    c = engine.clone_batch([t], populate="first_copy")[0]
    del engine  # the Handle keeps it until the copy is done; the clones need it never
    assert torch.equal(h.result(), t) and torch.equal(c, t)


def test_refusals_raise_and_change_nothing():
    plain = torch.arange(12.0).view(3, 4)
    for bad, why in [(plain.to_sparse(), "its layout is Sparse"),
                     (torch.quantize_per_tensor(plain, 0.5, 0, torch.quint8), "it is quantized"),
                     (torch.empty(3, device="meta"), "it is on meta")]:
        for call in (tilecopy.clone, tilecopy.empty_like, tilecopy.prefault):
            with pytest.raises(tilecopy.Error, match=why):
                call(bad)
        with pytest.raises(tilecopy.Error, match=r"\(tensor 1 of the batch\)"):
            tilecopy.clone_batch([plain, bad])
        with pytest.raises(tilecopy.Error, match=why):
            tilecopy.clone_batch({"x": bad}, non_blocking=True)
    assert torch.equal(plain, torch.arange(12.0).view(3, 4)) and plain._version == 0
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        tilecopy.clone([plain])
    with pytest.raises(TypeError, match="list, tuple or dict"):
        tilecopy.clone_batch("text")
    with pytest.raises(ValueError, match="populate must be one of"):
        tilecopy.clone(plain, populate="later")
    with pytest.raises(ValueError, match="huge_pages must be one of"):
        tilecopy.empty_like(plain, huge_pages=True)
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested more than"):
        tilecopy.clone_batch(loop)


def test_prefault_leaves_values_and_fresh_tensors_work():
    t = torch.randn(300, 500)[:, ::2]
    before = t.clone()
    tilecopy.prefault(t)
    tilecopy.prefault(t, for_write=False)
    assert torch.equal(t, before) and t._version == 0
    fresh = tilecopy.empty_like(t, populate="first_copy")
    tilecopy.prefault(fresh)
    fresh.copy_(t)
    assert torch.equal(fresh, t)


def test_repeated_clones_reuse_a_dead_clones_memory_and_hold_the_new_values():
    # The default engine's clone pool (docs/memory.md, "The clone pool") hands a dead clone's
    # memory to the next clone of the same size: the new clone holds the new source's values.
    a = torch.arange(1 << 20, dtype=torch.float32)  # 4 MiB
    b = -a
    c = tilecopy.clone(a)
    where = c.data_ptr()
    del c
    d = tilecopy.clone(b.view(1024, 1024).t())
    assert d.data_ptr() == where
    assert_clone_of(d, b.view(1024, 1024).t())
    del d
    state = {"w": a, "b": a[:1000]}
    batch = tilecopy.clone_batch(state)
    del batch
    again = tilecopy.clone_batch({"w": b, "b": b[:1000]})
    assert torch.equal(again["w"], b) and torch.equal(again["b"], b[:1000])
