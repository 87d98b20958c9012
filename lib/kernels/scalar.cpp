// The portable kernels and the reference every other ISA is tested against. The conversions
// reproduce c10's (c10/util/BFloat16.h round_to_nearest_even, c10/util/Half.h
// fp16_ieee_from_fp32_value / fp16_ieee_to_fp32_value) bit for bit; this file is built with
// no ISA flags, so on x86-64 it may use SSE2 only.
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels.hpp"

#define TILECOPY_KERNEL_FILE
namespace tilecopy::kernels::scalar {
namespace {

#include "kernel_common.hpp"

std::uint32_t bits_of(float f) noexcept {
    std::uint32_t u;
    copy_bytes(&u, &f, sizeof u);
    return u;
}

float float_of(std::uint32_t u) noexcept {
    float f;
    copy_bytes(&f, &u, sizeof f);
    return f;
}

// c10::detail::round_to_nearest_even, rounding to nearest even.
// Every NaN, whatever its sign or payload, becomes 0xFFFF: that is what torch 1.13's CPU
// copy_ leaves for contiguous float32 -> bfloat16 (its vectorized cvtfp32_bf16, used on every
// AVX2/AVX-512 machine), and copy_ is our oracle. c10's scalar round_to_nearest_even gives
// 0x7FC0 instead (torch's own non-vectorized paths); all non-NaN values agree bit for bit.
std::uint16_t bf16_from_f32(float f) noexcept {
    if (f != f) return 0xFFFF;
    const std::uint32_t u = bits_of(f);
    return static_cast<std::uint16_t>((u + ((u >> 16) & 1u) + 0x7FFFu) >> 16);
}

float f32_from_bf16(std::uint16_t h) noexcept { return float_of(std::uint32_t(h) << 16); }

// c10::detail::fp16_ieee_from_fp32_value (FP16 library): scaling by 2^112 then 2^-110 makes
// the FPU do the rounding; NaN becomes sign | 0x7E00.
std::uint16_t f16_from_f32(float f) noexcept {
    const float scale_to_inf = float_of(std::uint32_t(239) << 23);
    const float scale_to_zero = float_of(std::uint32_t(17) << 23);
    const std::uint32_t w = bits_of(f);
    float base = float_of(w & 0x7FFFFFFFu) * scale_to_inf * scale_to_zero;

    const std::uint32_t shl1_w = w + w;
    const std::uint32_t sign = w & 0x80000000u;
    std::uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;

    base = float_of((bias >> 1) + 0x07800000u) + base;
    const std::uint32_t bits = bits_of(base);
    const std::uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const std::uint32_t mantissa_bits = bits & 0x00000FFFu;
    const std::uint32_t nonsign = exp_bits + mantissa_bits;
    return static_cast<std::uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// c10::detail::fp16_ieee_to_fp32_value: the multiplication by 2^-112 quiets signalling NaNs.
float f32_from_f16(std::uint16_t h) noexcept {
    const std::uint32_t w = std::uint32_t(h) << 16;
    const std::uint32_t sign = w & 0x80000000u;
    const std::uint32_t two_w = w + w;

    const std::uint32_t exp_offset = std::uint32_t(0xE0) << 23;
    const float exp_scale = float_of(std::uint32_t(15) << 23);
    const float normalized_value = float_of((two_w >> 4) + exp_offset) * exp_scale;

    const std::uint32_t magic_mask = std::uint32_t(126) << 23;
    const float magic_bias = 0.5f;
    const float denormalized_value = float_of((two_w >> 17) | magic_mask) - magic_bias;

    const std::uint32_t denormalized_cutoff = std::uint32_t(1) << 27;
    const std::uint32_t result =
        sign | (two_w < denormalized_cutoff ? bits_of(denormalized_value) : bits_of(normalized_value));
    return float_of(result);
}

struct F32ToBF16 {
    using Src = float;
    using Dst = std::uint16_t;
    static Dst convert(Src v) noexcept { return bf16_from_f32(v); }
};
struct BF16ToF32 {
    using Src = std::uint16_t;
    using Dst = float;
    static Dst convert(Src v) noexcept { return f32_from_bf16(v); }
};
struct F32ToF16 {
    using Src = float;
    using Dst = std::uint16_t;
    static Dst convert(Src v) noexcept { return f16_from_f32(v); }
};
struct F16ToF32 {
    using Src = std::uint16_t;
    using Dst = float;
    static Dst convert(Src v) noexcept { return f32_from_f16(v); }
};

// Elements are read and written with memcpy: the pointers need not be element-aligned.
template <typename Conv>
void convert(void* dst, const void* src, std::size_t count) noexcept {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    for (std::size_t i = 0; i < count; ++i) {
        typename Conv::Src in;
        copy_bytes(&in, s + i * sizeof in, sizeof in);
        const typename Conv::Dst out = Conv::convert(in);
        copy_bytes(d + i * sizeof out, &out, sizeof out);
    }
}

void copy(void* dst, const void* src, std::size_t bytes) noexcept { copy_bytes(dst, src, bytes); }

#if defined(__x86_64__)

// SSE2 lines for the non-temporal skeleton: the regular parts are memcpy's.
struct Xmm {
    using Vec = __m128i;
    static constexpr std::size_t kWidth = 16;
    static constexpr std::size_t kNtMinBytes = 64;
    static Vec load(const Byte* p) noexcept { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
    // `p` is 16-byte aligned: the skeleton streams from a line boundary.
    static void stream(Byte* p, Vec v) noexcept { _mm_stream_si128(reinterpret_cast<__m128i*>(p), v); }
    static void small(Byte* d, const Byte* s, std::size_t n) noexcept { copy_bytes(d, s, n); }
    static void copy(Byte* d, const Byte* s, std::size_t n) noexcept { copy_bytes(d, s, n); }
};

void copy_nt(void* dst, const void* src, std::size_t bytes) noexcept {
    copy_nt_skeleton<CopyLines<Xmm>>(dst, src, bytes);
}
void copy_nt_unfenced(void* dst, const void* src, std::size_t bytes) noexcept {
    copy_nt_skeleton<CopyLines<Xmm>, false>(dst, src, bytes);
}

// Converts a 64-byte destination line at a time through an aligned staging line, so the
// scalar conversion can still end in streaming stores.
template <typename Conv>
struct LineConverter {
    using Src = typename Conv::Src;
    using Dst = typename Conv::Dst;
    static constexpr std::size_t src_size = sizeof(Src), dst_size = sizeof(Dst), step = 64 / sizeof(Dst),
                                 min_bytes = 64;
    static void regular(Byte* d, const Byte* s, std::size_t n) noexcept { convert<Conv>(d, s, n); }
    static void edge(Byte* d, const Byte* s, std::size_t n) noexcept { convert<Conv>(d, s, n); }
    static void stream_step(Byte* d, const Byte* s) noexcept {
        alignas(64) Byte line[64];
        convert<Conv>(line, s, step);
        CopyLines<Xmm>::stream_step(d, line);
    }
};

template <typename Conv, bool Fence = true>
void convert_nt(void* dst, const void* src, std::size_t count) noexcept {
    copy_nt_skeleton<LineConverter<Conv>, Fence>(dst, src, count);
}

#else

void copy_nt(void* dst, const void* src, std::size_t bytes) noexcept { copy_bytes(dst, src, bytes); }
void copy_nt_unfenced(void* dst, const void* src, std::size_t bytes) noexcept { copy_bytes(dst, src, bytes); }

template <typename Conv, bool Fence = true>
void convert_nt(void* dst, const void* src, std::size_t count) noexcept {
    convert<Conv>(dst, src, count);
}

#endif

} // namespace

const KernelSet kernel_set = {
    "scalar",
    kRequiredFeatures,
    copy,
    copy_nt,
    convert<F32ToBF16>,
    convert_nt<F32ToBF16>,
    convert<BF16ToF32>,
    convert_nt<BF16ToF32>,
    convert<F32ToF16>,
    convert_nt<F32ToF16>,
    convert<F16ToF32>,
    convert_nt<F16ToF32>,
    copy_nt_unfenced,
    convert_nt<F32ToBF16, false>,
    convert_nt<BF16ToF32, false>,
    convert_nt<F32ToF16, false>,
    convert_nt<F16ToF32, false>,
};

} // namespace tilecopy::kernels::scalar
