// AVX-512 (F, BW, VL, DQ) kernels with F16C. Compiled with those flags only; run only after
// dispatch has checked CPUID and XCR0. Tails use byte/word masks, so nothing outside the
// ranges is ever touched.
#include <cstddef>
#include <cstdint>
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_*, GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "kernels.hpp"

#define TILECOPY_KERNEL_FILE
namespace tilecopy::kernels::avx512 {
namespace {

#include "kernel_common.hpp"

__m512i load(const Byte* p) noexcept { return _mm512_loadu_si512(p); }
void store(Byte* p, __m512i v) noexcept { _mm512_storeu_si512(p, v); }

// Up to 64 bytes. Overlapping pairs for 16 and more: on Zen 4/5 they beat masked stores.
void copy_upto_64(Byte* d, const Byte* s, std::size_t n) noexcept {
    if (n >= 32) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + n - 32));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), a);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + n - 32), b);
    } else if (n >= 16) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d), a);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), b);
    } else if (n != 0) {
        const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
        _mm_mask_storeu_epi8(d, m, _mm_maskz_loadu_epi8(m, s));
    }
}

// Up to 256 bytes: the inline path of small copies, so no loop and no alignment work. Inlined
// into copy() as before the shared skeleton, where GCC stopped doing so by itself.
__attribute__((always_inline)) inline void copy_small(Byte* d, const Byte* s, std::size_t n) noexcept {
    if (n <= 64) {
        copy_upto_64(d, s, n);
    } else if (n <= 128) {
        const __m512i a = load(s), b = load(s + n - 64);
        store(d, a);
        store(d + n - 64, b);
    } else {
        const __m512i a = load(s), b = load(s + 64), c = load(s + n - 128), e = load(s + n - 64);
        store(d, a);
        store(d + 64, b);
        store(d + n - 128, c);
        store(d + n - 64, e);
    }
}

struct Zmm {
    using Vec = __m512i;
    static constexpr std::size_t kWidth = 64;
    // Below head + 256 bytes a non-temporal copy takes the regular path.
    static constexpr std::size_t kNtMinBytes = 256;
    static Vec load(const Byte* p) noexcept { return avx512::load(p); }
    static void store(Byte* p, Vec v) noexcept { avx512::store(p, v); }
    static void store_aligned(Byte* p, Vec v) noexcept { _mm512_store_si512(p, v); }
    static void stream(Byte* p, Vec v) noexcept { _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v); }
    static void small(Byte* d, const Byte* s, std::size_t n) noexcept { copy_small(d, s, n); }
    static void copy(Byte* d, const Byte* s, std::size_t n) noexcept { copy_regular<Zmm>(d, s, n); }
};

void copy(void* dst, const void* src, std::size_t n) noexcept { copy_regular<Zmm>(dst, src, n); }
void copy_nt(void* dst, const void* src, std::size_t n) noexcept { copy_nt_skeleton<CopyLines<Zmm>>(dst, src, n); }
void copy_nt_unfenced(void* dst, const void* src, std::size_t n) noexcept {
    copy_nt_skeleton<CopyLines<Zmm>, false>(dst, src, n);
}

// --- Conversions: 16 elements per vector --------------------------------------------------

__mmask16 first(std::size_t n) noexcept { return static_cast<__mmask16>((1u << n) - 1); }

