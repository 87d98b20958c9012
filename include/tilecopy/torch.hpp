// Tensor copies with torch's copy_ semantics (libtilecopy-torch, tilecopy-torch.pc):
// CopyEngine::copy(const at::Tensor& dst, const at::Tensor& src) is declared in
// <tilecopy/copy_engine.hpp> and defined by this library.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include <tilecopy/tilecopy.hpp>

namespace tilecopy {

// The tensors of CopyEngine::clone_async / clone_batch_async and the copy that fills them.
// The tensors exist from the start; their values are the sources' once the copy is done.
// Progress, waiting and everything else a copy in flight offers are the CopyHandle's (copy());
// destroying the handle waits for the copy, as a CopyHandle does.
class TILECOPY_API TensorsHandle {
public:
    TensorsHandle() = default;
    TensorsHandle(CopyHandle copy, std::vector<at::Tensor> tensors) noexcept;

    // Waits for the copy (rethrowing its error, as CopyHandle::wait) and gives the tensors, one
    // per source in order. Every call gives them (the same tensors).
    std::vector<at::Tensor> result();
    // The tensors without waiting: read or write them only once the copy is done.
    const std::vector<at::Tensor>& tensors() const noexcept { return tensors_; }
    void wait() { copy_.wait(); }
    bool done() const noexcept { return copy_.done(); }
    CopyHandle& copy() noexcept { return copy_; }

private:
    std::vector<at::Tensor> tensors_;
    CopyHandle copy_; // declared last: destroyed first, waiting for the copy
};

// Drop-in for DeepSpeed's routine of the same name (csrc/aio/py_lib/deepspeed_py_copy.cpp):
// copies src into dest through default_engine() and returns 0. Unlike DeepSpeed's version it
// writes every element whatever the dtypes and layouts (non-contiguous destinations included),
// and throws tilecopy::Error for a pair that torch's copy_ would reject.
TILECOPY_API int deepspeed_py_memcpy(at::Tensor dest, const at::Tensor& src);

} // namespace tilecopy
