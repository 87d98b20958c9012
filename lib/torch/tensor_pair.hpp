// One tensor pair checked against torch's copy_ rules (tensor_rules.cpp) and reduced to what
// carries it out: nothing, regions on the kernels, or torch's copy_. CopyEngine::copy,
// copy_async and the batches (tensor_batch.cpp) all go through plan_pair, so the rules live in
// one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include <tilecopy/copy_engine.hpp>

#include "../overlap.hpp"
#include "run_layout.hpp"

namespace tilecopy::detail {

enum class PairAction : std::uint8_t {
    Nothing, // copy_ would write every element onto itself, or there are none
    Kernels, // layout.run_count runs through the kernels for `conversion`
    Torch,   // torch's copy_
};

struct PairPlan {
    PairAction action = PairAction::Nothing;
    TensorPath path = TensorPath::Fallback; // counted for Kernels and Torch
    Conversion conversion = Conversion::None;
    RunLayout layout; // Kernels
    char* dst_data = nullptr;
    const char* src_data = nullptr;
    std::size_t dst_element = 0;
    std::size_t src_element = 0;
    std::uint64_t dst_bytes = 0; // what the pair adds to a handle's progress
    // Bytes the pair may write and read, for the overlap check between pairs; empty when it
    // writes nothing or its tensors hold no plain memory (sparse, meta, ...). A non-empty extent
    // covers its tensor's strided CPU memory, whose element sets the batch compares where extents
    // meet. No tensor is held: a plan lives beside the pair's tensors, and ten thousand pairs'
    // reference counts would cost locked instructions of their own.
    Span dst_extent, src_extent;
};

// Throws tilecopy::Error with nothing written for a pair copy_ would refuse (with copy_'s
// message), or that tilecopy refuses (see tensor_rules.cpp); `index` names the pair within a batch.
// `decide`: also ask copy_ (on a twin, dry_run) of pairs outside the fast paths' reach, for a
// batch or a copy carried out later; else copy_ decides such a pair when it writes it.
// min_run_bytes: the engine's (adapter::min_run_bytes).
PairPlan plan_pair(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index, bool decide,
                   std::size_t min_run_bytes);

// torch's copy_, its refusals rethrown as tilecopy::Error with copy_'s message.
void torch_copy(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index);

// Bytes [begin, end) a strided tensor with CPU memory may touch (torch forbids negative strides);
// an empty span for an undefined or empty tensor.
Span extent_of(const at::Tensor& t, std::size_t pair, bool written);

// Whether the libtorch loaded at run time is the minor version tilecopy was built against
// (torch_version.cpp); when not, every tensor copy goes to copy_.
bool loaded_torch_matches();

// "Float[2, 3] strides [1, 2] on cpu", for messages.
std::string tensor_text(const at::Tensor& t);

} // namespace tilecopy::detail
