// A batch is planned whole before anything is written: every pair through plan_pair (the rules
// of tensor_rules.cpp, its index in each message), then the pairs against each other. Pairs
// whose results would depend on the order of the copies (a destination sharing bytes with
// another pair's destination or source) are refused, which leaves the kernels free to run the
// whole batch as one schedule per conversion: 10,000 small tensors become cache-sized blocks
// shared among the cores, large ones are split. Whether two pairs share memory depends only on
// their element sets (tensor_overlap.hpp).
//
// Every pair's acceptance is decided before anything is written, against the real destination
// (its memory, autograd, version counter): plan_pair makes every check copy_ would make on plain
// tensors and on conjugate or negative views; a pair with tensors outside that reach (sparse,
// quantized, Python subclasses...) is first asked of copy_ on a twin of its destination that
// holds one element (dry_run).
#include "tensor_batch.hpp"

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <ATen/ThreadLocalState.h>

#include "adapter.hpp"
#include "tensor_overlap.hpp"

namespace tilecopy::detail {
namespace {

constexpr std::size_t kConversions = static_cast<std::size_t>(Conversion::F16ToF32) + 1;

std::optional<std::size_t> index_if(bool indexed, std::size_t i) {
    return indexed ? std::optional<std::size_t>(i) : std::nullopt;
}

const char* role(bool written) { return written ? "destination" : "source"; }

// Spans of element runs a batch check may hold (32 bytes each): past this, interleaved tensors
// whose extents meet and whose strides do not set them apart are refused rather than compared
// (README, "Asynchronous and batched tensor copies").
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
    Span a = conflict.first, b = conflict.second;
    if (a.owner > b.owner) std::swap(a, b);
    const at::Tensor& ta = a.written ? dsts[a.owner] : srcs[a.owner];
    const at::Tensor& tb = b.written ? dsts[b.owner] : srcs[b.owner];
    throw Error("tilecopy: pairs " + std::to_string(a.owner) + " and " + std::to_string(b.owner) + ": the " +
                role(a.written) + " of pair " + std::to_string(a.owner) + " (" + tensor_text(ta) + ") and the " +
                role(b.written) + " of pair " + std::to_string(b.owner) + " (" + tensor_text(tb) + ") " + why);
}

// Pairs that share bytes across the batch: a destination with another pair's destination or
// source, whatever path each pair takes. A non-empty extent is its tensor's strided CPU memory
// (PairPlan).
void check_independent(const BatchPlan& plan, const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs) {
    std::vector<Span> extents;
    extents.reserve(2 * plan.pairs.size());
    for (const PairPlan& p : plan.pairs) {
        if (p.action == PairAction::Nothing) continue;
        if (p.dst_extent.end > p.dst_extent.begin) extents.push_back(p.dst_extent);
        if (p.src_extent.end > p.src_extent.begin) extents.push_back(p.src_extent);
    }
    // Extents apart settle almost every batch: the element sets are read only where they meet.
    SpanConflict conflict;
    if (!find_conflict(extents, conflict)) return;
    std::vector<StridedMemory> memory;
    memory.reserve(extents.size());
    for (const Span& e : extents) memory.push_back(memory_of(e.written ? dsts[e.owner] : srcs[e.owner]));
    switch (find_sharing(memory, extents, kMaxCheckedRuns, conflict)) {
    case Sharing::None: return;
    case Sharing::Shared:
        refuse_sharing(conflict, dsts, srcs, "share memory, so the batch's result would depend on the order of its copies");
    case Sharing::TooManyRuns:
        refuse_sharing(conflict, dsts, srcs,
                       "have overlapping extents and more than " + std::to_string(kMaxCheckedRuns) +
                           " runs of elements to compare, too many to tell whether they share memory; copy them "
                           "in separate batches");
    }
}

// The kernels' runs of every pair for `conversion`, as one schedule. One run alone needs no list.
// With `sums`, the pairs whose runs write their destination front to back are checksummed in
// that pass, and the runs of the others (taken from their destinations afterwards) in a plain one.
void run_kernels(CopyEngine& api, const PairPlan* pairs, std::size_t count, const at::Tensor* dsts,
                 Conversion conversion, std::atomic<std::uint64_t>* progress, PairChecksums* sums) {
    std::size_t runs = 0;
    for (std::size_t i = 0; i < count; ++i)
        if (pairs[i].action == PairAction::Kernels && pairs[i].conversion == conversion) runs += pairs[i].layout.run_count;
    if (runs == 0) return;
    Region one;
    std::vector<Region> many;
    Region* out = &one;
    if (runs > 1) {
        many.resize(runs);
        out = many.data();
    }
    std::size_t at = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const PairPlan& p = pairs[i];
        if (p.action != PairAction::Kernels || p.conversion != conversion) continue;
        emit_regions(p.layout, p.dst_data, p.src_data, p.dst_element, p.src_element, conversion, 0, p.layout.run_count,
                     out + at);
        at += p.layout.run_count;
    }
    if (!sums) {
        adapter::run(api, out, runs, conversion, progress);
        return;
    }
    std::vector<Region> summed, plain;
    std::vector<std::size_t> owners; // per pair in `summed`: its index, then its first run there
    at = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const PairPlan& p = pairs[i];
        if (p.action != PairAction::Kernels || p.conversion != conversion) continue;
        const Region* first = out + at;
        const std::size_t n = p.layout.run_count;
        at += n;
        if (covers_in_order(first, n, dsts[i], p.dst_element)) {
            owners.insert(owners.end(), {i, summed.size()});
            summed.insert(summed.end(), first, first + n);
        } else {
            plain.insert(plain.end(), first, first + n);
        }
    }
    if (!plain.empty()) adapter::run(api, plain.data(), plain.size(), conversion, progress);
    if (summed.empty()) return;
    std::vector<std::uint32_t> crcs(summed.size());
    adapter::run_checksummed(api, summed.data(), summed.size(), conversion, sums->kind, crcs.data(), progress);
    for (std::size_t k = 0; k < owners.size(); k += 2) {
        const std::size_t i = owners[k], first = owners[k + 1];
        sums->out[i] = combine_in_order(sums->kind, crcs.data() + first, summed.data() + first,
                                        pairs[i].layout.run_count, pairs[i].dst_element);
        sums->taken[i] = 1;
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
    Checksum kind = Checksum::none;
    at::ThreadLocalState torch_state;
    std::function<void()> then;
};

} // namespace

