// The CRCs by their definition, one bit at a time (reflected polynomial, initial value and
// final xor 0xFFFFFFFF): the reference every checksum test compares against.
#pragma once

#include <cstddef>
#include <cstdint>

#include <tilecopy/checksum.hpp>

namespace tilecopy::test {

struct BitwiseCrc {
    std::uint32_t poly;
    std::uint32_t reg = 0xFFFFFFFFu;
    explicit BitwiseCrc(Checksum kind) : poly(kind == Checksum::crc32c ? 0x82F63B78u : 0xEDB88320u) {}
    void add(const void* data, std::size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < n; ++i) {
            reg ^= p[i];
            for (int b = 0; b < 8; ++b) reg = (reg >> 1) ^ (poly & (0u - (reg & 1u)));
        }
    }
    std::uint32_t value() const { return ~reg; }
};

inline std::uint32_t bitwise_crc(Checksum kind, const void* p, std::size_t n) {
    BitwiseCrc c(kind);
    c.add(p, n);
    return c.value();
}

} // namespace tilecopy::test
