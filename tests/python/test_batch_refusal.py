"""A tensor batch that copy_ would refuse writes nothing: every pair is decided against the real
destination (inference-ness, internal overlap, Python subclasses) before any pair is written.
Each case is first run through copy_ pair by pair to show that copy_ refuses it. Asynchronous
copies refuse at submission; a batch whose result cannot depend on its order is accepted."""

import pytest
import torch
from torch.utils._pytree import tree_map

import tilecopy


class Wrapper(torch.Tensor):
    """A minimal __torch_dispatch__ wrapper subclass: every op runs on the wrapped tensor."""

    @staticmethod
    def __new__(cls, inner):
        w = torch.Tensor._make_wrapper_subclass(cls, inner.size(), strides=inner.stride(), dtype=inner.dtype,
                                                device=inner.device)
        w.inner = inner
        return w

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        unwrap = lambda t: t.inner if isinstance(t, Wrapper) else t
        return func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs or {}))


def conj_then_inference():
    d0 = torch.zeros(4, dtype=torch.complex64)
    s0 = torch.full((4,), 1 + 2j, dtype=torch.complex64).conj()
    with torch.inference_mode():
        d1 = torch.zeros(4, dtype=torch.complex64).conj()
    return [d0, d1], [s0, torch.ones(4, dtype=torch.complex64)]


def wrapper_then_expanded():
    d1 = torch.zeros(1, 4).expand(3, 4)
    return [torch.zeros(4), d1], [Wrapper(torch.ones(4)), Wrapper(torch.ones(3, 4))]


def expanded_then_wrapper():
    dsts, srcs = wrapper_then_expanded()
    return dsts[::-1], srcs[::-1]


CASES = {
    "conjugate source, then an inference destination": conj_then_inference,
    "wrapper source, then an expanded destination": wrapper_then_expanded,
    "expanded destination, then a wrapper source": expanded_then_wrapper,
}


def raw(dsts):
    """Every byte of every destination's storage."""
    return [bytes(d.detach()._storage()) for d in dsts]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("call", ["copy_batch", "copy_batch_async"])
def test_a_refused_batch_writes_no_destination(name, call):
    dsts, srcs = CASES[name]()
    with pytest.raises(RuntimeError) as by_torch:
        for d, s in zip(*CASES[name]()):
            d.copy_(s)
    before = raw(dsts)
    with pytest.raises(RuntimeError) as ours:
        if call == "copy_batch":
            tilecopy.copy_batch(dsts, srcs)
        else:
            tilecopy.copy_batch_async(dsts, srcs).wait()
    assert str(by_torch.value).splitlines()[0] in str(ours.value)
    assert raw(dsts) == before


def test_copy_async_refuses_at_submission_what_copy_refuses():
    dst = torch.zeros(3)
    with pytest.raises(RuntimeError, match="between dense and sparse"):
        tilecopy.copy_async(dst, torch.ones(3).to_sparse())  # no wait(): refused when submitted
    with pytest.raises(RuntimeError, match=r"between dense and sparse.*\(pair 1 of the batch\)"):
        tilecopy.copy_batch_async([torch.zeros(3), dst], [torch.ones(3), torch.ones(3).to_sparse()])
    assert bytes(dst._storage()) == bytes(torch.zeros(3)._storage())


def test_a_self_copy_leaves_a_batch_free_of_order():
    base = torch.rand(20)
    ref = base.clone()
    tilecopy.copy_batch([base[::2], base[0:10]], [base[::2], torch.ones(10)])
    ref[::2].copy_(ref[::2])
    ref[0:10].copy_(torch.ones(10))
    assert bytes(base._storage()) == bytes(ref._storage())


@pytest.mark.parametrize("n", [4, 100_000])
@pytest.mark.parametrize("call", ["copy_async", "copy_batch", "copy_batch_async"])
def test_a_forwarding_wrapper_source_is_copied_as_copy_copies_it(n, call):
    # Deciding a batch ahead must not run the wrapper's Python on a stand-in destination: a
    # wrapper that forwards to the real op would refuse a stand-in whose elements share memory.
    expected = torch.zeros(n)
    expected.copy_(Wrapper(torch.arange(n, dtype=torch.float32)))
    dst = torch.zeros(n)
    src = Wrapper(torch.arange(n, dtype=torch.float32))
    if call == "copy_async":
        assert tilecopy.copy_async(dst, src).wait() is True
    elif call == "copy_batch":
        tilecopy.copy_batch([dst], [src])
    else:
        assert tilecopy.copy_batch_async([dst], [src]).wait() is True
    assert torch.equal(dst, expected)
