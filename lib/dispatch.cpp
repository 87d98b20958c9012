// STUB: replaced by the kernels work.
#include "dispatch.hpp"
#include <tilecopy/error.hpp>
namespace tilecopy::detail {
const CpuFeatures& cpu_features() noexcept { static CpuFeatures f; return f; }
const std::vector<const kernels::KernelSet*>& compiled_kernels() noexcept {
    static const std::vector<const kernels::KernelSet*> k{&kernels::scalar::kernel_set};
    return k;
}
bool cpu_supports(const kernels::KernelSet&, std::string*) noexcept { return true; }
const kernels::KernelSet& best_kernel() noexcept { return kernels::scalar::kernel_set; }
const kernels::KernelSet* find_kernel(std::string_view) noexcept { return &kernels::scalar::kernel_set; }
const kernels::KernelSet& choose_kernel(std::string_view) { return best_kernel(); }
}
