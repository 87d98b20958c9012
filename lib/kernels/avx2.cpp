// AVX2 kernels with F16C (256-bit). Compiled with those flags only; run only after dispatch
// has checked CPUID and XCR0. AVX2 has no 16-bit masked stores, so conversion tails go
// through the scalar reference.
#include <cstddef>
#include <cstdint>
#include <immintrin.h>

#include "kernels.hpp"

#define TILECOPY_KERNEL_FILE
namespace tilecopy::kernels::avx2 {
namespace {

#include "kernel_common.hpp"

__m256i load(const Byte* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
void store(Byte* p, __m256i v) noexcept { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

// Moves n bytes as two possibly overlapping words of `Width` bytes (Width <= n <= 2 Width).
template <std::size_t Width>
void copy_pair(Byte* d, const Byte* s, std::size_t n) noexcept {
    unsigned char a[Width], b[Width];
    copy_bytes(a, s, Width);
    copy_bytes(b, s + n - Width, Width);
    copy_bytes(d, a, Width);
    copy_bytes(d + n - Width, b, Width);
}

// Up to 256 bytes: the inline path of small copies, so no loop and no alignment work.
void copy_small(Byte* d, const Byte* s, std::size_t n) noexcept {
    if (n <= 16) {
        if (n >= 8) {
            copy_pair<8>(d, s, n);
        } else if (n >= 4) {
            copy_pair<4>(d, s, n);
        } else if (n >= 2) {
            copy_pair<2>(d, s, n);
        } else if (n == 1) {
            *d = *s;
        }
    } else if (n <= 32) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d), a);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), b);
    } else if (n <= 64) {
        const __m256i a = load(s), b = load(s + n - 32);
        store(d, a);
        store(d + n - 32, b);
    } else if (n <= 128) {
        const __m256i a = load(s), b = load(s + 32), c = load(s + n - 64), e = load(s + n - 32);
        store(d, a);
        store(d + 32, b);
        store(d + n - 64, c);
        store(d + n - 32, e);
    } else {
        const __m256i a = load(s), b = load(s + 32), c = load(s + 64), e = load(s + 96);
        const __m256i f = load(s + n - 128), g = load(s + n - 96), h = load(s + n - 64), i = load(s + n - 32);
        store(d, a);
        store(d + 32, b);
        store(d + 64, c);
        store(d + 96, e);
        store(d + n - 128, f);
        store(d + n - 96, g);
        store(d + n - 64, h);
        store(d + n - 32, i);
    }
}

struct Ymm {
    using Vec = __m256i;
    static constexpr std::size_t kWidth = 32;
    // Below head + 256 bytes a non-temporal copy takes the regular path.
    static constexpr std::size_t kNtMinBytes = 256;
    static Vec load(const Byte* p) noexcept { return avx2::load(p); }
    static void store(Byte* p, Vec v) noexcept { avx2::store(p, v); }
    static void store_aligned(Byte* p, Vec v) noexcept { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
    static void stream(Byte* p, Vec v) noexcept { _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v); }
    static void small(Byte* d, const Byte* s, std::size_t n) noexcept { copy_small(d, s, n); }
    static void copy(Byte* d, const Byte* s, std::size_t n) noexcept { copy_regular<Ymm>(d, s, n); }
};

void copy(void* dst, const void* src, std::size_t n) noexcept { copy_regular<Ymm>(dst, src, n); }
void copy_nt(void* dst, const void* src, std::size_t n) noexcept { copy_nt_skeleton<CopyLines<Ymm>>(dst, src, n); }
void copy_nt_unfenced(void* dst, const void* src, std::size_t n) noexcept {
    copy_nt_skeleton<CopyLines<Ymm>, false>(dst, src, n);
}

// --- Conversions: 16 elements per step ----------------------------------------------------

// c10::detail::round_to_nearest_even on 8 lanes (32-bit results); NaN -> 0xFFFF as torch's
// vectorized copy_ (see bf16_from_f32 in scalar.cpp).
__m256i bf16_bits(__m256 x) noexcept {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, lsb), _mm256_set1_epi32(0x7FFF));
    r = _mm256_srli_epi32(r, 16);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(r, _mm256_set1_epi32(0xFFFF), nan);
}

// vcvtps2ph rounds like c10's fp16_ieee_from_fp32_value but keeps NaN payload bits; c10
// turns every NaN into sign | 0x7E00.
__m128i f16_bits(__m256 x) noexcept {
    const __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256i nan32 = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    const __m128i nan = _mm_packs_epi32(_mm256_castsi256_si128(nan32), _mm256_extracti128_si256(nan32, 1));
    const __m128i quiet = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16(std::int16_t(0x8000))), _mm_set1_epi16(0x7E00));
    return _mm_blendv_epi8(h, quiet, nan);
}

