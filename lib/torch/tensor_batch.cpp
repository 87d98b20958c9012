// Tensor copies carried out: one pair or a batch, now or on the engine's submitter thread.
//
// A batch is planned whole before anything is written: every pair through plan_pair (the
// rules of tensor_copy.cpp, its index in each message), then the pairs against each other.
// Pairs whose results would depend on the order of the copies (a destination sharing bytes
// with another pair's destination or source) are refused, which leaves the kernels free to
// run the whole batch as one schedule per conversion: 10,000 small tensors become cache-sized
// blocks shared among the cores, large ones are split. Whether two pairs share memory depends
// only on their element sets: extents decide almost every batch, and where extents meet, the
// tensors' runs of elements are compared exactly.
//
// Every pair's acceptance is decided before anything is written, against the real destination
// (its memory, autograd, version counter): plan_pair makes every check copy_ would make on plain
// tensors and on conjugate or negative views; a pair with tensors outside that reach (sparse,
// quantized, Python subclasses...) is first asked of copy_ on a twin of its destination that
// holds one element (dry_run). The pairs for copy_ run before the kernels' pairs.
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

#include "adapter.hpp"
#include "tensor_pair.hpp"
#include "torch_checks.hpp"

namespace tilecopy {
namespace detail {
namespace {

constexpr std::size_t kConversions = static_cast<std::size_t>(Conversion::F16ToF32) + 1;

struct BatchPlan {
    std::vector<PairPlan> pairs;
    std::array<std::vector<Region>, kConversions> regions; // every Kernels pair's runs
    std::vector<std::size_t> torch_pairs;                  // Torch pairs, in order
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

// Spans of element runs a batch check may hold (32 bytes each): past this, interleaved tensors
// whose extents meet are refused rather than compared (README, "Asynchronous and batched
// tensor copies").
constexpr std::size_t kMaxCheckedRuns = std::size_t(1) << 21;

StridedMemory memory_of(const at::Tensor& t) {
    StridedMemory m;
    m.data = reinterpret_cast<std::uintptr_t>(t.data_ptr());
    m.element_size = t.element_size();
    for (std::int64_t i = 0; i < t.dim(); ++i) m.dims.push_back(PairDim{t.size(i), t.stride(i), 0});
    return m;
}

[[noreturn]] void refuse_sharing(const SpanConflict& conflict, const std::vector<at::Tensor>& dsts,
                                 const std::vector<at::Tensor>& srcs, const std::string& why) {
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
                " of pair " + std::to_string(b) + " (" + tensor_text(tb) + ") " + why);
}

// Pairs that share bytes across the batch: a destination with another pair's destination or
// source. Extents (one span per tensor) decide almost every batch with one sort; the tensors
// whose extents meet another pair's are then compared run by run, whatever path their pair takes.
void check_independent(const BatchPlan& plan, const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs) {
    std::vector<Span> extents;
    std::vector<const at::Tensor*> memory;
    extents.reserve(2 * plan.pairs.size());
    for (const PairPlan& p : plan.pairs) {
        if (p.action == PairAction::Nothing) continue;
        extents.push_back(p.dst_extent);
        memory.push_back(&p.dst_memory);
        extents.push_back(p.src_extent);
        memory.push_back(&p.src_memory);
    }
    SpanConflict conflict;
    std::vector<Span> sorted = extents;
    if (!find_conflict(sorted, conflict)) return;
    const SpanConflict coarse = conflict;

    std::vector<bool> involved;
    mark_meeting(extents, involved);
    std::vector<Span> runs;
    for (std::size_t i = 0; i < extents.size(); ++i) {
        if (!involved[i]) continue;
        if (!append_element_spans(memory_of(*memory[i]), extents[i].pair, extents[i].written, kMaxCheckedRuns, runs))
            refuse_sharing(coarse, dsts, srcs,
                           "have overlapping extents and more than " + std::to_string(kMaxCheckedRuns) +
                               " runs of elements to compare, too many to tell whether they share memory; copy them "
                               "in separate batches");
    }
    if (find_conflict(runs, conflict))
        refuse_sharing(conflict, dsts, srcs, "share memory, so the batch's result would depend on the order of its copies");
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
        plan.pairs.push_back(plan_pair(dsts[i], srcs[i], indexed ? std::optional<std::size_t>(i) : std::nullopt, true));
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
    for (std::size_t i = 0; i < plan.pairs.size(); ++i)
        if (plan.pairs[i].action == PairAction::Torch) plan.torch_pairs.push_back(i);
    return plan;
}

// Writes a planned batch; `progress` (a handle's) rises as blocks and pairs finish. Version
// counters are bumped once everything is written, as copy_ bumps after writing.
void carry_out(CopyEngine& api, const BatchPlan& plan, const std::vector<at::Tensor>& dsts,
               const std::vector<at::Tensor>& srcs, bool indexed, std::atomic<std::uint64_t>* progress) {
    if (progress) progress->fetch_add(plan.nothing_bytes, std::memory_order_relaxed);
    for (std::size_t i : plan.torch_pairs) {
        torch_copy(dsts[i], srcs[i], indexed ? std::optional<std::size_t>(i) : std::nullopt);
        api.record(TensorPath::Fallback);
        if (progress) progress->fetch_add(plan.pairs[i].dst_bytes, std::memory_order_relaxed);
    }
    for (std::size_t c = 0; c < kConversions; ++c)
        if (!plan.regions[c].empty())
            adapter::run(api, plan.regions[c].data(), plan.regions[c].size(), static_cast<Conversion>(c), progress);
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
    return adapter::submit(
        api,
        [engine, batch](std::atomic<std::uint64_t>& copied) {
            at::ThreadLocalStateGuard guard(batch->torch_state);
            carry_out(*engine, batch->plan, batch->dsts, batch->srcs, batch->indexed, &copied);
        },
        total, std::move(job));
}

} // namespace
} // namespace detail

void CopyEngine::copy(const at::Tensor& dst, const at::Tensor& src) {
    const detail::PairPlan p = detail::plan_pair(dst, src, std::nullopt, false);
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
                detail::adapter::copy_bytes(*this, region.dst, region.src, region.count);
            else
                detail::adapter::run(*this, &region, 1, p.conversion);
        } else {
            std::vector<Region> regions;
            detail::emit(p, regions);
            detail::adapter::run(*this, regions.data(), regions.size(), p.conversion);
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
