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
};
const CopyVariant kCopyVariants[] = {{"copy", &KernelSet::copy}, {"copy_nt", &KernelSet::copy_nt}};

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
    const std::size_t sizes[] = {4095, 4097, 65537, (std::size_t(1) << 20) + 17, (std::size_t(4) << 20) - 3};
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
