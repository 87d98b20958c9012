// Tensor copies with torch's copy_ semantics (libtilecopy-torch, tilecopy-torch.pc):
// CopyEngine::copy(const at::Tensor& dst, const at::Tensor& src) is declared in
// <tilecopy/copy_engine.hpp> and defined by this library.
#pragma once

#include <ATen/core/Tensor.h>

#include <tilecopy/tilecopy.hpp>

namespace tilecopy {

// Drop-in for DeepSpeed's routine of the same name (csrc/aio/py_lib/deepspeed_py_copy.cpp):
// copies src into dest through default_engine() and returns 0. Unlike DeepSpeed's version it
// writes every element whatever the dtypes and layouts (non-contiguous destinations included),
// and throws tilecopy::Error for a pair that torch's copy_ would reject.
TILECOPY_API int deepspeed_py_memcpy(at::Tensor dest, const at::Tensor& src);

} // namespace tilecopy
