#include "buffers.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace bench {

namespace {
constexpr std::size_t kPage = 4096;

std::size_t round_up_to_page(std::size_t bytes) {
    return (bytes + kPage - 1) / kPage * kPage;
}
} // namespace

void Buffer::Free::operator()(unsigned char* p) const noexcept {
    std::free(p);
}

Buffer::Buffer(std::size_t bytes) : size_(round_up_to_page(bytes)) {
    // aligned_alloc wants a size that is a multiple of the alignment.
    void* p = std::aligned_alloc(kPage, size_);
    if (p == nullptr)
        throw std::bad_alloc();
    memory_.reset(static_cast<unsigned char*>(p));
}

void fill_pattern(void* dst, std::size_t bytes, std::uint64_t seed) noexcept {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t words = bytes / 8;
    for (std::size_t i = 0; i < words; ++i) {
        // An odd multiplier is a bijection on 64 bits: no two words of one buffer are equal.
        std::uint64_t v = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        std::memcpy(out + i * 8, &v, 8);
    }
    for (std::size_t i = words * 8; i < bytes; ++i)
        out[i] = static_cast<unsigned char>(i * 131 + seed);
}

bool canary_intact(const unsigned char* p) noexcept {
    for (std::size_t i = 0; i < kCanaryBytes; ++i)
        if (p[i] != kCanaryByte)
            return false;
    return true;
}

BufferPair::BufferPair(std::size_t bytes, std::size_t src_offset, std::size_t dst_offset)
    : src_memory_(bytes + kMaxOffset + kCanaryBytes),
      dst_memory_(bytes + kMaxOffset + kCanaryBytes),
      src_(src_memory_.data() + src_offset % kMaxOffset),
      dst_(dst_memory_.data() + dst_offset % kMaxOffset),
      bytes_(bytes) {
    // Writing every byte of both buffers faults their pages in before anything is timed.
    fill_pattern(src_memory_.data(), src_memory_.size(), 0x5EED);
    std::memset(dst_memory_.data(), 0, dst_memory_.size());
    clear_destination();
}

void BufferPair::clear_destination() noexcept {
    std::memset(dst_, 0, bytes_);
    std::memset(dst_ + bytes_, kCanaryByte, kCanaryBytes);
}

bool BufferPair::destination_matches(const char** why) const noexcept {
    const char* reason = nullptr;
    if (std::memcmp(dst_, src_, bytes_) != 0)
        reason = "destination differs from source";
    else if (!canary_intact(dst_ + bytes_))
        reason = "bytes written past the end of the destination";
    if (why != nullptr)
        *why = reason;
    return reason == nullptr;
}

} // namespace bench
