// Raw requests checked before anything is written: each region alone (null pointers, address
// space, source overlapping its own destination), then the regions of a batch against each
// other. The messages name the region's index and its bytes.
#include "validate.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <tilecopy/error.hpp>

#include "overlap.hpp"

namespace tilecopy::detail {

namespace {

std::string hex(const void* p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, reinterpret_cast<std::uintptr_t>(p));
    return buf;
}

enum class Fault { NullDestination, NullSource, PastAddressSpace, Overlap };

// Error messages are built only when something is wrong: validation runs on every copy.
[[noreturn]] void reject(const Region& region, Conversion conversion, std::size_t index, std::size_t total,
                         Fault fault) {
    const std::size_t des = dst_element_size(conversion);
    const std::size_t ses = src_element_size(conversion);
    std::string msg = "tilecopy: ";
    if (total > 1) msg += "region " + std::to_string(index) + ": ";
    const std::string what = std::to_string(region.count) + (conversion == Conversion::None ? " bytes" : " elements");
    switch (fault) {
    case Fault::NullDestination: msg += "copy of " + what + " to a null destination pointer"; break;
    case Fault::NullSource: msg += "copy of " + what + " from a null source pointer"; break;
    case Fault::PastAddressSpace:
        msg += "copy of " + what + " from " + hex(region.src) + " to " + hex(region.dst) + " runs past the end of the address space";
        break;
    case Fault::Overlap:
        msg += "source [" + hex(region.src) + ", +" + std::to_string(region.count * ses) + ") and destination [" +
               hex(region.dst) + ", +" + std::to_string(region.count * des) + ") overlap";
        break;
    }
    throw Error(msg);
}

} // namespace

void reject_region(const Region& region, Conversion conversion, std::size_t index, std::size_t total) {
    const std::size_t des = dst_element_size(conversion);
    const std::size_t ses = src_element_size(conversion);
    if (region.dst == nullptr) reject(region, conversion, index, total, Fault::NullDestination);
    if (region.src == nullptr) reject(region, conversion, index, total, Fault::NullSource);
    const auto d = reinterpret_cast<std::uintptr_t>(region.dst);
    const auto s = reinterpret_cast<std::uintptr_t>(region.src);
    const std::uintptr_t top = std::numeric_limits<std::uintptr_t>::max();
    const std::size_t max_count = top / std::max(des, ses);
    if (region.count > max_count || d > top - region.count * des || s > top - region.count * ses)
        reject(region, conversion, index, total, Fault::PastAddressSpace);
    reject(region, conversion, index, total, Fault::Overlap);
}

namespace {

[[noreturn]] void reject_pair(const Span& a, const Span& b) {
    const Span& first = a.owner < b.owner ? a : b;
    const Span& second = a.owner < b.owner ? b : a;
    auto name = [](const Span& s) {
        return std::string(s.written ? "destination" : "source") + " of region " + std::to_string(s.owner) + " [" +
               hex(reinterpret_cast<const void*>(s.begin)) + ", +" + std::to_string(s.end - s.begin) + ")";
    };
    throw Error("tilecopy: regions " + std::to_string(first.owner) + " and " + std::to_string(second.owner) +
                " overlap: the " + name(first) + " and the " + name(second) +
                " share bytes (regions of one batch run in parallel: no destination may overlap another region's "
                "destination or source)");
}

// Regions of one batch run in parallel, so no region's destination may overlap another
// region's destination or source (sources may overlap each other; a region's own source and
// destination are validate_region's).
void check_cross_overlap(const Region* regions, std::size_t count, Conversion conversion) {
    const std::size_t des = dst_element_size(conversion);
    const std::size_t ses = src_element_size(conversion);
    std::vector<Span> spans;
    spans.reserve(2 * count);
    for (std::size_t i = 0; i < count; ++i) {
        if (regions[i].count == 0) continue;
        const auto d = reinterpret_cast<std::uintptr_t>(regions[i].dst);
        const auto s = reinterpret_cast<std::uintptr_t>(regions[i].src);
        spans.push_back(Span{d, d + regions[i].count * des, i, true});
        spans.push_back(Span{s, s + regions[i].count * ses, i, false});
    }
    SpanConflict conflict;
    if (find_conflict(spans, conflict)) reject_pair(conflict.first, conflict.second);
}

} // namespace

std::uint64_t validate_regions(const Region* regions, std::size_t count, Conversion conversion) {
    if (static_cast<std::uint8_t>(conversion) > static_cast<std::uint8_t>(Conversion::F16ToF32))
        throw Error("tilecopy: unknown Conversion value " + std::to_string(static_cast<int>(conversion)));
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
        validate_region(regions[i], conversion, i, count);
        total += regions[i].count * dst_element_size(conversion);
    }
    if (count > 1) {
        try {
            check_cross_overlap(regions, count, conversion);
        } catch (const std::bad_alloc&) {
            throw Error("tilecopy: out of memory checking " + std::to_string(count) + " regions for overlap");
        }
    }
    return total;
}

} // namespace tilecopy::detail
