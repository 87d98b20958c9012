// The kernel interface: plain pointers and sizes, noexcept, no allocation, no threads.
// Each ISA lives in its own file and namespace, compiled with its own flags only.
#pragma once

#include <cstddef>
#include <cstdint>

#include <tilecopy/small_copy.hpp> // string_copy, string_copy_slow

namespace tilecopy::kernels {

// Copies `bytes` bytes; the ranges do not overlap.
using CopyFn = void (*)(void* dst, const void* src, std::size_t bytes) noexcept;
// Converts `count` elements; the ranges do not overlap. Bit-identical to torch's CPU copy_:
// round to nearest even, NaN stays NaN (see the scalar reference in scalar.cpp).
using ConvertFn = void (*)(void* dst, const void* src, std::size_t count) noexcept;

// What a kernel needs from the CPU, as bits of KernelSet::required: every instruction set its
// file was compiled with (its -m flags and all they imply, read from the compiler's own
// macros in kernel_common.hpp, so the mask cannot drift from lib/kernels/meson.build), and the
// register state the OS must save for them (XCR0). dispatch.cpp names and detects each bit.
enum Feature : std::uint32_t {
    kSse2 = 1u << 0,
    kSse3 = 1u << 1,
    kSsse3 = 1u << 2,
    kSse41 = 1u << 3,
    kSse42 = 1u << 4,
    kPopcnt = 1u << 5,
    kXsave = 1u << 6,
    kAvx = 1u << 7,
    kAvx2 = 1u << 8,
    kFma = 1u << 9,
    kF16c = 1u << 10,
    kAvx512f = 1u << 11,
    kAvx512bw = 1u << 12,
    kAvx512vl = 1u << 13,
    kAvx512dq = 1u << 14,
    kOsYmm = 1u << 15, // XCR0 enables SSE and AVX state
    kOsZmm = 1u << 16, // XCR0 enables opmask and ZMM state too
};

// The `_nt` variants use non-temporal stores for the destination once it is 64-byte aligned
// and end with an sfence, so the data is globally visible when they return.
struct KernelSet {
    const char* name;
    std::uint32_t required; // Feature bits
    CopyFn copy;
    CopyFn copy_nt;
    ConvertFn f32_to_bf16;
    ConvertFn f32_to_bf16_nt;
    ConvertFn bf16_to_f32;
    ConvertFn bf16_to_f32_nt;
    ConvertFn f32_to_f16;
    ConvertFn f32_to_f16_nt;
    ConvertFn f16_to_f32;
    ConvertFn f16_to_f32_nt;
    // The `_nt` kernels without their closing sfence, for a caller that runs many of them and
    // fences once before it tells anyone they are done (the scheduler: lib/crew.cpp, Job::work).
    CopyFn copy_nt_unfenced;
    ConvertFn f32_to_bf16_nt_unfenced;
    ConvertFn bf16_to_f32_nt_unfenced;
    ConvertFn f32_to_f16_nt_unfenced;
    ConvertFn f16_to_f32_nt_unfenced;
};

namespace scalar {
extern const KernelSet kernel_set;
}
namespace avx2 {
extern const KernelSet kernel_set;
}
namespace avx512 {
extern const KernelSet kernel_set;
}

} // namespace tilecopy::kernels
