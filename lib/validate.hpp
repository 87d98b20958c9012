// Checks of raw requests at the API edge: every fault is a tilecopy::Error thrown before
// anything is written.
#pragma once

#include <cstddef>
#include <cstdint>

#include <tilecopy/request.hpp>

namespace tilecopy::detail {

// Throws when a region is invalid (null pointer with a non-zero count, a range past the end of
// the address space, source overlapping its own destination). `index` names the region in
// messages when the request has more than one.
void validate_region(const Region& region, Conversion conversion, std::size_t index, std::size_t total);

// Checks the conversion, every region, and (for several) that no region's destination overlaps
// another region's destination or source, in O(n log n). Returns the destination bytes.
std::uint64_t validate_regions(const Region* regions, std::size_t count, Conversion conversion);

} // namespace tilecopy::detail
