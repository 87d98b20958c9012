// The kernel interface: plain pointers and sizes, noexcept, no allocation, no threads.
// Each ISA lives in its own file and namespace, compiled with its own flags only.
#pragma once

#include <cstddef>

namespace tilecopy::kernels {

// Copies `bytes` bytes; the ranges do not overlap.
using CopyFn = void (*)(void* dst, const void* src, std::size_t bytes) noexcept;
// Converts `count` elements; the ranges do not overlap. Bit-identical to torch's CPU copy_:
// round to nearest even, NaN stays NaN (see the scalar reference in scalar.cpp).
using ConvertFn = void (*)(void* dst, const void* src, std::size_t count) noexcept;

// The `_nt` variants use non-temporal stores for the destination once it is 64-byte aligned
// and end with an sfence, so the data is globally visible when they return.
struct KernelSet {
    const char* name;
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
