// What CopyEngine::copy runs in the caller for a small copy (<tilecopy/copy_engine.hpp>): the
// engine object's line that admits and counts it, the thread pointer that names its one
// counting thread, and the CPU's string copy. Also the library's own (lib/counters.hpp,
// lib/kernels/kernels.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

// The CPU's string copy (`rep movsb`; elsewhere memcpy). Its callers send the pairs where it runs
// slowly (string_copy_slow) elsewhere: CopyEngine::copy to the library, and the library to its
// kernel (glibc's memcpy is no way out: it uses `rep movsb` from 4 KiB and ran as slowly there).
inline void string_copy(void* dst, const void* src, std::size_t bytes) noexcept {
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(bytes) : : "memory");
#else
    std::memcpy(dst, src, bytes);
#endif
}

} // namespace tilecopy::detail
