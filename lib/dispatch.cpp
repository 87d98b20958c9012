// Kernel choice at run time: the compiled kernels best first (simdjson), each allowed only
// when CPUID reports its instructions AND the OS saves their register state (XCR0, highway).
#include "dispatch.hpp"

#include <cstdint>
#include <iterator>
#include <string>

#include <tilecopy/error.hpp>

#include "config.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TILECOPY_X86 1
#endif

namespace tilecopy::detail {
namespace {

#if defined(TILECOPY_X86)

bool bit(unsigned reg, int n) noexcept { return (reg >> n) & 1u; }

// Inline asm rather than _xgetbv, which would need an -mxsave target for this file.
std::uint64_t read_xcr0() noexcept {
    std::uint32_t eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (std::uint64_t(edx) << 32) | eax;
}

CpuFeatures detect() noexcept {
    CpuFeatures f;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(1, 0, &eax, &ebx, &ecx, &edx)) return f;
    f.sse2 = bit(edx, 26);
    f.fma = bit(ecx, 12);
    f.f16c = bit(ecx, 29);
    const bool avx = bit(ecx, 28);
    const bool osxsave = bit(ecx, 27);
    if (osxsave) {
        const std::uint64_t xcr0 = read_xcr0();
        // SSE (1) and AVX (2) state for YMM; plus opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7).
        f.os_ymm = (xcr0 & 0x6u) == 0x6u;
        f.os_zmm = (xcr0 & 0xE6u) == 0xE6u;
    }
    if (!avx) {
        f.fma = false;
        f.f16c = false;
    }
    unsigned max_leaf = __get_cpuid_max(0, nullptr);
    if (max_leaf >= 7 && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        const unsigned subleaves = eax;
        f.avx2 = avx && bit(ebx, 5);
        f.avx512f = bit(ebx, 16);
        f.avx512dq = bit(ebx, 17);
        f.avx512bw = bit(ebx, 30);
        f.avx512vl = bit(ebx, 31);
        if (subleaves >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx512bf16 = bit(eax, 5);
    }
    return f;
}

#else

CpuFeatures detect() noexcept { return CpuFeatures{}; }

#endif

struct Requirement {
    bool CpuFeatures::*flag;
    const char* name;
};

// What each kernel needs from the CPU, in the order the flags are named in errors.
bool check(const CpuFeatures& f, const Requirement* reqs, std::size_t n, bool os_state, const char* os_message,
           std::string* missing) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        if (!(f.*reqs[i].flag)) {
            if (missing) *missing = std::string("this CPU lacks ") + reqs[i].name;
            return false;
        }
    }
    if (!os_state) {
        if (missing) *missing = os_message;
        return false;
    }
    return true;
}

bool is_known(std::string_view name) noexcept { return name == "scalar" || name == "avx2" || name == "avx512"; }

} // namespace

const CpuFeatures& cpu_features() noexcept {
    static const CpuFeatures features = detect();
    return features;
}

const std::vector<const kernels::KernelSet*>& compiled_kernels() noexcept {
    static const std::vector<const kernels::KernelSet*> list{
#if defined(TILECOPY_HAVE_AVX512)
        &kernels::avx512::kernel_set,
#endif
#if defined(TILECOPY_HAVE_AVX2)
        &kernels::avx2::kernel_set,
#endif
        &kernels::scalar::kernel_set,
    };
    return list;
}

bool cpu_supports(const kernels::KernelSet& set, std::string* missing) noexcept {
    const CpuFeatures& f = cpu_features();
    const std::string_view name = set.name;
    try {
        if (name == "avx512") {
            // -mavx512f implies AVX2, so the compiler may use AVX2 instructions there too.
            static const Requirement reqs[] = {
                {&CpuFeatures::avx512f, "avx512f"},   {&CpuFeatures::avx512bw, "avx512bw"},
                {&CpuFeatures::avx512vl, "avx512vl"}, {&CpuFeatures::avx512dq, "avx512dq"},
                {&CpuFeatures::avx2, "avx2"},         {&CpuFeatures::f16c, "f16c"}};
            return check(f, reqs, std::size(reqs), f.os_zmm, "the OS has not enabled AVX-512 state (XCR0)", missing);
        }
        if (name == "avx2") {
            static const Requirement reqs[] = {
                {&CpuFeatures::avx2, "avx2"}, {&CpuFeatures::fma, "fma"}, {&CpuFeatures::f16c, "f16c"}};
            return check(f, reqs, std::size(reqs), f.os_ymm, "the OS has not enabled AVX state (XCR0)", missing);
        }
        return true;
    } catch (...) {
        // Only building the message can throw (bad_alloc); the answer stands without it.
        return false;
    }
}

const kernels::KernelSet& best_kernel() noexcept {
    for (const kernels::KernelSet* k : compiled_kernels())
        if (cpu_supports(*k)) return *k;
    return kernels::scalar::kernel_set;
}

const kernels::KernelSet* find_kernel(std::string_view name) noexcept {
    for (const kernels::KernelSet* k : compiled_kernels())
        if (name == k->name) return k;
    return nullptr;
}

const kernels::KernelSet& choose_kernel(std::string_view forced) {
    if (forced.empty()) return best_kernel();
    const std::string quoted = "'" + std::string(forced) + "'";
    if (!is_known(forced))
        throw Error("unknown kernel " + quoted + " (expected scalar, avx2 or avx512)");
    const kernels::KernelSet* k = find_kernel(forced);
    if (!k)
        throw Error("kernel " + quoted + " was not compiled into this build (meson option -D" + std::string(forced) +
                    "=enabled)");
    std::string missing;
    if (!cpu_supports(*k, &missing)) throw Error("kernel " + quoted + " cannot run here: " + missing);
    return *k;
}

} // namespace tilecopy::detail
