"""Shared helpers for the Python tests: tensors over canary-filled storages, so that a test
compares every byte of the storage (what lies around and between the elements too), and
sources full of values that conversions treat specially."""

import math

import pytest
import torch

import tilecopy

DTYPES = [
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8,
    torch.int16, torch.int32, torch.int64, torch.bool, torch.complex64,
]

CANARY = 64  # bytes of canary before and after the elements a view reaches


def dtype_id(dtype):
    return str(dtype).replace("torch.", "")


class Storage:
    """A uint8 buffer of random bytes; `typed(dtype, numel)` views its middle as dtype."""

    def __init__(self, nbytes, generator):
        self.bytes = torch.randint(0, 256, (nbytes + 2 * CANARY,), dtype=torch.uint8, generator=generator)

    def clone(self):
        other = Storage.__new__(Storage)
        other.bytes = self.bytes.clone()
        return other

    def typed(self, dtype, numel):
        size = torch.empty((), dtype=dtype).element_size()
        return self.bytes[CANARY:CANARY + numel * size].view(dtype)


def values(dtype, numel, generator):
    """Source values: random, with NaNs, infinities, signed zeros, denormals and values out of
    float16's range among the floats; the whole range among the integers."""
    if dtype == torch.bool:
        return torch.randint(0, 2, (numel,), generator=generator).bool()
    if dtype.is_complex:
        return torch.randn(numel, dtype=dtype, generator=generator)
    if dtype.is_floating_point:
        t = torch.randn(numel, dtype=torch.float64, generator=generator) * 100
        specials = [math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-40, -1e-42, 70000.0, 3.0e38, 1e-8]
        for i, v in enumerate(specials[:numel]):
            t[(i * 7919) % numel] = v
        return t.to(dtype)
    info = torch.iinfo(dtype)
    return torch.randint(info.min, info.max, (numel,), dtype=torch.int64, generator=generator).to(dtype)


def numel_of(shape):
    n = 1
    for s in shape:
        n *= s
    return n


# Layouts: a view of `shape` over the 1-D tensor `flat`, which holds layout_numel(name, shape)
# elements at least.
def layout_view(name, flat, shape):
    n = numel_of(shape)
    if name == "contiguous":
        return flat[:n].view(shape)
    if name == "transposed":  # the last two dimensions swapped: column-major rows
        s = list(shape)
        s[-1], s[-2] = s[-2], s[-1]
        return flat[:n].view(s).transpose(-1, -2)
    if name == "strided":  # every other element of a twice-as-long innermost dimension
        s = list(shape)
        s[-1] *= 2
        return flat[:numel_of(s)].view(s)[..., ::2]
    if name == "narrowed":  # rows of a wider matrix, starting past its first column
        s = list(shape)
        s[-1] += 3
        return flat[:numel_of(s)].view(s)[..., 1:1 + shape[-1]]
    if name == "channels_last":
        return flat[:n].view(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2)
    raise ValueError(name)


def layout_numel(name, shape):
    s = list(shape)
    if name == "strided":
        s[-1] *= 2
    elif name == "narrowed":
        s[-1] += 3
    return numel_of(s)


def layouts_for(shape):
    names = ["contiguous"]
    if len(shape) >= 1 and numel_of(shape) > 0:
        names += ["strided", "narrowed"]
    if len(shape) >= 2:
        names.append("transposed")
    if len(shape) == 4:
        names.append("channels_last")
    return names


def assert_same_bytes(expected, actual, what):
    if not torch.equal(expected, actual):
        diff = (expected != actual).nonzero().flatten()
        raise AssertionError(f"{what}: {diff.numel()} bytes differ, first at byte {int(diff[0])} "
                             f"(expected {int(expected[diff[0]])}, got {int(actual[diff[0]])})")


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="session", params=["default", "engine"])
def copy_fn(request):
    """tilecopy.copy_ on the default engine, or Engine.copy_ on an engine of its own whose
    inline threshold sends copies from 4 KiB to the threads."""
    if request.param == "default":
        return tilecopy.copy_
    return tilecopy.Engine(threads=2, inline_threshold=4096).copy_
