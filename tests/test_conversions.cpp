// Every compiled conversion kernel against the scalar reference, which is itself pinned to
// hand-computed bit patterns and independent roundings.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <tilecopy/error.hpp>

#include "kernel_support.hpp"

using tilecopy::detail::compiled_kernels;
using tilecopy::detail::cpu_supports;
using tilecopy::kernels::ConvertFn;
using tilecopy::kernels::CopyFn;
using tilecopy::kernels::KernelSet;
using tilecopy::test::all_canary;
using tilecopy::test::fill_pattern;
using tilecopy::test::GuardedBuffer;
using tilecopy::test::kCanary;
using tilecopy::test::runnable_kernels;

namespace {

std::uint32_t bits_of(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

float float_of(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

struct ConvertVariant {
    const char* name;
    ConvertFn KernelSet::*fn;
    ConvertFn KernelSet::*reference; // the regular variant, run from the scalar kernel
    std::size_t src_size, dst_size;
};
const ConvertVariant kConvertVariants[] = {
    {"f32_to_bf16", &KernelSet::f32_to_bf16, &KernelSet::f32_to_bf16, 4, 2},
    {"f32_to_bf16_nt", &KernelSet::f32_to_bf16_nt, &KernelSet::f32_to_bf16, 4, 2},
    {"bf16_to_f32", &KernelSet::bf16_to_f32, &KernelSet::bf16_to_f32, 2, 4},
    {"bf16_to_f32_nt", &KernelSet::bf16_to_f32_nt, &KernelSet::bf16_to_f32, 2, 4},
    {"f32_to_f16", &KernelSet::f32_to_f16, &KernelSet::f32_to_f16, 4, 2},
    {"f32_to_f16_nt", &KernelSet::f32_to_f16_nt, &KernelSet::f32_to_f16, 4, 2},
    {"f16_to_f32", &KernelSet::f16_to_f32, &KernelSet::f16_to_f32, 2, 4},
    {"f16_to_f32_nt", &KernelSet::f16_to_f32_nt, &KernelSet::f16_to_f32, 2, 4},
    {"f32_to_bf16_nt_unfenced", &KernelSet::f32_to_bf16_nt_unfenced, &KernelSet::f32_to_bf16, 4, 2},
    {"bf16_to_f32_nt_unfenced", &KernelSet::bf16_to_f32_nt_unfenced, &KernelSet::bf16_to_f32, 2, 4},
    {"f32_to_f16_nt_unfenced", &KernelSet::f32_to_f16_nt_unfenced, &KernelSet::f32_to_f16, 4, 2},
    {"f16_to_f32_nt_unfenced", &KernelSet::f16_to_f32_nt_unfenced, &KernelSet::f16_to_f32, 2, 4},
};

const KernelSet& reference_kernel() { return tilecopy::kernels::scalar::kernel_set; }

// Float bit patterns where rounding goes wrong: every exponent and sign with zero, one,
// all-ones and random mantissas, ties and near-ties at every bit position (round half to even
// both ways), denormals, infinities, NaNs with payloads (quiet and signalling).
std::vector<std::uint32_t> f32_edge_inputs() {
    std::vector<std::uint32_t> out;
    std::uint32_t x = 12345;
    for (std::uint32_t sign : {0u, 0x80000000u}) {
        for (std::uint32_t exp = 0; exp < 256; ++exp) {
            std::vector<std::uint32_t> mantissas = {0, 1, 2, 3, 0x7FFFFF, 0x7FFFFE, 0x400000, 0x400001, 0x3FFFFF};
            for (int b = 0; b < 23; ++b) {
                const std::uint32_t half = 1u << b;
                mantissas.insert(mantissas.end(), {half, half - 1, half + 1, half | (half << 1),
                                                   (half | (half << 1)) - 1, (half | (half << 1)) + 1});
            }
            for (int r = 0; r < 24; ++r) {
                x = x * 1664525u + 1013904223u;
                mantissas.push_back(x >> 9);
            }
            for (std::uint32_t m : mantissas) out.push_back(sign | (exp << 23) | (m & 0x7FFFFF));
        }
    }
    return out;
}

// An independent f32 -> f16 rounding (in double, round half to even by nearbyint) to pin the
// scalar reference; NaN -> sign | 0x7E00 as c10 does.
std::uint16_t expected_f16(std::uint32_t u) {
    const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000);
    const float f = float_of(u);
    if (f != f) return sign | 0x7E00;
    const double a = std::fabs(double(f));
    if (a == 0) return sign;
    const int e = std::max(std::ilogb(a), -14);
    const double quantum = std::ldexp(1.0, e - 10);
    const double r = std::nearbyint(a / quantum) * quantum;
    if (r >= 65520.0 || std::isinf(a)) return sign | 0x7C00;
    if (r == 0) return sign;
    const int re = std::ilogb(r);
    if (re < -14) return sign | std::uint16_t(r / std::ldexp(1.0, -24));
    if (re + 15 >= 31) return sign | 0x7C00;
    return sign | std::uint16_t((re + 15) << 10) | std::uint16_t(r / std::ldexp(1.0, re - 10) - 1024);
}

// An independent f16 -> f32 decoding; NaNs come back quiet with their payload.
std::uint32_t expected_f32_from_f16(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
    const int e = (h >> 10) & 31;
    const std::uint32_t m = h & 0x3FF;
    if (e == 31) return sign | 0x7F800000u | (m << 13) | (m ? 0x400000u : 0u);
    const float v = std::ldexp(float(m + (e ? 1024 : 0)), (e ? e : 1) - 25);
    return sign | bits_of(v);
}

// Converts `count` elements into dst.data() + dst_offset and compares with the reference;
// everything outside the window must still be the canary. Restores the window afterwards.
bool convert_is_exact(ConvertFn fn, ConvertFn reference, const ConvertVariant& v, GuardedBuffer& dst,
                      std::size_t dst_offset, const unsigned char* src, std::size_t count,
                      std::vector<unsigned char>& expected) {
    const std::size_t bytes = count * v.dst_size;
    expected.resize(bytes);
    reference(expected.data(), src, count);
    unsigned char* window = dst.data() + dst_offset;
    fn(window, src, count);
    const bool ok = (bytes == 0 || std::memcmp(window, expected.data(), bytes) == 0) && all_canary(dst.data(), dst_offset) &&
                    all_canary(window + bytes, dst.size() - dst_offset - bytes);
    std::memset(window, kCanary, bytes);
    return ok;
}

// Source bytes for a conversion: f32 edge patterns for float sources, every 16-bit pattern
// in a scrambled order for 16-bit sources.
void fill_source(unsigned char* p, std::size_t count, std::size_t src_size) {
    if (src_size == 4) {
        static const std::vector<std::uint32_t> edges = f32_edge_inputs();
        for (std::size_t i = 0; i < count; ++i) {
            const std::uint32_t u = edges[(i * 7919) % edges.size()];
            std::memcpy(p + 4 * i, &u, 4);
        }
    } else {
        for (std::size_t i = 0; i < count; ++i) {
            const std::uint16_t h = std::uint16_t(i * 40503u + 17);
            std::memcpy(p + 2 * i, &h, 2);
        }
    }
}

} // namespace

TEST_CASE("the scalar reference rounds like torch for hand-computed values") {
    const KernelSet& ref = reference_kernel();
    auto to_bf16 = [&](std::uint32_t u) {
        std::uint16_t h;
        ref.f32_to_bf16(&h, &u, 1);
        return h;
    };
    auto to_f16 = [&](std::uint32_t u) {
        std::uint16_t h;
        ref.f32_to_f16(&h, &u, 1);
        return h;
    };
    auto from_f16 = [&](std::uint16_t h) {
        std::uint32_t u;
        ref.f16_to_f32(&u, &h, 1);
        return u;
    };
    auto from_bf16 = [&](std::uint16_t h) {
        std::uint32_t u;
        ref.bf16_to_f32(&u, &h, 1);
        return u;
    };
    CHECK(to_bf16(0x3F800000u) == 0x3F80);   // 1.0
    CHECK(to_bf16(0x3F808000u) == 0x3F80);   // tie, even stays
    CHECK(to_bf16(0x3F818000u) == 0x3F82);   // tie, odd rounds up
    CHECK(to_bf16(0x3F808001u) == 0x3F81);   // above the tie
    CHECK(to_bf16(0x7F7FFFFFu) == 0x7F80);   // FLT_MAX overflows to inf
    CHECK(to_bf16(0xFF800000u) == 0xFF80);   // -inf
    CHECK(to_bf16(0x00000001u) == 0x0000);   // smallest denormal
    CHECK(to_bf16(0x80018000u) == 0x8002);   // denormal tie, odd rounds up
    CHECK(to_bf16(0x7FC00000u) == 0xFFFF);   // NaN: torch's vectorized copy_ gives 0xFFFF
    CHECK(to_bf16(0xFF800001u) == 0xFFFF);   // negative signalling NaN
    CHECK(to_bf16(0x7F800001u) == 0xFFFF);   // positive signalling NaN, sign not kept
    CHECK(to_f16(0x3F800000u) == 0x3C00);    // 1.0
    CHECK(to_f16(0x477FE000u) == 0x7BFF);    // 65504, the largest half
    CHECK(to_f16(0x477FEFFFu) == 0x7BFF);    // just below 65520
    CHECK(to_f16(0x477FF000u) == 0x7C00);    // 65520 rounds to inf
    CHECK(to_f16(0xC77FF000u) == 0xFC00);    // -65520
    CHECK(to_f16(0x3F801000u) == 0x3C00);    // 1 + 2^-11: tie, even stays
    CHECK(to_f16(0x3F803000u) == 0x3C02);    // 1 + 3 * 2^-11: tie, odd rounds up
    CHECK(to_f16(0x33800000u) == 0x0001);    // 2^-24, the smallest half denormal
    CHECK(to_f16(0x33000000u) == 0x0000);    // 2^-25: tie to even zero
    CHECK(to_f16(0x33000001u) == 0x0001);    // just above
    CHECK(to_f16(0x80000000u) == 0x8000);    // -0
    CHECK(to_f16(0x7F800001u) == 0x7E00);    // signalling NaN
    CHECK(to_f16(0xFFC12345u) == 0xFE00);    // negative NaN with payload
    CHECK(from_f16(0x3C00) == 0x3F800000u);
    CHECK(from_f16(0x0001) == 0x33800000u);
    CHECK(from_f16(0x03FF) == 0x387FC000u);
    CHECK(from_f16(0x8000) == 0x80000000u);
    CHECK(from_f16(0xFC00) == 0xFF800000u);
    CHECK(from_f16(0x7C01) == 0x7FC02000u);  // signalling NaN comes back quiet
    CHECK(from_f16(0xFE01) == 0xFFC02000u);
    CHECK(from_bf16(0x3F80) == 0x3F800000u);
    CHECK(from_bf16(0xFF81) == 0xFF810000u); // bf16 widening keeps signalling NaNs as they are
}

TEST_CASE("the scalar reference matches an independent decoding of every half and bfloat16") {
    const KernelSet& ref = reference_kernel();
    std::vector<std::uint16_t> all(65536);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = std::uint16_t(i);
    std::vector<std::uint32_t> out(all.size());
    std::size_t f16_failures = 0, bf16_failures = 0;
    ref.f16_to_f32(out.data(), all.data(), all.size());
    for (std::size_t i = 0; i < all.size(); ++i) f16_failures += out[i] != expected_f32_from_f16(all[i]);
    ref.bf16_to_f32(out.data(), all.data(), all.size());
    for (std::size_t i = 0; i < all.size(); ++i) bf16_failures += out[i] != std::uint32_t(all[i]) << 16;
    CHECK(f16_failures == 0);
    CHECK(bf16_failures == 0);
}

TEST_CASE("the scalar reference matches an independent rounding for the f32 edge set") {
    const std::vector<std::uint32_t> in = f32_edge_inputs();
    std::vector<std::uint16_t> out(in.size());
    reference_kernel().f32_to_f16(out.data(), in.data(), in.size());
    std::size_t failures = 0;
    std::string first;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (out[i] == expected_f16(in[i])) continue;
        if (failures++ == 0) first = std::to_string(in[i]);
    }
    INFO("first failing input bits (decimal): ", first);
    CHECK(failures == 0);
}

