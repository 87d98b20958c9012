"""tilecopy.copy_ against torch's Tensor.copy_ as the oracle: dtypes x shapes x layouts x
conversions, compared byte for byte over the destination's whole storage (canaries included),
with the version counter."""

import pytest
import torch

import tilecopy
from conftest import (DTYPES, Storage, assert_same_bytes, dtype_id, layout_numel, layout_view, layouts_for,
                      numel_of, values)

SHAPES = [(), (0,), (0, 5), (7,), (5, 3), (2, 3, 4, 5), (16, 2100)]


def source_views(dtype, shape, generator):
    """(name, tensor) sources of `shape`: every layout, a source broadcast along the first
    dimension, and a 0-dim source broadcast to the whole shape."""
    out = []
    for name in layouts_for(shape):
        flat = values(dtype, max(layout_numel(name, shape), 1), generator)
        out.append((name, layout_view(name, flat, shape)))
    if len(shape) >= 1:
        one = (1,) + tuple(shape[1:])
        out.append(("expanded", values(dtype, max(numel_of(one), 1), generator)[:numel_of(one)].view(one).expand(shape)))
        out.append(("0-dim expanded", values(dtype, 1, generator)[0].expand(shape)))
    return out


def check_pair(copy_fn, dst_dtype, shape, dst_layout, src, generator, what):
    storage = Storage(layout_numel(dst_layout, shape) * torch.empty((), dtype=dst_dtype).element_size() + 16, generator)
    ours = storage.clone()
    n = layout_numel(dst_layout, shape)
    expected_dst = layout_view(dst_layout, storage.typed(dst_dtype, n), shape)
    actual_dst = layout_view(dst_layout, ours.typed(dst_dtype, n), shape)
    expected_dst.copy_(src)
    assert copy_fn(actual_dst, src) is actual_dst
    assert_same_bytes(storage.bytes, ours.bytes, what)
    assert actual_dst._version == expected_dst._version, what


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_same_dtype_copies_equal_copy_over_every_layout(copy_fn, dtype, shape, generator):
    for dst_layout in layouts_for(shape):
        for src_name, src in source_views(dtype, shape, generator):
            check_pair(copy_fn, dtype, shape, dst_layout, src, generator,
                       f"{dtype} {shape}: dst {dst_layout}, src {src_name}")


def conversion_pairs():
    for s in DTYPES:
        for d in DTYPES:
            # complex -> real warns through Python's warnings module from copy_, not from here
            if s != d and not (s.is_complex and not d.is_complex):
                yield s, d


@pytest.mark.parametrize("shape", [(5, 3), (16, 2100)], ids=str)
@pytest.mark.parametrize("src_dtype,dst_dtype", list(conversion_pairs()),
                         ids=[f"{dtype_id(s)}-to-{dtype_id(d)}" for s, d in conversion_pairs()])
def test_converting_copies_equal_copy(src_dtype, dst_dtype, shape, generator):
    for dst_layout in ["contiguous", "narrowed", "transposed"]:
        for src_name, src in source_views(src_dtype, shape, generator):
            if src_name in ("strided", "channels_last"):
                continue
            check_pair(tilecopy.copy_, dst_dtype, shape, dst_layout, src, generator,
                       f"{src_dtype} -> {dst_dtype} {shape}: dst {dst_layout}, src {src_name}")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=dtype_id)
def test_float32_conversions_take_the_converting_kernels(dtype, generator):
    engine = tilecopy.Engine()
    src = values(torch.float32, 64 * 1024, generator)
    for dst, source in [(torch.empty(64 * 1024, dtype=dtype), src),
                        (torch.empty(64 * 1024), src.to(dtype))]:
        before = engine.stats()["tensor_converted"]
        expected = torch.empty_like(dst).copy_(source)
        engine.copy_(dst, source)
        assert_same_bytes(expected.view(torch.uint8), dst.view(torch.uint8), f"{source.dtype} -> {dst.dtype}")
        assert engine.stats()["tensor_converted"] == before + 1


def test_no_grad_copies_into_tensors_requiring_grad_match_copy(generator):
    src = values(torch.float32, 5000, generator)
    with torch.no_grad():
        expected = torch.zeros(5000, requires_grad=True)
        actual = torch.zeros(5000, requires_grad=True)
        expected.copy_(src)
        tilecopy.copy_(actual, src)
    assert torch.equal(expected.detach().view(torch.int32), actual.detach().view(torch.int32))
    assert actual._version == expected._version
    assert actual.grad_fn is None and actual.requires_grad


def test_copies_into_non_leaf_tensors_record_autograd_history_like_copy():
    leaf = torch.ones(4, requires_grad=True)
    src = torch.arange(4.0, requires_grad=True)
    expected = leaf * 2
    actual = leaf * 2
    expected.copy_(src)
    tilecopy.copy_(actual, src)
    assert torch.equal(expected, actual)
    assert type(actual.grad_fn) is type(expected.grad_fn)
    actual.sum().backward()
    assert torch.equal(src.grad, torch.ones(4))


def test_parameters_and_subclasses_are_tensors():
    p = torch.nn.Parameter(torch.zeros(8), requires_grad=False)
    tilecopy.copy_(p, torch.arange(8.0))
    assert torch.equal(p, torch.arange(8.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64], ids=dtype_id)
def test_deepspeed_py_memcpy_returns_0_and_equals_copy(dtype, generator):
    src = values(torch.float32, 3 * 4000, generator).view(3, 4000)
    dst = torch.empty(3, 4000, dtype=dtype)
    assert tilecopy.deepspeed_py_memcpy(dst.t(), src.t()) == 0
    expected = torch.empty(3, 4000, dtype=dtype)
    expected.t().copy_(src.t())
    assert_same_bytes(expected.view(torch.uint8), dst.view(torch.uint8), f"deepspeed_py_memcpy {dtype}")


def test_calls_refuse_what_is_not_a_tensor():
    t = torch.zeros(3)
    for call in (tilecopy.copy_, tilecopy.copy_async, tilecopy.deepspeed_py_memcpy):
        with pytest.raises(TypeError, match="must be a torch.Tensor, not list"):
            call(t, [1.0, 2.0, 3.0])
        with pytest.raises(TypeError, match="dst must be a torch.Tensor, not NoneType"):
            call(None, t)
    with pytest.raises(TypeError, match=r"srcs\[1\] must be a torch.Tensor, not int"):
        tilecopy.copy_batch([t, t.clone()], [t.clone(), 5])
    with pytest.raises(TypeError, match="dsts must be a sequence of torch.Tensor, not Tensor"):
        tilecopy.copy_batch(t, [t])
    assert torch.equal(t, torch.zeros(3))
