#include "baselines.hpp"

#include <cstdint>
#include <cstring>

#include <immintrin.h>

namespace bench {

namespace {

// DeepSpeed tiles by a large count of floats; 1 GiB keeps one parallel region per tile for
// every size this benchmark times up to 1 GiB, as there.
constexpr std::size_t kTileBytes = std::size_t(1) << 30;
// One loop step: 8 unrolled load/store pairs of 64 bytes.
constexpr std::size_t kStepBytes = 8 * 64;

// The ISA flags stay on these functions only (house rule: no -mavx512f for the whole build);
// the caller checks __builtin_cpu_supports first.
__attribute__((target("avx512f"))) void copy_avx512(unsigned char* dst, const unsigned char* src,
                                                     std::size_t steps, int threads) noexcept {
    auto* d = reinterpret_cast<float*>(dst);
    auto* s = reinterpret_cast<const float*>(src);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t i = 0; i < steps * 128; i += 128) {
        __m512 v0 = _mm512_loadu_ps(s + i);
        __m512 v1 = _mm512_loadu_ps(s + i + 16);
        __m512 v2 = _mm512_loadu_ps(s + i + 32);
        __m512 v3 = _mm512_loadu_ps(s + i + 48);
        __m512 v4 = _mm512_loadu_ps(s + i + 64);
        __m512 v5 = _mm512_loadu_ps(s + i + 80);
        __m512 v6 = _mm512_loadu_ps(s + i + 96);
        __m512 v7 = _mm512_loadu_ps(s + i + 112);
        _mm512_storeu_ps(d + i, v0);
        _mm512_storeu_ps(d + i + 16, v1);
        _mm512_storeu_ps(d + i + 32, v2);
        _mm512_storeu_ps(d + i + 48, v3);
        _mm512_storeu_ps(d + i + 64, v4);
        _mm512_storeu_ps(d + i + 80, v5);
        _mm512_storeu_ps(d + i + 96, v6);
        _mm512_storeu_ps(d + i + 112, v7);
    }
}

__attribute__((target("avx2"))) void copy_avx2(unsigned char* dst, const unsigned char* src,
                                               std::size_t steps, int threads) noexcept {
    auto* d = reinterpret_cast<float*>(dst);
    auto* s = reinterpret_cast<const float*>(src);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t i = 0; i < steps * 128; i += 128) {
        __m256 v[16];
        for (int k = 0; k < 16; ++k)
            v[k] = _mm256_loadu_ps(s + i + 8 * k);
        for (int k = 0; k < 16; ++k)
            _mm256_storeu_ps(d + i + 8 * k, v[k]);
    }
}

void copy_plain(unsigned char* dst, const unsigned char* src, std::size_t steps, int threads) noexcept {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t i = 0; i < steps * kStepBytes; i += kStepBytes)
        std::memcpy(dst + i, src + i, kStepBytes);
}

using StepCopy = void (*)(unsigned char*, const unsigned char*, std::size_t, int) noexcept;

struct Choice {
    StepCopy copy;
    const char* isa;
};

Choice choose() noexcept {
    // libgcc's check includes the OS enabling the vector state (XCR0).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return {copy_avx512, "avx512"};
    if (__builtin_cpu_supports("avx2"))
        return {copy_avx2, "avx2"};
    return {copy_plain, "scalar"};
}

const Choice& chosen() noexcept {
    static const Choice choice = choose();
    return choice;
}

} // namespace

void omp_tiled_copy(void* dst, const void* src, std::size_t bytes, int threads) noexcept {
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    const std::size_t vector_bytes = bytes / kStepBytes * kStepBytes;
    const StepCopy copy = chosen().copy;
    for (std::size_t t = 0; t < vector_bytes; t += kTileBytes) {
        std::size_t tile = vector_bytes - t < kTileBytes ? vector_bytes - t : kTileBytes;
        copy(d + t, s + t, tile / kStepBytes, threads);
    }
    for (std::size_t i = vector_bytes; i < bytes; ++i)
        d[i] = s[i];
}

const char* omp_tiled_copy_isa() noexcept {
    return chosen().isa;
}

} // namespace bench
