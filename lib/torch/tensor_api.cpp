// CopyEngine's tensor entries (declared in <tilecopy/copy_engine.hpp>) and DeepSpeed's routine
// (<tilecopy/torch.hpp>): each plans its pairs (tensor_rules.cpp, tensor_batch.cpp) and carries
// them out through the one route, carry_out.
#include <vector>

#include <ATen/core/Tensor.h>

#include <tilecopy/copy_engine.hpp>
#include <tilecopy/torch.hpp>

#include "adapter.hpp"
#include "tensor_batch.hpp"

namespace tilecopy {

// A single pair is not asked of copy_ ahead (plan_pair's `decide`): copy_ itself makes every
// check it makes before writing, and the pair is all there is to write.
void CopyEngine::copy(const at::Tensor& dst, const at::Tensor& src) {
    const detail::PairPlan plan = detail::plan_pair(dst, src, std::nullopt, false, detail::adapter::min_run_bytes(*this));
    detail::carry_out(*this, &plan, 1, &dst, &src, false, nullptr);
}

void CopyEngine::copy_batch(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs) {
    const detail::BatchPlan plan = detail::plan_batch(dsts, srcs, true, detail::adapter::min_run_bytes(*this));
    detail::carry_out(*this, plan.pairs.data(), plan.pairs.size(), dsts.data(), srcs.data(), true, nullptr);
}

CopyHandle CopyEngine::copy_async(const at::Tensor& dst, const at::Tensor& src) {
    return detail::submit_batch(*this, {dst}, {src}, false);
}

CopyHandle CopyEngine::copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs) {
    return detail::submit_batch(*this, dsts, srcs, true);
}

CopyHandle CopyEngine::copy_async(const at::Tensor& dst, const at::Tensor& src, const AsyncOptions& limits) {
    return detail::submit_batch(*this, {dst}, {src}, false, Checksum::none, limits);
}

CopyHandle CopyEngine::copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs,
                                        const AsyncOptions& limits) {
    return detail::submit_batch(*this, dsts, srcs, true, Checksum::none, limits);
}

int deepspeed_py_memcpy(at::Tensor dest, const at::Tensor& src) {
    default_engine().copy(dest, src);
    return 0;
}

} // namespace tilecopy
