// Runtime choice among the compiled kernels (simdjson's ordered list, highway's XCR0 check).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernels.hpp"

namespace tilecopy::detail {

struct CpuFeatures {
    bool sse2 = false;
    bool sse3 = false;
    bool ssse3 = false;
    bool sse41 = false;
    bool sse42 = false;
    bool popcnt = false;
    bool xsave = false;
    bool avx = false;
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512dq = false;
    bool avx512bf16 = false;
    bool os_ymm = false; // XCR0 enables YMM state
    bool os_zmm = false; // XCR0 enables opmask and ZMM state
};

// Read once, lazily (thread-safe).
const CpuFeatures& cpu_features() noexcept;

// The kernels::Feature bits a CPU has.
std::uint32_t feature_mask(const CpuFeatures& cpu) noexcept;
// The names of the bits of a kernels::Feature mask ("avx2 fma f16c os:ymm").
std::string feature_names(std::uint32_t mask);

// The kernels compiled into this build, best first; scalar is always last.
const std::vector<const kernels::KernelSet*>& compiled_kernels() noexcept;

// Whether this CPU and OS (or `cpu`) can run the kernel: whether they have every feature in
// its KernelSet::required; when not, `missing` names the first lacking.
bool cpu_supports(const kernels::KernelSet& set, std::string* missing = nullptr) noexcept;
bool supports(const CpuFeatures& cpu, const kernels::KernelSet& set, std::string* missing = nullptr) noexcept;

// The best compiled kernel this CPU (or `cpu`) supports.
const kernels::KernelSet& best_kernel() noexcept;
const kernels::KernelSet& best_kernel(const CpuFeatures& cpu) noexcept;

// A compiled kernel by name, or nullptr.
const kernels::KernelSet* find_kernel(std::string_view name) noexcept;

// Resolves a forced name (empty: the best) for this CPU (or `cpu`). Throws tilecopy::Error for
// an unknown name, a kernel not compiled in, or one the CPU cannot run (naming what it lacks).
const kernels::KernelSet& choose_kernel(std::string_view forced);
const kernels::KernelSet& choose_kernel(std::string_view forced, const CpuFeatures& cpu);

} // namespace tilecopy::detail
