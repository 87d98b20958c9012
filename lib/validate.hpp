// Checks of raw requests at the API edge: every fault is a tilecopy::Error thrown before
// anything is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include <tilecopy/request.hpp>

namespace tilecopy::detail {

// Throws when a region is invalid (null pointer with a non-zero count, a range past the end of
// the address space, source overlapping its own destination). `index` names the region in
// messages when the request has more than one.
// The checks are inline and the message is built out of line: after idleness every code page a
// small copy enters costs it a cold TLB and cache miss.
[[noreturn]] void reject_region(const Region& region, Conversion conversion, std::size_t index, std::size_t total);
inline bool region_valid(const Region& region, Conversion conversion) noexcept {
    if (region.count == 0) return true;
    const std::size_t des = dst_element_size(conversion);
    const std::size_t ses = src_element_size(conversion);
    if (region.dst == nullptr || region.src == nullptr) return false;
    const auto d = reinterpret_cast<std::uintptr_t>(region.dst);
    const auto s = reinterpret_cast<std::uintptr_t>(region.src);
    const std::uintptr_t top = std::numeric_limits<std::uintptr_t>::max();
    if (region.count > top / (des > ses ? des : ses) || d > top - region.count * des || s > top - region.count * ses)
        return false;
    return !(d < s + region.count * ses && s < d + region.count * des);
}
inline void validate_region(const Region& region, Conversion conversion, std::size_t index, std::size_t total) {
    if (!region_valid(region, conversion)) reject_region(region, conversion, index, total);
}

// Checks the conversion, every region, and (for several) that no region's destination overlaps
// another region's destination or source, in O(n log n). Returns the destination bytes.
std::uint64_t validate_regions(const Region* regions, std::size_t count, Conversion conversion);

} // namespace tilecopy::detail
