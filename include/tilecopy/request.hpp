// The one low-level request every public overload reduces to: a list of regions, each a
// destination and a source of `count` elements, with an optional fused conversion.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tilecopy {

enum class Conversion : std::uint8_t {
    None,      // byte copy: count is in bytes
    F32ToBF16, // count is in elements from here on
    BF16ToF32,
    F32ToF16,
    F16ToF32,
};

// Bytes of one element of the destination and of the source for a conversion.
constexpr std::size_t dst_element_size(Conversion c) noexcept {
    return c == Conversion::None ? 1 : (c == Conversion::F32ToBF16 || c == Conversion::F32ToF16) ? 2 : 4;
}
constexpr std::size_t src_element_size(Conversion c) noexcept {
    return c == Conversion::None ? 1 : (c == Conversion::F32ToBF16 || c == Conversion::F32ToF16) ? 4 : 2;
}

struct Region {
    void* dst;
    const void* src;
    std::size_t count;
};

} // namespace tilecopy