TEST_CASE("every conversion kernel matches the reference on all 16-bit inputs and the f32 edge set") {
    std::vector<std::uint16_t> all16(65536);
    for (std::size_t i = 0; i < all16.size(); ++i) all16[i] = std::uint16_t(i);
    const std::vector<std::uint32_t> edges = f32_edge_inputs();
    for (const KernelSet* k : runnable_kernels()) {
        for (const ConvertVariant& v : kConvertVariants) {
            SUBCASE((std::string(k->name) + " " + v.name).c_str()) {
                const void* src = v.src_size == 2 ? static_cast<const void*>(all16.data()) : edges.data();
                const std::size_t count = v.src_size == 2 ? all16.size() : edges.size();
                std::vector<unsigned char> expected(count * v.dst_size), got(count * v.dst_size);
                (reference_kernel().*v.reference)(expected.data(), src, count);
                (k->*v.fn)(got.data(), src, count);
                std::size_t failures = 0, first = 0;
                for (std::size_t i = 0; i < count; ++i) {
                    if (std::memcmp(&got[i * v.dst_size], &expected[i * v.dst_size], v.dst_size) == 0) continue;
                    if (failures++ == 0) first = i;
                }
                INFO(std::string(k->name), " ", std::string(v.name), ": first mismatch at element ", first);
                CHECK(failures == 0);
            }
        }
    }
}

