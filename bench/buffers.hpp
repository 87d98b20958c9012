// Page-aligned, pre-touched buffers for the benchmark, with a canary after each destination
// so that a method writing past its end fails verification instead of posting a number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace bench {

// Room after every destination for an offset (misaligned and 4K-aliased rows) and a canary.
inline constexpr std::size_t kMaxOffset = 4096;
inline constexpr std::size_t kCanaryBytes = 64;
inline constexpr unsigned char kCanaryByte = 0xCD;

// aligned_alloc(4096) memory, freed on destruction.
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(std::size_t bytes); // throws std::bad_alloc
    unsigned char* data() const noexcept { return memory_.get(); }
    std::size_t size() const noexcept { return size_; }

private:
    struct Free {
        void operator()(unsigned char* p) const noexcept;
    };
    std::unique_ptr<unsigned char, Free> memory_;
    std::size_t size_ = 0;
};

// A source and a destination of `bytes` bytes starting `src_offset` / `dst_offset` bytes past a
// 4 KiB boundary. The source holds a pattern unique per 8-byte word (a copy from the wrong
// place cannot pass), the destination is zeroed, and every page of both has been touched.
class BufferPair {
public:
    BufferPair(std::size_t bytes, std::size_t src_offset, std::size_t dst_offset);

    unsigned char* src() const noexcept { return src_; }
    unsigned char* dst() const noexcept { return dst_; }
    std::size_t bytes() const noexcept { return bytes_; }

    // Zeroes the destination and re-arms the canary, so that the next copy must write it all.
    void clear_destination() noexcept;
    // Whether the destination equals the source and the canary after it is intact; when not,
    // `why` says where the first difference is.
    bool destination_matches(const char** why = nullptr) const noexcept;

private:
    Buffer src_memory_;
    Buffer dst_memory_;
    unsigned char* src_ = nullptr;
    unsigned char* dst_ = nullptr;
    std::size_t bytes_ = 0;
};

// Fills `bytes` bytes with a pattern unique per 8-byte word (positions, not values, repeat).
void fill_pattern(void* dst, std::size_t bytes, std::uint64_t seed) noexcept;

// Whether the `kCanaryBytes` bytes at `p` are all kCanaryByte.
bool canary_intact(const unsigned char* p) noexcept;

} // namespace bench