// Each op converts 16 elements with step(d, s, store): `store` writes them with any store.
struct ToBF16 {
    static constexpr std::size_t src_size = 4, dst_size = 2;
    static __m256i convert16(const Byte* s) noexcept {
        const __m256i lo = bf16_bits(_mm256_loadu_ps(reinterpret_cast<const float*>(s)));
        const __m256i hi = bf16_bits(_mm256_loadu_ps(reinterpret_cast<const float*>(s + 32)));
        // packus works within 128-bit lanes: put the quadwords back in order.
        return _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    }
    template <typename Store>
    static void step(Byte* d, const Byte* s, Store st) noexcept { st(d, convert16(s)); }
};

struct ToF16 {
    static constexpr std::size_t src_size = 4, dst_size = 2;
    static __m256i convert16(const Byte* s) noexcept {
        const __m128i lo = f16_bits(_mm256_loadu_ps(reinterpret_cast<const float*>(s)));
        const __m128i hi = f16_bits(_mm256_loadu_ps(reinterpret_cast<const float*>(s + 32)));
        return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    }
    template <typename Store>
    static void step(Byte* d, const Byte* s, Store st) noexcept { st(d, convert16(s)); }
};

struct FromBF16 {
    static constexpr std::size_t src_size = 2, dst_size = 4;
    static __m256i widen8(const Byte* s) noexcept {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
        return _mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16);
    }
    template <typename Store>
    static void step(Byte* d, const Byte* s, Store st) noexcept {
        st(d, widen8(s));
        st(d + 32, widen8(s + 16));
    }
};

// vcvtph2ps quiets signalling NaNs and keeps the payload, as c10's multiply by 2^-112 does.
struct FromF16 {
    static constexpr std::size_t src_size = 2, dst_size = 4;
    static __m256i widen8(const Byte* s) noexcept {
        return _mm256_castps_si256(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s))));
    }
    template <typename Store>
    static void step(Byte* d, const Byte* s, Store st) noexcept {
        st(d, widen8(s));
        st(d + 32, widen8(s + 16));
    }
};

struct StoreUnaligned {
    void operator()(Byte* d, __m256i v) const noexcept { store(d, v); }
};
struct StoreStreaming {
    void operator()(Byte* d, __m256i v) const noexcept { Ymm::stream(d, v); }
};

template <typename Op>
ConvertFn scalar_tail() noexcept;
template <>
ConvertFn scalar_tail<ToBF16>() noexcept { return scalar::kernel_set.f32_to_bf16; }
template <>
ConvertFn scalar_tail<ToF16>() noexcept { return scalar::kernel_set.f32_to_f16; }
template <>
ConvertFn scalar_tail<FromBF16>() noexcept { return scalar::kernel_set.bf16_to_f32; }
template <>
ConvertFn scalar_tail<FromF16>() noexcept { return scalar::kernel_set.f16_to_f32; }

// One conversion as convert_vectors and the non-temporal skeleton take it: 16 elements per
// step (32 or 64 destination bytes: whole aligned vectors either way), the last ones through
// the scalar reference.
template <typename Op>
struct Converter {
    static constexpr std::size_t src_size = Op::src_size, dst_size = Op::dst_size, lanes = 16, step = 16, min_bytes = 64;
    static void full(Byte* d, const Byte* s) noexcept { Op::step(d, s, StoreUnaligned{}); }
    static void partial(Byte* d, const Byte* s, std::size_t n) noexcept { scalar_tail<Op>()(d, s, n); }
    static void stream_step(Byte* d, const Byte* s) noexcept { Op::step(d, s, StoreStreaming{}); }
    static void regular(Byte* d, const Byte* s, std::size_t n) noexcept { convert_vectors<Converter>(d, s, n); }
    static void edge(Byte* d, const Byte* s, std::size_t n) noexcept { convert_vectors<Converter>(d, s, n); }
};

template <typename Op>
void convert(void* dst, const void* src, std::size_t count) noexcept {
    convert_vectors<Converter<Op>>(static_cast<Byte*>(dst), static_cast<const Byte*>(src), count);
}

template <typename Op, bool Fence = true>
void convert_nt(void* dst, const void* src, std::size_t count) noexcept {
    copy_nt_skeleton<Converter<Op>, Fence>(dst, src, count);
}

} // namespace

const KernelSet kernel_set = {
    "avx2",
    kRequiredFeatures,
    copy,
    copy_nt,
    convert<ToBF16>,
    convert_nt<ToBF16>,
    convert<FromBF16>,
    convert_nt<FromBF16>,
    convert<ToF16>,
    convert_nt<ToF16>,
    convert<FromF16>,
    convert_nt<FromF16>,
    copy_nt_unfenced,
    convert_nt<ToBF16, false>,
    convert_nt<FromBF16, false>,
    convert_nt<ToF16, false>,
    convert_nt<FromF16, false>,
};

} // namespace tilecopy::kernels::avx2
