// Tensors in tilecopy memory (tensor_memory.cpp), for the adapter's other users of it
// (snapshot.cpp): the checks, layout and allocation behind CopyEngine::clone_batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include <tilecopy/copy_engine.hpp>

namespace tilecopy::detail {

// Strided CPU memory (conjugate and negative views included) or a tilecopy::Error naming what
// the tensor is instead (and its index in a batch); nothing has been allocated when it throws.
void check_strided_cpu(const at::Tensor& t, const char* call, std::optional<std::size_t> index);

// torch's layout for clone() and empty_like(memory_format=preserve) of a strided tensor.
std::vector<std::int64_t> preserved_strides(const at::Tensor& t);

// The tensors made for a clone, and the ones the copy writes: the same storages, sizes and
// strides in tensors of their own, whose version counters take the copy's bumps, so that a clone
// starts at version 0 as torch's does (its clone() writes below the version counter).
struct Made {
    std::vector<at::Tensor> tensors;
    std::vector<at::Tensor> writers;
};

// Tensors like `tensors` (torch's preserved layout, their dtypes) in one allocation; checked
// first, whole. Made outside InferenceMode they are normal tensors, inside it inference
// tensors, as torch's factories make them; none requires grad.
Made make_like(CopyEngine& engine, const std::vector<at::Tensor>& tensors, const AllocOptions& options,
               const char* call, bool indexed, bool writers);

// The sources as the copies read them: a tensor carrying a forward-mode gradient is detached,
// so that the clone gets none (the copies run under no-grad, which leaves forward mode on).
std::vector<at::Tensor> sources_of(const std::vector<at::Tensor>& tensors);

} // namespace tilecopy::detail
