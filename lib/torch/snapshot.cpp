// tilecopy::snapshot and snapshot_async (<tilecopy/snapshot.hpp>): the tensors are sorted into
// kept (not on the CPU, under NonCpu::Keep), reused (a matching tensor of `into`) and fresh
// (clone_batch's memory, one allocation for all), then every copied pair goes into one batch:
// one plan, one schedule, one checksum pass.
//
// The asynchronous snapshot's tensors travel with its copy and reach the handle's outcome only
// from the copy's last step, once every block ran and no cancel was seen: a snapshot that fails
// or is cancelled hands out nothing, and its fresh memory goes when the copy drops its tensors
// (AsyncState::finish), whoever holds the handle.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include <tilecopy/snapshot.hpp>

#include "adapter.hpp"
#include "tensor_batch.hpp"
#include "tensor_memory.hpp"
#include "tensor_pair.hpp"

namespace tilecopy {
namespace detail {
namespace {

constexpr std::size_t kKept = std::numeric_limits<std::size_t>::max();

// A snapshot decided: the pairs to copy and where each source's tensor comes from.
struct Prepared {
    std::vector<at::Tensor> tensors;      // one per source: the result
    std::vector<at::Tensor> dsts, srcs;   // the copy's pairs, in source order
    std::vector<std::size_t> pair_of;     // per source: its pair, or kKept
    std::size_t allocated_tensors = 0;
    std::uint64_t allocated_bytes = 0;
};

std::string snapshot_index(std::size_t i, std::size_t n) {
    return "tensor " + std::to_string(i) + " of the snapshot's " + std::to_string(n);
}

// into's tensor may take the source's bytes as its clone would: the same sizes, dtype and
// clone()'s strides, in plain strided CPU memory that copy_ may write without autograd (and an
// inference tensor only in InferenceMode, where its version counter may not rise otherwise).
bool reusable(const at::Tensor& previous, const at::Tensor& src) {
    return previous.defined() && previous.device().is_cpu() && previous.layout() == at::kStrided &&
           previous.has_storage() && !previous.is_conj() && !previous.is_neg() && !previous.requires_grad() &&
           (!previous.is_inference() || c10::InferenceMode::is_enabled()) &&
           previous.scalar_type() == src.scalar_type() && previous.sizes().equals(src.sizes()) &&
           previous.strides().vec() == preserved_strides(src);
}

Prepared prepare(CopyEngine& engine, const std::vector<at::Tensor>& tensors, const SnapshotOptions& options,
                 const std::vector<at::Tensor>& into, const char* call) {
    enum class From : std::uint8_t { Kept, Into, Fresh };
    const std::size_t n = tensors.size();
    std::vector<From> from(n, From::Fresh);
    std::vector<at::Tensor> like; // the sources that get new memory
    for (std::size_t i = 0; i < n; ++i) {
        const at::Tensor& t = tensors[i];
        if (!t.defined()) throw Error(std::string("tilecopy: ") + call + ": " + snapshot_index(i, n) + " is undefined");
        if (!t.device().is_cpu()) {
            if (options.non_cpu == NonCpu::Keep) {
                from[i] = From::Kept;
                continue;
            }
            throw Error(std::string("tilecopy: ") + call + ": " + snapshot_index(i, n) + " (" + tensor_text(t) +
                        ") is on " + t.device().str() +
                        ", not the CPU; a snapshot copies CPU tensors (NonCpu::Keep keeps others as they are)");
        }
        check_strided_cpu(t, call, i);
        if (i < into.size() && reusable(into[i], t))
            from[i] = From::Into;
        else
            like.push_back(t);
    }
    Made made;
    if (!like.empty()) made = make_like(engine, like, options.memory, call, true, true);
    Prepared p;
    p.tensors.resize(n);
    p.pair_of.assign(n, kKept);
    p.allocated_tensors = like.size();
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (from[i] == From::Kept) {
            p.tensors[i] = tensors[i];
            continue;
        }
        p.pair_of[i] = p.dsts.size();
        if (from[i] == From::Fresh) {
            // The writer (whose version counter takes the copy's bump) stands in the pair.
            p.allocated_bytes += made.writers[k].storage().nbytes();
            p.tensors[i] = std::move(made.tensors[k]);
            p.dsts.push_back(std::move(made.writers[k++]));
        } else {
            p.tensors[i] = into[i];
            p.dsts.push_back(into[i]);
        }
        p.srcs.push_back(tensors[i]);
    }
    p.srcs = sources_of(p.srcs);
    return p;
}

// Limits are for the asynchronous form: a synchronous copy is never throttled.
void check_unlimited(const SnapshotOptions& options) {
    if (options.limits.threads != 0 || options.limits.bytes_per_second != 0)
        throw Error("tilecopy: snapshot: threads and bytes_per_second limit snapshot_async; a synchronous snapshot "
                    "is a synchronous copy, which is never limited (leave them 0)");
}

} // namespace
} // namespace detail

