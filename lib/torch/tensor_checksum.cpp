// Checksums of tensors: of the bytes of the tensor's elements in logical (row-major) order, i.e.
// of t.contiguous()'s bytes (conjugate and negative views resolved first); for a contiguous
// tensor, of its memory. A copy's checksum is of its destination after any dtype conversion.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include <tilecopy/checksum.hpp>
#include <tilecopy/copy_engine.hpp>
#include <tilecopy/torch.hpp>

#include "adapter.hpp"
#include "tensor_batch.hpp"
#include "tensor_checksum.hpp"
#include "tensor_pair.hpp"

namespace tilecopy {
namespace detail {
namespace {

// The tensor's elements in row-major order as runs of consecutive memory (Region::src; dst
// the same, unused), each run a row of the merged innermost dimension. False when that
// dimension is not contiguous, or its runs are shorter than kMinRunBytes (a Region each
// costs more than copying them together).
bool logical_runs(const at::Tensor& t, std::vector<Region>& out) {
    std::vector<std::pair<std::int64_t, std::int64_t>> dims; // size, stride in elements
    for (std::int64_t i = 0; i < t.dim(); ++i) {
        if (t.size(i) == 1) continue;
        if (!dims.empty() && dims.back().second == t.stride(i) * t.size(i)) {
            dims.back().first *= t.size(i);
            dims.back().second = t.stride(i);
        } else {
            dims.emplace_back(t.size(i), t.stride(i));
        }
    }
    if (dims.empty() || dims.back().second != 1) return false;
    const std::size_t es = t.element_size();
    const std::size_t run = static_cast<std::size_t>(dims.back().first) * es;
    if (run < kMinRunBytes) return false;
    dims.pop_back();
    std::size_t runs = 1;
    for (const auto& d : dims) runs *= static_cast<std::size_t>(d.first);
    out.reserve(runs);
    std::vector<std::int64_t> index(dims.size(), 0);
    char* base = static_cast<char*>(t.data_ptr());
    for (std::size_t r = 0; r < runs; ++r) {
        std::int64_t offset = 0;
        for (std::size_t d = 0; d < dims.size(); ++d) offset += index[d] * dims[d].second;
        char* p = base + offset * static_cast<std::int64_t>(es);
        out.push_back(Region{p, p, run});
        for (std::size_t d = dims.size(); d-- > 0;) { // odometer, last dimension fastest
            if (++index[d] < dims[d].first) break;
            index[d] = 0;
        }
    }
    return true;
}

} // namespace

bool has_plain_memory(const at::Tensor& t) {
    return t.device().is_cpu() && t.layout() == at::kStrided && !t.is_nested() && t.has_storage() &&
           !t.is_quantized();
}

void check_checksummable(const at::Tensor* dsts, std::size_t count, bool indexed) {
    for (std::size_t i = 0; i < count; ++i)
        if (dsts[i].defined() && !has_plain_memory(dsts[i]))
            throw Error("tilecopy: " + (indexed ? "pair " + std::to_string(i) + ": " : std::string()) +
                        "a checksummed copy into " + tensor_text(dsts[i]) +
                        ": only dense (strided) CPU destinations have bytes to checksum");
}

std::uint32_t combine_in_order(Checksum kind, const std::uint32_t* crcs, const Region* parts, std::size_t count,
                               std::size_t element_size) {
    std::uint32_t crc = 0;
    for (std::size_t i = 0; i < count; ++i)
        crc = checksum_combine(kind, crc, crcs[i], std::uint64_t(parts[i].count) * element_size);
    return crc;
}

bool covers_in_order(const Region* regions, std::size_t count, const at::Tensor& dst, std::size_t dst_element) {
    if (!dst.is_contiguous() || dst.is_conj() || dst.is_neg() || count == 0 || regions[0].dst != dst.data_ptr())
        return false;
    for (std::size_t i = 0; i + 1 < count; ++i)
        if (static_cast<char*>(regions[i].dst) + regions[i].count * dst_element != regions[i + 1].dst) return false;
    return true;
}

} // namespace detail

std::uint32_t CopyEngine::checksum(const at::Tensor& tensor, Checksum kind) {
    (void)checksum_name(kind); // throws for a kind outside the enum
    if (!tensor.defined()) throw Error("tilecopy: checksum of an undefined tensor");
    if (!detail::has_plain_memory(tensor))
        throw Error("tilecopy: checksum of " + detail::tensor_text(tensor) +
                    ": only dense (strided) CPU tensors have bytes to checksum");
    if (kind == Checksum::none || tensor.numel() == 0) return 0;
    at::Tensor t = tensor;
    if (t.is_conj()) t = t.resolve_conj();
    if (t.is_neg()) t = t.resolve_neg();
    if (t.is_contiguous()) return checksum(t.data_ptr(), t.nbytes(), kind);
    std::vector<Region> runs;
    if (!detail::logical_runs(t, runs)) {
        const at::Tensor c = t.contiguous();
        return checksum(c.data_ptr(), c.nbytes(), kind);
    }
    std::vector<std::uint32_t> crcs(runs.size());
    detail::adapter::checksum_regions(*this, runs.data(), runs.size(), kind, crcs.data());
    return detail::combine_in_order(kind, crcs.data(), runs.data(), runs.size(), 1);
}

// The checksummed forms plan their pairs as the plain ones do (tensor_api.cpp) and carry them out
// through the same route, which takes each pair's checksum on the way (tensor_checksum.hpp).
std::uint32_t CopyEngine::copy(const at::Tensor& dst, const at::Tensor& src, Checksum kind) {
    (void)checksum_name(kind); // throws for a kind outside the enum, before anything is written
    if (kind == Checksum::none) {
        copy(dst, src);
        return 0;
    }
    const detail::PairPlan plan = detail::plan_pair(dst, src, std::nullopt, false, detail::adapter::min_run_bytes(*this));
    detail::check_checksummable(&dst, 1, false);
    std::uint32_t crc = 0;
    detail::PairChecksums sums{kind, &crc, {}};
    detail::carry_out(*this, &plan, 1, &dst, &src, false, nullptr, &sums);
    return crc;
}

std::vector<std::uint32_t> CopyEngine::copy_batch(const std::vector<at::Tensor>& dsts,
                                                  const std::vector<at::Tensor>& srcs, Checksum kind) {
    (void)checksum_name(kind);
    if (kind == Checksum::none) {
        copy_batch(dsts, srcs);
        return std::vector<std::uint32_t>(dsts.size(), 0);
    }
    const detail::BatchPlan plan = detail::plan_batch(dsts, srcs, true, detail::adapter::min_run_bytes(*this));
    std::vector<std::uint32_t> out(plan.pairs.size(), 0);
    detail::check_checksummable(dsts.data(), dsts.size(), true);
    detail::PairChecksums sums{kind, out.data(), {}};
    detail::carry_out(*this, plan.pairs.data(), plan.pairs.size(), dsts.data(), srcs.data(), true, nullptr, &sums);
    return out;
}

CopyHandle CopyEngine::copy_async(const at::Tensor& dst, const at::Tensor& src, Checksum kind) {
    return copy_async(dst, src, kind, AsyncOptions{});
}

CopyHandle CopyEngine::copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs,
                                        Checksum kind) {
    return copy_batch_async(dsts, srcs, kind, AsyncOptions{});
}

CopyHandle CopyEngine::copy_async(const at::Tensor& dst, const at::Tensor& src, Checksum kind,
                                  const AsyncOptions& limits) {
    (void)checksum_name(kind);
    return detail::submit_batch(*this, {dst}, {src}, false, kind, limits);
}

CopyHandle CopyEngine::copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs,
                                        Checksum kind, const AsyncOptions& limits) {
    (void)checksum_name(kind);
    return detail::submit_batch(*this, dsts, srcs, true, kind, limits);
}

} // namespace tilecopy
