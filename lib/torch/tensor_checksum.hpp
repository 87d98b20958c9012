// Checksums of tensor pairs as the one route writes them (carry_out, tensor_batch.cpp): a pair
// whose kernel runs write its destination's memory front to back gets its checksum from those
// runs in the same pass; any other pair's is taken from its destination once everything is
// written (CopyEngine::checksum(tensor): of dst.contiguous()'s bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include <tilecopy/checksum.hpp>
#include <tilecopy/request.hpp>

namespace tilecopy::detail {

struct PairChecksums {
    Checksum kind = Checksum::none; // never none: carry_out takes no PairChecksums then
    std::uint32_t* out = nullptr;   // one per pair
    std::vector<char> taken;        // per pair: out[i] came from the kernels' pass
};

// Whether `t` has memory whose bytes can be checksummed (a dense CPU tensor with storage).
bool has_plain_memory(const at::Tensor& t);

// Throws tilecopy::Error (nothing computed, nothing written) when a destination has no such
// memory; `indexed`: the message names the pair.
void check_checksummable(const at::Tensor* dsts, std::size_t count, bool indexed);

// True when the regions write dst's memory front to back without a gap (and dst holds its
// values as they are: no conjugate or negative bit), so that their order is the destination's
// row-major order.
bool covers_in_order(const Region* regions, std::size_t count, const at::Tensor& dst, std::size_t dst_element);

// The checksum of consecutive parts (count elements of element_size bytes each) from theirs, in order.
std::uint32_t combine_in_order(Checksum kind, const std::uint32_t* crcs, const Region* parts, std::size_t count,
                               std::size_t element_size);

} // namespace tilecopy::detail
