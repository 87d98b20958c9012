// Every compiled kernel the CPU can run against memcpy, and the runtime dispatch.
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

struct CopyVariant {
    const char* name;
    CopyFn KernelSet::*fn;
    // Every source misalignment in the sweep up to 1024 bytes, or a few: copy_nt_unfenced is
    // copy_nt's code without the closing fence, and its head, body and tail follow the
    // destination's alignment, which the sweep still covers whole.
    bool every_source_misalignment = true;
};
const CopyVariant kCopyVariants[] = {{"copy", &KernelSet::copy},
                                     {"copy_nt", &KernelSet::copy_nt},
                                     {"copy_nt_unfenced", &KernelSet::copy_nt_unfenced, false}};

// Copies n bytes to dst.data() + dst_offset and checks the whole guarded buffer: the window
// holds the source, everything else is still the canary. Restores the window afterwards.
bool copy_is_exact(CopyFn fn, GuardedBuffer& dst, std::size_t dst_offset, const unsigned char* src, std::size_t n) {
    unsigned char* window = dst.data() + dst_offset;
    fn(window, src, n);
    const bool ok = std::memcmp(window, src, n) == 0 && all_canary(dst.data(), dst_offset) &&
                    all_canary(window + n, dst.size() - dst_offset - n);
    std::memset(window, kCanary, n);
    return ok;
}

} // namespace

TEST_CASE("every copy kernel matches memcpy for every size up to 1024 and every misalignment") {
    constexpr std::size_t kMaxSize = 1024;
    GuardedBuffer src(kMaxSize + 64);
    fill_pattern(src.data(), src.size(), 1);
    GuardedBuffer dst(kMaxSize + 64);
    std::memset(dst.data(), kCanary, dst.size());

    const std::vector<const KernelSet*> kernels = runnable_kernels();
    CHECK(std::string(kernels.back()->name) == "scalar");
    for (const KernelSet* k : kernels) {
        for (const CopyVariant& v : kCopyVariants) {
            SUBCASE((std::string(k->name) + " " + v.name).c_str()) {
                for (std::size_t sa = 0; sa < 64; ++sa) {
                    if (!v.every_source_misalignment && sa != 0 && sa != 1 && sa != 63) continue;
                    std::size_t failures = 0;
                    std::string first_failure;
                    for (std::size_t da = 0; da < 64; ++da) {
                        for (std::size_t n = 0; n <= kMaxSize; ++n) {
                            if (copy_is_exact(k->*v.fn, dst, da, src.data() + sa, n)) continue;
                            if (failures++ == 0)
                                first_failure = "dst misalignment " + std::to_string(da) + ", size " + std::to_string(n);
                        }
                    }
                    INFO(std::string(k->name), " ", std::string(v.name), ", src misalignment ", sa, ": first failure at ", first_failure);
                    CHECK(failures == 0);
                    CHECK(dst.canaries_intact());
                }
            }
        }
    }
}

TEST_CASE("the scalar kernel is always compiled, last, and runnable") {
    const auto& list = compiled_kernels();
    REQUIRE(!list.empty());
    CHECK(std::string(list.back()->name) == "scalar");
    CHECK(cpu_supports(*list.back()));
}

TEST_CASE("every copy kernel matches memcpy for large odd sizes") {
    // Around the switch to rep movsb (32 KiB) too, where the first line is stored by vectors.
    const std::size_t sizes[] = {4095, 4097, 32767, 32768, 32769, 32768 + 63, 65537, (std::size_t(1) << 20) + 17,
                                 (std::size_t(4) << 20) - 3};
    const std::size_t misalignments[][2] = {{0, 0}, {1, 0}, {0, 1}, {17, 63}, {63, 31}};
    for (const KernelSet* k : runnable_kernels()) {
        for (const CopyVariant& v : kCopyVariants) {
            SUBCASE((std::string(k->name) + " " + v.name).c_str()) {
                for (std::size_t n : sizes) {
                    for (const auto& m : misalignments) {
                        GuardedBuffer src(n, m[0]);
                        fill_pattern(src.data(), n, std::uint32_t(n + m[0]));
                        GuardedBuffer dst(n, m[1]);
                        std::memset(dst.data(), kCanary, n);
                        (k->*v.fn)(dst.data(), src.data(), n);
                        INFO(std::string(k->name), " ", std::string(v.name), " size ", n, " src misalignment ", m[0], " dst misalignment ", m[1]);
                        CHECK(std::memcmp(dst.data(), src.data(), n) == 0);
                        CHECK(dst.canaries_intact());
                    }
                }
            }
        }
    }
}

