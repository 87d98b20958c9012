// What CopyEngine::copy runs in the caller for a small copy (<tilecopy/copy_engine.hpp>): the
// engine object's line that admits and counts it, the thread pointer that names its one
// counting thread, and the CPU's string copy. Also the library's own (lib/counters.hpp,
// lib/kernels/kernels.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

namespace tilecopy::detail {

// What CopyEngine::copy needs to run a small copy in the caller, without entering the library
// (after idleness a call into a shared library costs cold PLT, GOT and text pages: about as much
// as the whole 4 KiB copy). Inside the CopyEngine object, in one cache line with its pointer
// to the engine.
struct SmallCopyLine {
    static constexpr std::uintptr_t kNoOwner = ~std::uintptr_t(0); // no thread pointer is this
    // Copies of fewer bytes run here with the string copy: the least of the strategy's string
    // copy, inline and non-temporal thresholds (0: none).
    std::size_t below = 0;
    // The thread pointer of the one thread that counts here (kNoOwner: none yet; the first
    // thread to call copy() takes it in the library). Other threads' copies go through the library.
    std::atomic<std::uintptr_t> owner{kNoOwner};
    // Written by the owner alone (relaxed load and store, no locked instruction); stats() adds
    // them to copies, inline_copies and bytes.
    std::atomic<std::uint64_t> copies{0};
    std::atomic<std::uint64_t> bytes{0};
};

// This thread's thread pointer (%fs:0 on x86-64 Linux, read without a TLS lookup); 0 where there
// is none to read, and then no copy takes the path in the caller.
inline std::uintptr_t thread_pointer() noexcept {
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
    std::uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
#else
    return 0;
#endif
}

// Whether `rep movsb` would run slowly for this pair: with the destination 1-63 bytes past the
// source modulo 4 KiB (measured on an AMD EPYC: 64 KiB at 1.6-1.8 GB/s against 33-40 GB/s at
// other distances).
inline bool string_copy_slow(const void* dst, const void* src) noexcept {
    const std::uintptr_t distance = (reinterpret_cast<std::uintptr_t>(dst) - reinterpret_cast<std::uintptr_t>(src)) & 4095;
    return distance - 1 < 63;
}

#if defined(__x86_64__) && defined(__GNUC__)
// A copy in 16-byte vectors (SSE2, which every x86-64 has), for the distances where the string
// copy runs slowly: glibc's memcpy itself uses `rep movsb` from 4 KiB and ran as slowly there
// (4-31 KiB at 1.6-1.8 GB/s).
inline void vector_copy(void* dst, const void* src, std::size_t bytes) noexcept {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    for (; bytes >= 64; bytes -= 64, d += 64, s += 64) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16));
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32));
        const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 48));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d), a);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 16), b);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 32), c);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 48), e);
    }
    if (bytes) std::memcpy(d, s, bytes); // under 64 bytes: memcpy's own vector moves
}
#endif

// The CPU's string copy (`rep movsb`; elsewhere memcpy), or 16-byte vectors where it would run
// slowly.
inline void string_copy(void* dst, const void* src, std::size_t bytes) noexcept {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_expect(string_copy_slow(dst, src), 0)) {
        vector_copy(dst, src, bytes);
        return;
    }
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(bytes) : : "memory");
#else
    std::memcpy(dst, src, bytes);
#endif
}

} // namespace tilecopy::detail