TEST_CASE("every conversion kernel handles sizes 0 to 300 at every element misalignment") {
    constexpr std::size_t kMaxCount = 300, kMaxMisalign = 31;
    GuardedBuffer src((kMaxCount + kMaxMisalign + 1) * 4);
    GuardedBuffer dst((kMaxCount + kMaxMisalign + 1) * 4);
    std::memset(dst.data(), kCanary, dst.size());
    std::vector<unsigned char> expected;
    for (const KernelSet* k : runnable_kernels()) {
        for (const ConvertVariant& v : kConvertVariants) {
            SUBCASE((std::string(k->name) + " " + v.name).c_str()) {
                fill_source(src.data(), kMaxCount + kMaxMisalign + 1, v.src_size);
                std::size_t failures = 0;
                std::string first;
                for (std::size_t dm = 0; dm <= kMaxMisalign; ++dm) {
                    for (std::size_t sm : {dm, kMaxMisalign - dm, (dm * 13) % 32}) {
                        for (std::size_t count = 0; count <= kMaxCount; ++count) {
                            if (convert_is_exact(k->*v.fn, reference_kernel().*v.reference, v, dst, dm * v.dst_size,
                                                 src.data() + sm * v.src_size, count, expected))
                                continue;
                            if (failures++ == 0)
                                first = "dst misalignment " + std::to_string(dm) + ", src misalignment " +
                                        std::to_string(sm) + ", count " + std::to_string(count);
                        }
                    }
                }
                INFO(std::string(k->name), " ", std::string(v.name), ": first failure at ", first);
                CHECK(failures == 0);
                CHECK(dst.canaries_intact());
            }
        }
    }
}

