// Kernel choice at run time: the compiled kernels best first (simdjson), each allowed only
// when CPUID reports its instructions AND the OS saves their register state (XCR0, highway).
#include "dispatch.hpp"

#include <cstdint>
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
    f.sse3 = bit(ecx, 0);
    f.ssse3 = bit(ecx, 9);
    f.sse41 = bit(ecx, 19);
    f.sse42 = bit(ecx, 20);
    f.popcnt = bit(ecx, 23);
    f.xsave = bit(ecx, 26);
    f.fma = bit(ecx, 12);
    f.f16c = bit(ecx, 29);
    const bool avx = bit(ecx, 28);
    f.avx = avx;
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

// Every kernels::Feature bit: what detect() found for it and how errors name it. The one place
// feature names live; each kernel's needs are data in its own KernelSet::required.
struct FeatureInfo {
    std::uint32_t bit;
    bool CpuFeatures::*has;
    const char* name;
    const char* os_lacking; // for register state: the error's words when the OS has not enabled it
};
constexpr FeatureInfo kFeatures[] = {
    {kernels::kSse2, &CpuFeatures::sse2, "sse2", nullptr},
    {kernels::kSse3, &CpuFeatures::sse3, "sse3", nullptr},
    {kernels::kSsse3, &CpuFeatures::ssse3, "ssse3", nullptr},
    {kernels::kSse41, &CpuFeatures::sse41, "sse4.1", nullptr},
    {kernels::kSse42, &CpuFeatures::sse42, "sse4.2", nullptr},
    {kernels::kPopcnt, &CpuFeatures::popcnt, "popcnt", nullptr},
    {kernels::kXsave, &CpuFeatures::xsave, "xsave", nullptr},
    {kernels::kAvx, &CpuFeatures::avx, "avx", nullptr},
    {kernels::kAvx2, &CpuFeatures::avx2, "avx2", nullptr},
    {kernels::kFma, &CpuFeatures::fma, "fma", nullptr},
    {kernels::kF16c, &CpuFeatures::f16c, "f16c", nullptr},
    {kernels::kAvx512f, &CpuFeatures::avx512f, "avx512f", nullptr},
    {kernels::kAvx512bw, &CpuFeatures::avx512bw, "avx512bw", nullptr},
    {kernels::kAvx512vl, &CpuFeatures::avx512vl, "avx512vl", nullptr},
    {kernels::kAvx512dq, &CpuFeatures::avx512dq, "avx512dq", nullptr},
    {kernels::kOsYmm, &CpuFeatures::os_ymm, "os:ymm", "the OS has not enabled AVX state (XCR0)"},
    {kernels::kOsZmm, &CpuFeatures::os_zmm, "os:zmm", "the OS has not enabled AVX-512 state (XCR0)"},
};

// The kernels this library may hold, best first; which are compiled is up to meson options.
constexpr const char* kKernelNames[] = {"avx512", "avx2", "scalar"};

bool is_known(std::string_view name) noexcept {
    for (const char* known : kKernelNames)
        if (name == known) return true;
    return false;
}

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

std::uint32_t feature_mask(const CpuFeatures& cpu) noexcept {
    std::uint32_t mask = 0;
    for (const FeatureInfo& f : kFeatures)
        if (cpu.*f.has) mask |= f.bit;
    return mask;
}

std::string feature_names(std::uint32_t mask) {
    std::string out;
    for (const FeatureInfo& f : kFeatures)
        if (mask & f.bit) out += (out.empty() ? "" : " ") + std::string(f.name);
    return out;
}

bool supports(const CpuFeatures& cpu, const kernels::KernelSet& set, std::string* missing) noexcept {
    const std::uint32_t lacking = set.required & ~feature_mask(cpu);
    if (lacking == 0) return true;
    if (missing) {
        try {
            // CPU features come before OS state in kFeatures: the first is the root cause.
            for (const FeatureInfo& f : kFeatures) {
                if (!(lacking & f.bit)) continue;
                *missing = f.os_lacking ? std::string(f.os_lacking) : std::string("this CPU lacks ") + f.name;
                break;
            }
        } catch (...) {
            // Only building the message can throw (bad_alloc); the answer stands without it.
        }
    }
    return false;
}

bool cpu_supports(const kernels::KernelSet& set, std::string* missing) noexcept {
    return supports(cpu_features(), set, missing);
}

const kernels::KernelSet& best_kernel(const CpuFeatures& cpu) noexcept {
    for (const kernels::KernelSet* k : compiled_kernels())
        if (supports(cpu, *k)) return *k;
    return kernels::scalar::kernel_set;
}

const kernels::KernelSet& best_kernel() noexcept { return best_kernel(cpu_features()); }

const kernels::KernelSet* find_kernel(std::string_view name) noexcept {
    for (const kernels::KernelSet* k : compiled_kernels())
        if (name == k->name) return k;
    return nullptr;
}

const kernels::KernelSet& choose_kernel(std::string_view forced) { return choose_kernel(forced, cpu_features()); }

const kernels::KernelSet& choose_kernel(std::string_view forced, const CpuFeatures& cpu) {
    if (forced.empty()) return best_kernel(cpu);
    const std::string quoted = "'" + std::string(forced) + "'";
    if (!is_known(forced))
        throw Error("unknown kernel " + quoted + " (expected scalar, avx2 or avx512)");
    const kernels::KernelSet* k = find_kernel(forced);
    if (!k)
        throw Error("kernel " + quoted + " was not compiled into this build (meson option -D" + std::string(forced) +
                    "=enabled)");
    std::string missing;
    if (!supports(cpu, *k, &missing)) throw Error("kernel " + quoted + " cannot run here: " + missing);
    return *k;
}

} // namespace tilecopy::detail