__m512i stream_pair(__m256i lo, __m256i hi) noexcept {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Ops for f32 -> 16-bit: narrow(16 floats) -> 16 halves/bf16s. Op::step (32 elements) fills
// one destination line: the non-temporal skeleton's body.
template <typename Narrow>
struct F32To16 {
    static constexpr std::size_t src_size = 4, dst_size = 2, lanes = 16, step = 32, min_bytes = 64;
    static void full(Byte* d, const Byte* s) noexcept {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), Narrow::narrow(_mm512_loadu_ps(s)));
    }
    static void partial(Byte* d, const Byte* s, std::size_t n) noexcept {
        const __mmask16 m = first(n);
        _mm256_mask_storeu_epi16(d, m, Narrow::narrow(_mm512_maskz_loadu_ps(m, s)));
    }
    static void stream_step(Byte* d, const Byte* s) noexcept {
        const __m256i lo = Narrow::narrow(_mm512_loadu_ps(s));
        const __m256i hi = Narrow::narrow(_mm512_loadu_ps(s + 64));
        _mm512_stream_si512(reinterpret_cast<__m512i*>(d), stream_pair(lo, hi));
    }
    static void regular(Byte* d, const Byte* s, std::size_t n) noexcept { convert_vectors<F32To16>(d, s, n); }
    static void edge(Byte* d, const Byte* s, std::size_t n) noexcept { convert_vectors<F32To16>(d, s, n); }
};

// Ops for 16-bit -> f32: widen(16 halves/bf16s) -> 16 floats; 16 elements fill one line.
template <typename Widen>
struct From16ToF32 {
    static constexpr std::size_t src_size = 2, dst_size = 4, lanes = 16, step = 16, min_bytes = 64;
    static void full(Byte* d, const Byte* s) noexcept {
        _mm512_storeu_si512(d, Widen::widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s))));
    }
    static void partial(Byte* d, const Byte* s, std::size_t n) noexcept {
        const __mmask16 m = first(n);
        _mm512_mask_storeu_epi32(d, m, Widen::widen(_mm256_maskz_loadu_epi16(m, s)));
    }
    static void stream_step(Byte* d, const Byte* s) noexcept {
        _mm512_stream_si512(reinterpret_cast<__m512i*>(d),
                            Widen::widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s))));
    }
    static void regular(Byte* d, const Byte* s, std::size_t n) noexcept { convert_vectors<From16ToF32>(d, s, n); }
    static void edge(Byte* d, const Byte* s, std::size_t n) noexcept { convert_vectors<From16ToF32>(d, s, n); }
};

// c10::detail::round_to_nearest_even on every lane; NaN -> 0xFFFF whatever its sign, as
// torch's vectorized copy_ (see bf16_from_f32 in scalar.cpp).
struct BF16Narrow {
    static __m256i narrow(__m512 x) noexcept {
        const __m512i u = _mm512_castps_si512(x);
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, lsb), _mm512_set1_epi32(0x7FFF));
        r = _mm512_srli_epi32(r, 16);
        const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0xFFFF));
        return _mm512_cvtepi32_epi16(r);
    }
};

// vcvtps2ph rounds like c10's fp16_ieee_from_fp32_value but keeps NaN payload bits; c10
// turns every NaN into sign | 0x7E00.
struct F16Narrow {
    static __m256i narrow(__m512 x) noexcept {
        const __m256i h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        const __m256i quiet = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16(std::int16_t(0x8000))),
                                              _mm256_set1_epi16(0x7E00));
        return _mm256_mask_blend_epi16(nan, h, quiet);
    }
};

struct BF16Widen {
    static __m512i widen(__m256i v) noexcept { return _mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16); }
};

// vcvtph2ps quiets signalling NaNs and keeps the payload, as c10's multiply by 2^-112 does.
struct F16Widen {
    static __m512i widen(__m256i v) noexcept { return _mm512_castps_si512(_mm512_cvtph_ps(v)); }
};

using ToBF16 = F32To16<BF16Narrow>;
using ToF16 = F32To16<F16Narrow>;
using FromBF16 = From16ToF32<BF16Widen>;
using FromF16 = From16ToF32<F16Widen>;

template <typename Op>
void convert(void* dst, const void* src, std::size_t count) noexcept {
    convert_vectors<Op>(static_cast<Byte*>(dst), static_cast<const Byte*>(src), count);
}

template <typename Op, bool Fence = true>
void convert_nt(void* dst, const void* src, std::size_t count) noexcept {
    copy_nt_skeleton<Op, Fence>(dst, src, count);
}

} // namespace

const KernelSet kernel_set = {
    "avx512",
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

} // namespace tilecopy::kernels::avx512
