// Helpers shared by the kernel tests: the kernels this CPU runs, canary checks.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
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

inline bool all_canary(const unsigned char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != kCanary) return false;
    return true;
}

} // namespace tilecopy::test
