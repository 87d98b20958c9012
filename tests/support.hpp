// Test helpers: destinations with canary bytes on both sides, deterministic fill patterns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tilecopy::test {

constexpr std::size_t kCanaryBytes = 128;
constexpr unsigned char kCanary = 0xA5;

// A buffer of `size` usable bytes starting `misalign` bytes past a 4096-aligned address, with
// canary bytes before and after it.
class GuardedBuffer {
public:
    GuardedBuffer(std::size_t size, std::size_t misalign = 0)
        : size_(size), storage_(size + misalign + 2 * kCanaryBytes + 4096, kCanary) {
        auto base = reinterpret_cast<std::uintptr_t>(storage_.data()) + kCanaryBytes;
        base = (base + 4095) & ~std::uintptr_t(4095);
        data_ = reinterpret_cast<unsigned char*>(base) + misalign;
        std::memset(data_, 0, size_);
    }
    unsigned char* data() noexcept { return data_; }
    const unsigned char* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

    // True when every byte outside [data, data + size) is still the canary.
    bool canaries_intact() const noexcept {
        const unsigned char* begin = storage_.data();
        const unsigned char* end = storage_.data() + storage_.size();
        for (const unsigned char* p = begin; p < data_; ++p)
            if (*p != kCanary) return false;
        for (const unsigned char* p = data_ + size_; p < end; ++p)
            if (*p != kCanary) return false;
        return true;
    }

private:
    std::size_t size_;
    std::vector<unsigned char> storage_;
    unsigned char* data_;
};

// Fills with a pattern that differs at every byte position and between seeds.
inline void fill_pattern(unsigned char* p, std::size_t n, std::uint32_t seed) noexcept {
    std::uint32_t x = seed * 2654435761u + 12345u;
    for (std::size_t i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        p[i] = static_cast<unsigned char>(x >> 24);
    }
}

} // namespace tilecopy::test