TEST_CASE("copies whose destination is 1-63 bytes past the source modulo 4 KiB are exact") {
    // rep movsb runs slowly there, so the kernels' regular copies take their vector loop (the
    // engine sends small copies there to the kernel, test_engine): every kernel, and the string
    // copy itself (slow, still exact), at the distances on both sides of the window and inside it.
    using tilecopy::detail::string_copy;
    using tilecopy::detail::string_copy_slow;
    constexpr std::size_t kPage = 4096;
    const std::size_t distances[] = {0, 1, 3, 31, 32, 63, 64, 4095};
    const std::size_t sizes[] = {300, 4096, 32767, 32768, 32768 + 63, 100001};
    for (std::size_t dist : distances) {
        const auto* a = reinterpret_cast<const unsigned char*>(std::uintptr_t(0x10000));
        CHECK(string_copy_slow(a + kPage * 3 + dist, a) == (dist >= 1 && dist <= 63));
    }
    for (std::size_t n : sizes) {
        const std::size_t span = (n + 2 * kPage) / kPage * kPage; // the source's pages and a gap
        std::vector<unsigned char> region(span * 2 + 2 * kPage);
        const auto base = (reinterpret_cast<std::uintptr_t>(region.data()) + kPage - 1) & ~std::uintptr_t(kPage - 1);
        unsigned char* src = reinterpret_cast<unsigned char*>(base) + 100;
        fill_pattern(src, n, std::uint32_t(n));
        for (std::size_t dist : distances) {
            unsigned char* dst = reinterpret_cast<unsigned char*>(base) + span + 100 + dist;
            auto exact = [&] {
                const bool ok = std::memcmp(dst, src, n) == 0 && all_canary(dst - 64, 64) && all_canary(dst + n, 64);
                std::memset(dst - 64, kCanary, n + 128);
                return ok;
            };
            std::memset(dst - 64, kCanary, n + 128);
            INFO("size ", n, ", (dst - src) mod 4 KiB = ", dist);
            for (const KernelSet* k : runnable_kernels()) {
                for (const CopyVariant& v : kCopyVariants) {
                    INFO(std::string(k->name), " ", std::string(v.name));
                    (k->*v.fn)(dst, src, n);
                    CHECK(exact());
                }
            }
            string_copy(dst, src, n);
            CHECK(exact());
        }
    }
}

// --- Dispatch ---------------------------------------------------------------------------------

TEST_CASE("dispatch picks the best supported kernel and names the kernel it refuses") {
    using tilecopy::detail::best_kernel;
    using tilecopy::detail::choose_kernel;
    using tilecopy::detail::cpu_features;
    using tilecopy::detail::find_kernel;

    const auto& f = cpu_features();
    MESSAGE("cpu: avx2=", f.avx2, " fma=", f.fma, " f16c=", f.f16c, " avx512f=", f.avx512f, " avx512bw=", f.avx512bw,
            " avx512vl=", f.avx512vl, " avx512dq=", f.avx512dq, " avx512bf16=", f.avx512bf16, " os_ymm=", f.os_ymm,
            " os_zmm=", f.os_zmm);

    const KernelSet& best = best_kernel();
    MESSAGE("best kernel: ", std::string(best.name));
    CHECK(&choose_kernel("") == &best);
    CHECK(cpu_supports(best));
    // The best is the first compiled kernel the CPU supports.
    for (const KernelSet* k : compiled_kernels()) {
        if (k == &best) break;
        CHECK_FALSE(cpu_supports(*k));
    }
    if (std::string(best.name) == "avx512") {
        CHECK(f.avx512f);
        CHECK(f.avx512bw);
        CHECK(f.os_zmm);
    }

    CHECK(&choose_kernel("scalar") == &tilecopy::kernels::scalar::kernel_set);
    CHECK_THROWS_WITH_AS(choose_kernel("foo"), "unknown kernel 'foo' (expected scalar, avx2 or avx512)",
                         tilecopy::Error);
    CHECK_THROWS_AS(choose_kernel("AVX2"), tilecopy::Error);

    for (const char* name : {"avx2", "avx512"}) {
        const KernelSet* k = find_kernel(name);
        if (!k) {
            CHECK_THROWS_WITH_AS(choose_kernel(name), doctest::Contains((std::string("'") + name + "' was not compiled").c_str()),
                                 tilecopy::Error);
            continue;
        }
        std::string missing;
        if (cpu_supports(*k, &missing)) {
            CHECK(&choose_kernel(name) == k);
        } else {
            CHECK_FALSE(missing.empty());
            CHECK_THROWS_WITH_AS(choose_kernel(name), doctest::Contains((std::string("'") + name + "'").c_str()), tilecopy::Error);
        }
    }
}

