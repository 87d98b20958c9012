// Helpers shared by the kernel tests: the kernels this CPU runs, canary checks.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "kernels/kernels.hpp"
#include "support.hpp"

namespace tilecopy::test {

using tilecopy::detail::compiled_kernels;
using tilecopy::detail::cpu_supports;
using tilecopy::kernels::KernelSet;

// The compiled kernels this CPU runs; the others are reported, not silently dropped.
inline std::vector<const KernelSet*> runnable_kernels() {
    std::vector<const KernelSet*> out;
    for (const KernelSet* k : compiled_kernels()) {
        std::string missing;
        if (cpu_supports(*k, &missing))
            out.push_back(k);
        else
            MESSAGE("kernel " << std::string(k->name) << " is compiled but cannot run here: " << missing);
    }
    return out;
}

// memcmp against a block of canary bytes: the sweeps check ~10^10 bytes, and a byte loop with
// an early exit is not vectorized.
inline bool all_canary(const unsigned char* p, std::size_t n) {
    static const std::vector<unsigned char> canaries(4096, kCanary);
    for (std::size_t done = 0; done < n;) {
        const std::size_t chunk = std::min(n - done, canaries.size());
        if (std::memcmp(p + done, canaries.data(), chunk) != 0) return false;
        done += chunk;
    }
    return true;
}

} // namespace tilecopy::test