SnapshotHandle::SnapshotHandle(CopyHandle copy, std::shared_ptr<const SnapshotOutcome> outcome,
                               std::vector<std::size_t> pair_of, std::size_t allocated_tensors,
                               std::uint64_t allocated_bytes) noexcept
    : outcome_(std::move(outcome)), pair_of_(std::move(pair_of)), allocated_tensors_(allocated_tensors),
      allocated_bytes_(allocated_bytes), copy_(std::move(copy)) {}

std::vector<at::Tensor> SnapshotHandle::result() {
    copy_.wait();
    if (!outcome_) return {};
    return outcome_->tensors;
}

std::vector<std::uint32_t> SnapshotHandle::checksums() {
    const std::vector<std::uint32_t> pairs = copy_.checksums();
    std::vector<std::uint32_t> out(pair_of_.size(), 0);
    for (std::size_t i = 0; i < pair_of_.size(); ++i)
        if (pair_of_[i] != detail::kKept) out[i] = pairs.at(pair_of_[i]);
    return out;
}

Snapshot snapshot(CopyEngine& engine, const std::vector<at::Tensor>& tensors, const SnapshotOptions& options,
                  const std::vector<at::Tensor>& into) {
    detail::check_unlimited(options);
    (void)checksum_name(options.checksum); // a kind outside the enum throws before anything is allocated
    detail::Prepared p = detail::prepare(engine, tensors, options, into, "snapshot");
    Snapshot out;
    {
        at::NoGradGuard no_grad;
        if (options.checksum == Checksum::none) {
            engine.copy_batch(p.dsts, p.srcs);
        } else {
            const std::vector<std::uint32_t> pairs = engine.copy_batch(p.dsts, p.srcs, options.checksum);
            out.checksums.assign(tensors.size(), 0);
            for (std::size_t i = 0; i < tensors.size(); ++i)
                if (p.pair_of[i] != detail::kKept) out.checksums[i] = pairs[p.pair_of[i]];
        }
    }
    out.tensors = std::move(p.tensors);
    out.allocated_tensors = p.allocated_tensors;
    out.allocated_bytes = p.allocated_bytes;
    return out;
}

SnapshotHandle snapshot_async(CopyEngine& engine, const std::vector<at::Tensor>& tensors,
                              const SnapshotOptions& options, const std::vector<at::Tensor>& into) {
    (void)checksum_name(options.checksum);
    detail::Prepared p = detail::prepare(engine, tensors, options, into, "snapshot_async");
    auto outcome = std::make_shared<SnapshotOutcome>();
    // The tensors ride with the copy; its last step hands them over unless it was cancelled.
    auto hand_over = [outcome, result = std::move(p.tensors)]() mutable {
        if (!detail::adapter::cancelled()) outcome->tensors = std::move(result);
    };
    at::NoGradGuard no_grad; // captured with the caller's other torch state for the submitter thread
    CopyHandle copy = detail::submit_batch(engine, std::move(p.dsts), std::move(p.srcs), true, options.checksum,
                                           options.limits, std::move(hand_over));
    return SnapshotHandle(std::move(copy), std::move(outcome), std::move(p.pair_of), p.allocated_tensors,
                          p.allocated_bytes);
}

Snapshot snapshot(const std::vector<at::Tensor>& tensors, const SnapshotOptions& options,
                  const std::vector<at::Tensor>& into) {
    return snapshot(default_engine(), tensors, options, into);
}

SnapshotHandle snapshot_async(const std::vector<at::Tensor>& tensors, const SnapshotOptions& options,
                              const std::vector<at::Tensor>& into) {
    return snapshot_async(default_engine(), tensors, options, into);
}

} // namespace tilecopy
