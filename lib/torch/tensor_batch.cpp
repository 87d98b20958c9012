// Tensor copies carried out: one pair or a batch, now or on the engine's submitter thread.
//
// A batch is planned whole before anything is written: every pair through plan_pair (the
// rules of tensor_copy.cpp, its index in each message), then the pairs against each other.
// Pairs whose results would depend on the order of the copies (a destination sharing bytes
// with another pair's destination or source) are refused, which leaves the kernels free to
// run the whole batch as one schedule per conversion: 10,000 small tensors become cache-sized
// blocks shared among the cores, large ones are split. Pairs for torch's copy_ run first,
// those copy_ might still refuse (sparse, quantized...) before all others, so that a refusal
// leaves the fast-path pairs unwritten.
#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ThreadLocalState.h>
#include <ATen/core/Tensor.h>

#include <tilecopy/copy_engine.hpp>
#include <tilecopy/torch.hpp>

#include "engine.hpp"
#include "tensor_pair.hpp"

namespace tilecopy {
namespace detail {
namespace {

constexpr std::size_t kConversions = static_cast<std::size_t>(Conversion::F16ToF32) + 1;

struct BatchPlan {
    std::vector<PairPlan> pairs;
    std::array<std::vector<Region>, kConversions> regions; // every Kernels pair's runs
    std::vector<std::size_t> torch_order;                  // Torch pairs, those copy_ may refuse first
    std::uint64_t total_bytes = 0;
    std::uint64_t nothing_bytes = 0; // pairs with nothing to write: done from the start
};

void emit(const PairPlan& p, std::vector<Region>& out) {
    const std::size_t first = out.size();
    out.resize(first + p.layout.run_count);
    emit_regions(p.layout, p.dst_data, p.src_data, p.dst_element, p.src_element, p.conversion, 0, p.layout.run_count,
                 out.data() + first);
}

const char* role(bool written) { return written ? "destination" : "source"; }

// Pairs that share bytes across the batch. The extents (one span per tensor) decide almost
// every batch with one sort; only when two extents meet (column blocks of one matrix, say) are
// the kernel pairs' runs compared one by one.
void check_independent(const BatchPlan& plan, const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs) {
    std::vector<Span> spans;
    spans.reserve(2 * plan.pairs.size());
    for (const PairPlan& p : plan.pairs) {
        if (p.action == PairAction::Nothing) continue;
        spans.push_back(p.dst_extent);
        spans.push_back(p.src_extent);
    }
    SpanConflict conflict;
    if (!find_conflict(spans, conflict)) return;

    spans.clear();
    for (std::size_t i = 0; i < plan.pairs.size(); ++i) {
        const PairPlan& p = plan.pairs[i];
        if (p.action == PairAction::Nothing) continue;
        if (p.action == PairAction::Torch) {
            spans.push_back(p.dst_extent);
            spans.push_back(p.src_extent);
            continue;
        }
        std::vector<Region> runs;
        emit(p, runs);
        const std::size_t des = p.conversion == Conversion::None ? 1 : p.dst_element;
        const std::size_t ses = p.conversion == Conversion::None ? 1 : p.src_element;
        for (const Region& r : runs) {
            const auto d = reinterpret_cast<std::uintptr_t>(r.dst);
            const auto s = reinterpret_cast<std::uintptr_t>(r.src);
            spans.push_back(Span{d, d + r.count * des, i, true});
            spans.push_back(Span{s, s + r.count * ses, i, false});
        }
    }
    if (!find_conflict(spans, conflict)) return;
    std::size_t a = conflict.first_pair, b = conflict.second_pair;
    bool a_written = conflict.first_written, b_written = conflict.second_written;
    if (a > b) {
        std::swap(a, b);
        std::swap(a_written, b_written);
    }
    const at::Tensor& ta = a_written ? dsts[a] : srcs[a];
    const at::Tensor& tb = b_written ? dsts[b] : srcs[b];
    throw Error("tilecopy: pairs " + std::to_string(a) + " and " + std::to_string(b) + ": the " + role(a_written) +
                " of pair " + std::to_string(a) + " (" + tensor_text(ta) + ") and the " + role(b_written) +
                " of pair " + std::to_string(b) + " (" + tensor_text(tb) +
                ") share memory, so the batch's result would depend on the order of its copies");
}

// Throws tilecopy::Error with nothing written. `indexed`: messages name the pair (batches).
BatchPlan plan_batch(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs, bool indexed) {
    if (dsts.size() != srcs.size())
        throw Error("tilecopy: a tensor batch needs as many sources as destinations (got " +
                    std::to_string(dsts.size()) + " destinations and " + std::to_string(srcs.size()) + " sources)");
    BatchPlan plan;
    plan.pairs.reserve(dsts.size());
    std::array<std::size_t, kConversions> runs{};
    for (std::size_t i = 0; i < dsts.size(); ++i) {
        plan.pairs.push_back(plan_pair(dsts[i], srcs[i], indexed ? std::optional<std::size_t>(i) : std::nullopt));
        const PairPlan& p = plan.pairs.back();
        plan.total_bytes += p.dst_bytes;
        if (p.action == PairAction::Nothing) plan.nothing_bytes += p.dst_bytes;
        if (p.action == PairAction::Kernels) runs[static_cast<std::size_t>(p.conversion)] += p.layout.run_count;
    }
    if (plan.pairs.size() > 1) check_independent(plan, dsts, srcs);

    for (std::size_t c = 0; c < kConversions; ++c) plan.regions[c].reserve(runs[c]);
    for (std::size_t i = 0; i < plan.pairs.size(); ++i) {
        const PairPlan& p = plan.pairs[i];
        if (p.action == PairAction::Kernels) emit(p, plan.regions[static_cast<std::size_t>(p.conversion)]);
    }
    for (bool may_refuse : {true, false})
        for (std::size_t i = 0; i < plan.pairs.size(); ++i)
            if (plan.pairs[i].action == PairAction::Torch && plan.pairs[i].torch_may_refuse == may_refuse)
                plan.torch_order.push_back(i);
    return plan;
}

// Writes a planned batch; `progress` (a handle's) rises as blocks and pairs finish. Version
// counters are bumped once everything is written, as copy_ bumps after writing.
void carry_out(CopyEngine& api, const BatchPlan& plan, const std::vector<at::Tensor>& dsts,
               const std::vector<at::Tensor>& srcs, bool indexed, std::atomic<std::uint64_t>* progress) {
    if (progress) progress->fetch_add(plan.nothing_bytes, std::memory_order_relaxed);
    for (std::size_t i : plan.torch_order) {
        torch_copy(dsts[i], srcs[i], indexed ? std::optional<std::size_t>(i) : std::nullopt);
        api.record(TensorPath::Fallback);
        if (progress) progress->fetch_add(plan.pairs[i].dst_bytes, std::memory_order_relaxed);
    }
    Engine& engine = api.internals();
    for (std::size_t c = 0; c < kConversions; ++c)
        if (!plan.regions[c].empty())
            engine.run(plan.regions[c].data(), plan.regions[c].size(), static_cast<Conversion>(c), progress);
    for (std::size_t i = 0; i < plan.pairs.size(); ++i) {
        const PairPlan& p = plan.pairs[i];
        if (p.action == PairAction::Torch) continue;
        dsts[i].unsafeGetTensorImpl()->bump_version();
        if (p.action == PairAction::Kernels) api.record(p.path);
    }
}

// What an asynchronous copy holds until it is done: the tensors (so that the caller may drop
// its references), the plan, and the caller's torch thread-local state (grad mode, inference
// mode), which copy_ and the version counters consult on the submitter thread.
struct AsyncBatch {
    std::vector<at::Tensor> dsts;
    std::vector<at::Tensor> srcs;
    BatchPlan plan;
    bool indexed = false;
    at::ThreadLocalState torch_state;
};

CopyHandle submit_batch(CopyEngine& api, std::vector<at::Tensor> dsts, std::vector<at::Tensor> srcs, bool indexed) {
    auto job = std::make_shared<AsyncBatch>();
    job->plan = plan_batch(dsts, srcs, indexed);
    job->dsts = std::move(dsts);
    job->srcs = std::move(srcs);
    job->indexed = indexed;
    const std::uint64_t total = job->plan.total_bytes;
    AsyncBatch* batch = job.get(); // owned by the state's keep_alive until the work is done
    CopyEngine* engine = &api;
    return api.internals().submit(
        [engine, batch](AsyncState& state) {
            at::ThreadLocalStateGuard guard(batch->torch_state);
            carry_out(*engine, batch->plan, batch->dsts, batch->srcs, batch->indexed, &state.copied);
        },
        total, std::move(job));
}

} // namespace
} // namespace detail

void CopyEngine::copy(const at::Tensor& dst, const at::Tensor& src) {
    const detail::PairPlan p = detail::plan_pair(dst, src, std::nullopt);
    switch (p.action) {
    case detail::PairAction::Nothing:
        dst.unsafeGetTensorImpl()->bump_version();
        return;
    case detail::PairAction::Torch:
        detail::torch_copy(dst, src, std::nullopt);
        record(TensorPath::Fallback);
        return;
    case detail::PairAction::Kernels: {
        if (p.layout.run_count == 1) {
            // No region list for the common case; a converting run goes through run() too.
            Region region;
            detail::emit_regions(p.layout, p.dst_data, p.src_data, p.dst_element, p.src_element, p.conversion, 0, 1,
                                 &region);
            if (p.conversion == Conversion::None)
                impl_->copy_bytes(region.dst, region.src, region.count);
            else
                impl_->run(&region, 1, p.conversion);
        } else {
            std::vector<Region> regions;
            detail::emit(p, regions);
            impl_->run(regions.data(), regions.size(), p.conversion);
        }
        dst.unsafeGetTensorImpl()->bump_version();
        record(p.path);
        return;
    }
    }
}

void CopyEngine::copy_batch(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs) {
    const detail::BatchPlan plan = detail::plan_batch(dsts, srcs, true);
    detail::carry_out(*this, plan, dsts, srcs, true, nullptr);
}

CopyHandle CopyEngine::copy_async(const at::Tensor& dst, const at::Tensor& src) {
    return detail::submit_batch(*this, {dst}, {src}, false);
}

CopyHandle CopyEngine::copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs) {
    return detail::submit_batch(*this, dsts, srcs, true);
}

} // namespace tilecopy