// The non-temporal skeleton's edges: the head up to the next line is 0-63 bytes, may end inside
// an element (a destination that is not element-aligned, which never streams), and the body
// starts only past head + 64 bytes; the tail is whatever is left of the last step.
TEST_CASE("every conversion kernel handles every byte offset of the destination for sizes 0 to 200") {
    constexpr std::size_t kMaxCount = 200;
    GuardedBuffer src((kMaxCount + 4) * 4);
    GuardedBuffer dst((kMaxCount + 16) * 4 + 64);
    std::memset(dst.data(), kCanary, dst.size());
    std::vector<unsigned char> expected;
    for (const KernelSet* k : runnable_kernels()) {
        for (const ConvertVariant& v : kConvertVariants) {
            SUBCASE((std::string(k->name) + " " + v.name).c_str()) {
                fill_source(src.data(), kMaxCount + 4, v.src_size);
                std::size_t failures = 0;
                std::string first;
                for (std::size_t dst_offset = 0; dst_offset < 64; ++dst_offset) {
                    for (std::size_t src_offset : {std::size_t(0), std::size_t(1), std::size_t(3)}) {
                        for (std::size_t count = 0; count <= kMaxCount; ++count) {
                            if (convert_is_exact(k->*v.fn, reference_kernel().*v.reference, v, dst, dst_offset,
                                                 src.data() + src_offset, count, expected))
                                continue;
                            if (failures++ == 0)
                                first = "dst offset " + std::to_string(dst_offset) + ", src offset " +
                                        std::to_string(src_offset) + ", count " + std::to_string(count);
                        }
                    }
                }
                INFO(std::string(k->name), " ", std::string(v.name), ": first failure at ", first);
                CHECK(failures == 0);
                CHECK(dst.canaries_intact());
            }
        }
    }
}

TEST_CASE("every conversion kernel handles large odd sizes") {
    const std::size_t counts[] = {4099, 65537, (std::size_t(1) << 20) + 17};
    const std::size_t misalignments[][2] = {{0, 0}, {1, 3}, {31, 1}};
    std::vector<unsigned char> expected;
    for (const KernelSet* k : runnable_kernels()) {
        for (const ConvertVariant& v : kConvertVariants) {
            SUBCASE((std::string(k->name) + " " + v.name).c_str()) {
                for (std::size_t count : counts) {
                    for (const auto& m : misalignments) {
                        GuardedBuffer src(count * v.src_size, m[0] * v.src_size);
                        fill_source(src.data(), count, v.src_size);
                        GuardedBuffer dst(count * v.dst_size, m[1] * v.dst_size);
                        std::memset(dst.data(), kCanary, dst.size());
                        INFO(std::string(k->name), " ", std::string(v.name), " count ", count, " misalignments ", m[0], "/", m[1]);
                        CHECK(convert_is_exact(k->*v.fn, reference_kernel().*v.reference, v, dst, 0, src.data(),
                                               count, expected));
                        CHECK(dst.canaries_intact());
                    }
                }
            }
        }
    }
}