BatchPlan plan_batch(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs, bool indexed,
                     std::size_t min_run_bytes) {
    if (dsts.size() != srcs.size())
        throw Error("tilecopy: a tensor batch needs as many sources as destinations (got " +
                    std::to_string(dsts.size()) + " destinations and " + std::to_string(srcs.size()) + " sources)");
    BatchPlan plan;
    plan.pairs.reserve(dsts.size());
    for (std::size_t i = 0; i < dsts.size(); ++i) {
        plan.pairs.push_back(plan_pair(dsts[i], srcs[i], index_if(indexed, i), true, min_run_bytes));
        plan.total_bytes += plan.pairs.back().dst_bytes;
    }
    if (plan.pairs.size() > 1) check_independent(plan, dsts, srcs);
    return plan;
}

void carry_out(CopyEngine& api, const PairPlan* pairs, std::size_t count, const at::Tensor* dsts,
               const at::Tensor* srcs, bool indexed, std::atomic<std::uint64_t>* progress, PairChecksums* sums) {
    if (sums) sums->taken.assign(count, 0);
    for (std::size_t i = 0; i < count; ++i) {
        if (pairs[i].action != PairAction::Torch) continue;
        if (progress && adapter::cancelled()) break; // an asynchronous copy's pair boundary
        torch_copy(dsts[i], srcs[i], index_if(indexed, i));
        adapter::record(api, TensorPath::Fallback);
        if (progress) progress->fetch_add(pairs[i].dst_bytes, std::memory_order_relaxed);
    }
    for (std::size_t c = 0; c < kConversions; ++c)
        run_kernels(api, pairs, count, dsts, static_cast<Conversion>(c), progress, sums);
    // After a large batch the destinations' version counters are cold: each is fetched a few
    // pairs ahead, and the paths are counted once per path.
    constexpr std::size_t kAhead = 8;
    std::array<std::uint64_t, 4> paths{};
    for (std::size_t i = 0; i < count; ++i) {
        if (i + kAhead < count) __builtin_prefetch(&dsts[i + kAhead].unsafeGetTensorImpl()->version_counter(), 1);
        const PairPlan& p = pairs[i];
        if (p.action == PairAction::Torch) continue;
        dsts[i].unsafeGetTensorImpl()->bump_version();
        if (p.action == PairAction::Kernels) ++paths[static_cast<std::size_t>(p.path) & 3];
        else if (progress) progress->fetch_add(p.dst_bytes, std::memory_order_relaxed);
    }
    for (std::size_t k = 0; k < paths.size(); ++k)
        if (paths[k]) adapter::record(api, static_cast<TensorPath>(k), paths[k]);
    if (sums)
        for (std::size_t i = 0; i < count; ++i)
            if (!sums->taken[i]) sums->out[i] = api.checksum(dsts[i], sums->kind);
}

CopyHandle submit_batch(CopyEngine& api, std::vector<at::Tensor> dsts, std::vector<at::Tensor> srcs, bool indexed,
                        Checksum kind, const AsyncOptions& limits, std::function<void()> then) {
    auto job = std::make_shared<AsyncBatch>();
    job->plan = plan_batch(dsts, srcs, indexed, adapter::min_run_bytes(api));
    if (kind != Checksum::none) check_checksummable(dsts.data(), dsts.size(), indexed);
    job->dsts = std::move(dsts);
    job->srcs = std::move(srcs);
    job->indexed = indexed;
    job->kind = kind;
    job->then = std::move(then);
    const std::uint64_t total = job->plan.total_bytes;
    AsyncBatch* batch = job.get(); // owned by the state's keep_alive until the work is done
    CopyEngine* engine = &api;
    auto work = [engine, batch](std::atomic<std::uint64_t>& copied, std::uint32_t* out) {
        at::ThreadLocalStateGuard guard(batch->torch_state);
        PairChecksums sums{batch->kind, out, {}};
        carry_out(*engine, batch->plan.pairs.data(), batch->plan.pairs.size(), batch->dsts.data(), batch->srcs.data(),
                  batch->indexed, &copied, out ? &sums : nullptr);
        if (batch->then) batch->then();
    };
    if (kind == Checksum::none)
        return adapter::submit(
            api, [work](std::atomic<std::uint64_t>& copied) { work(copied, nullptr); }, total, std::move(job),
            limits);
    const std::size_t pairs = job->plan.pairs.size();
    return adapter::submit_checksummed(api, std::move(work), pairs, total, std::move(job), limits);
}

} // namespace tilecopy::detail