TEST_CASE("each kernel's required features cover what its instructions need, and a CPU lacking any one never gets it") {
    using tilecopy::detail::best_kernel;
    using tilecopy::detail::choose_kernel;
    using tilecopy::detail::CpuFeatures;
    using tilecopy::detail::feature_mask;
    using tilecopy::detail::feature_names;
    using tilecopy::detail::supports;
    namespace k = tilecopy::kernels;

    // What each kernel's code uses at the least (its -m flags); the mask may hold more (what
    // those flags imply), never less.
    auto least = [](const std::string& name) -> std::uint32_t {
        if (name == "avx512")
            return k::kAvx512f | k::kAvx512bw | k::kAvx512vl | k::kAvx512dq | k::kAvx2 | k::kAvx | k::kF16c |
                   k::kOsYmm | k::kOsZmm;
        if (name == "avx2") return k::kAvx2 | k::kAvx | k::kFma | k::kF16c | k::kOsYmm;
        return 0;
    };
    CpuFeatures everything;
    for (bool CpuFeatures::*flag :
         {&CpuFeatures::sse2, &CpuFeatures::sse3, &CpuFeatures::ssse3, &CpuFeatures::sse41, &CpuFeatures::sse42,
          &CpuFeatures::popcnt, &CpuFeatures::xsave, &CpuFeatures::avx, &CpuFeatures::avx2, &CpuFeatures::fma,
          &CpuFeatures::f16c, &CpuFeatures::avx512f, &CpuFeatures::avx512bw, &CpuFeatures::avx512vl,
          &CpuFeatures::avx512dq, &CpuFeatures::avx512bf16, &CpuFeatures::os_ymm, &CpuFeatures::os_zmm})
        everything.*flag = true;
    CHECK(&best_kernel(everything) == compiled_kernels().front());

    for (const KernelSet* kernel : compiled_kernels()) {
        const std::string name = kernel->name;
        CAPTURE(name);
        MESSAGE(name, " requires: ", feature_names(kernel->required));
        CHECK((kernel->required & least(name)) == least(name));
        CHECK(supports(everything, *kernel));
        if (name == "scalar") {
            // Runs on every x86-64 (SSE2 is part of it) and everywhere else.
            CHECK((kernel->required & ~std::uint32_t(k::kSse2)) == 0);
            continue;
        }
        CHECK(&choose_kernel(name, everything) == kernel);
        for (std::uint32_t bit = 1; bit != 0; bit <<= 1) {
            if (!(kernel->required & bit)) continue;
            // The CPU has everything but this one feature.
            CpuFeatures lacking = everything;
            const std::string feature = feature_names(bit);
            CAPTURE(feature);
            REQUIRE_FALSE(feature.empty());
            for (bool CpuFeatures::*flag :
                 {&CpuFeatures::sse2, &CpuFeatures::sse3, &CpuFeatures::ssse3, &CpuFeatures::sse41,
                  &CpuFeatures::sse42, &CpuFeatures::popcnt, &CpuFeatures::xsave, &CpuFeatures::avx,
                  &CpuFeatures::avx2, &CpuFeatures::fma, &CpuFeatures::f16c, &CpuFeatures::avx512f,
                  &CpuFeatures::avx512bw, &CpuFeatures::avx512vl, &CpuFeatures::avx512dq, &CpuFeatures::os_ymm,
                  &CpuFeatures::os_zmm}) {
                CpuFeatures one;
                one.*flag = true;
                if (feature_mask(one) == bit) lacking.*flag = false;
            }
            REQUIRE(feature_mask(lacking) == (feature_mask(everything) & ~bit));

            std::string missing;
            CHECK_FALSE(supports(lacking, *kernel, &missing));
            const bool os_state = bit == k::kOsYmm || bit == k::kOsZmm;
            CHECK(missing == (os_state ? std::string(bit == k::kOsYmm ? "the OS has not enabled AVX state (XCR0)"
                                                                      : "the OS has not enabled AVX-512 state (XCR0)")
                                       : "this CPU lacks " + feature));
            const KernelSet& best = best_kernel(lacking);
            CHECK(&best != kernel);
            // Scalar is the last resort, even for a CPU without SSE2 (no x86-64 lacks it).
            CHECK(((best.required & bit) == 0 || &best == &tilecopy::kernels::scalar::kernel_set));
            try {
                choose_kernel(name, lacking);
                FAIL("forcing a kernel the CPU cannot run is no error");
            } catch (const tilecopy::Error& e) {
                CHECK(std::string(e.what()) == "kernel '" + name + "' cannot run here: " + missing);
            }
        }
    }
    // This CPU runs what dispatch picks for it.
    CHECK((best_kernel().required & ~feature_mask(tilecopy::detail::cpu_features())) == 0);
}
