"""Every refusal: tilecopy raises tilecopy.Error (a RuntimeError) with the message torch's own
Tensor.copy_ gives from Python for the same pair, and writes nothing. The table is the
oracle's: each case builds fresh tensors for copy_ and for tilecopy."""

import pytest
import torch

import tilecopy


def expanded():
    return torch.zeros(3, 1).expand(3, 3), torch.ones(3, 3)


def partial_overlap():
    base = torch.arange(10.0)
    return base[1:6], base[0:5]


def shape_mismatch():
    return torch.zeros(3), torch.ones(4)


def source_with_more_dims():
    return torch.zeros(3), torch.ones(2, 3)


def transposed_shape():
    return torch.zeros(2, 3), torch.ones(3, 2)


def leaf_requiring_grad():
    return torch.zeros(3, requires_grad=True), torch.ones(3)


def view_of_leaf_requiring_grad():
    return torch.zeros(4, requires_grad=True)[:2], torch.ones(2)


def inference_tensor_outside_inference_mode():
    with torch.inference_mode():
        dst = torch.zeros(3)
    return dst, torch.ones(3)


def meta_source():
    return torch.zeros(3), torch.empty(3, device="meta")


def sparse_destination():
    return torch.zeros(3).to_sparse(), torch.ones(3)


def sparse_source():
    return torch.zeros(3), torch.ones(3).to_sparse()


CASES = [expanded, partial_overlap, shape_mismatch, source_with_more_dims, transposed_shape, leaf_requiring_grad,
         view_of_leaf_requiring_grad, inference_tensor_outside_inference_mode, meta_source, sparse_destination,
         sparse_source]


def torch_message(case):
    dst, src = case()
    with pytest.raises(Exception) as refused:
        dst.copy_(src)
    return str(refused.value)


def snapshot(t):
    if t.layout != torch.strided or t.device.type != "cpu":
        return None
    with torch.no_grad():
        return t.detach().clone()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("call", ["copy_", "Engine.copy_", "copy_async", "deepspeed_py_memcpy"])
def test_refusals_carry_copy_s_message_and_write_nothing(case, call):
    expected = torch_message(case)
    dst, src = case()
    before = snapshot(dst)
    fn = {
        "copy_": tilecopy.copy_,
        "Engine.copy_": tilecopy.Engine(threads=1).copy_,
        "copy_async": lambda d, s: tilecopy.copy_async(d, s).wait(),
        "deepspeed_py_memcpy": tilecopy.deepspeed_py_memcpy,
    }[call]
    with pytest.raises(tilecopy.Error) as refused:
        fn(dst, src)
    assert isinstance(refused.value, RuntimeError)
    assert str(refused.value) == expected
    if before is not None:
        assert torch.equal(before, dst.detach())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_a_refused_pair_of_a_batch_names_its_index_and_nothing_of_the_batch_is_written(case):
    expected = torch_message(case)
    good_dsts = [torch.zeros(5000), torch.zeros(7)]
    good_srcs = [torch.arange(5000.0), torch.arange(7.0)]
    dst, src = case()
    before = snapshot(dst)
    for call in (tilecopy.copy_batch, lambda d, s: tilecopy.copy_batch_async(d, s).wait()):
        with pytest.raises(tilecopy.Error) as refused:
            call([good_dsts[0], dst, good_dsts[1]], [good_srcs[0], src, good_srcs[1]])
        message = str(refused.value)
        assert "pair 1" in message and expected in message, message
        assert not good_dsts[0].any() and not good_dsts[1].any()
        if before is not None:
            assert torch.equal(before, dst.detach())


def test_batches_of_different_lengths_are_refused():
    with pytest.raises(tilecopy.Error):
        tilecopy.copy_batch([torch.zeros(3)], [torch.ones(3), torch.ones(3)])


def test_error_is_registered_once_as_a_runtime_error_subclass():
    assert issubclass(tilecopy.Error, RuntimeError)
    assert tilecopy.Error is tilecopy._tilecopy.Error
    assert tilecopy.Error.__module__.startswith("tilecopy")



def warnings_of(call):
    """What Python's warnings module sees from call(), and what the filter "error" makes of it."""
    import warnings
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        dst = torch.zeros(3)
        call(dst, torch.full((3,), 2 + 1j, dtype=torch.complex64))
    out = [[(w.category, str(w.message)) for w in seen], dst.tolist()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Exception) as raised:
            call(torch.zeros(3), torch.ones(3, dtype=torch.complex128))
    out.append((type(raised.value), str(raised.value)))
    return out


@pytest.mark.parametrize("call", [tilecopy.copy_, tilecopy.deepspeed_py_memcpy,
                                  lambda d, s: tilecopy.copy_batch([d], [s])], ids=["copy_", "deepspeed", "batch"])
def test_copy_s_warnings_reach_python_s_warnings_module_as_from_copy(call):
    torch.set_warn_always(True)  # copy_ warns once per process otherwise
    try:
        expected = warnings_of(torch.Tensor.copy_)
        assert expected[0] and "Casting complex values to real discards the imaginary part" in expected[0][0][1]
        assert warnings_of(call) == expected
    finally:
        torch.set_warn_always(False)


@pytest.mark.parametrize("numel", [3, 100_000], ids=["run-at-submission", "on-a-lane"])
@pytest.mark.parametrize("call", ["copy_async", "copy_batch_async"])
def test_an_async_copy_that_copy_refuses_raises_at_submission(numel, call):
    """As documented: the pair is checked when it is submitted, not when it is waited for."""
    dst, src = torch.zeros(numel), torch.ones(numel).to_sparse()
    with pytest.raises(Exception) as by_torch:
        torch.zeros(numel).copy_(src)
    submit = {
        "copy_async": tilecopy.copy_async,
        "copy_batch_async": lambda d, s: tilecopy.copy_batch_async([d], [s]),
    }[call]
    with pytest.raises(tilecopy.Error) as refused:
        submit(dst, src)  # no wait(): the call itself raises
    assert str(by_torch.value) in str(refused.value)
    assert not dst.any()
