// Runtime choice among the compiled kernels (simdjson's ordered list, highway's XCR0 check).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernels.hpp"

namespace tilecopy::detail {

struct CpuFeatures {
    bool sse2 = false;
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

// The kernels compiled into this build, best first; scalar is always last.
const std::vector<const kernels::KernelSet*>& compiled_kernels() noexcept;

// Whether this CPU and OS can run the kernel; when not, `missing` names what is lacking.
bool cpu_supports(const kernels::KernelSet& set, std::string* missing = nullptr) noexcept;

// The best compiled kernel this CPU supports.
const kernels::KernelSet& best_kernel() noexcept;

// A compiled kernel by name, or nullptr.
const kernels::KernelSet* find_kernel(std::string_view name) noexcept;

// Resolves a forced name (empty: the best). Throws tilecopy::Error for an unknown name, a
// kernel not compiled in, or one this CPU cannot run.
const kernels::KernelSet& choose_kernel(std::string_view forced);

} // namespace tilecopy::detail
