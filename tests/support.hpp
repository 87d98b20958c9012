// Test helpers: destinations with canary bytes on both sides, deterministic fill patterns.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tilecopy::test {

// Under a sanitizer every access is checked, and ThreadSanitizer shadows each byte with four:
// a buffer that need only be large enough for a copy of it to outlast another copy is this
// many times smaller there (the sanitized copies are slower by more than that). Every
// assertion stays.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t kSanitizedDivisor = 4;
#else
constexpr std::size_t kSanitizedDivisor = 1;
#endif

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
        std::fill(storage_.begin() + (data_ - storage_.data()), storage_.begin() + (data_ - storage_.data()) + size_, 0);
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

// Fills with a pattern that differs at every byte position and between seeds. Eight bytes to a
// store: under a sanitizer each store is checked, and the tests fill hundreds of MiB.
inline void fill_pattern(unsigned char* p, std::size_t n, std::uint32_t seed) noexcept {
    std::uint32_t x = seed * 2654435761u + 12345u;
    const auto next = [&x] { return static_cast<unsigned char>((x = x * 1664525u + 1013904223u) >> 24); };
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word = 0; // byte k at the k-th address on a little-endian machine
        for (int k = 0; k < 8; ++k) word |= std::uint64_t(next()) << (8 * k);
        std::memcpy(p + i, &word, 8);
    }
    for (; i < n; ++i) p[i] = next();
}

} // namespace tilecopy::test
