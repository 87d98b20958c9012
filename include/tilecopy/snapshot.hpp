// Snapshots of a set of tensors (a state_dict's, an optimizer's) in memory the engine allocated,
// for checkpoint staging: tilecopy::snapshot and snapshot_async (libtilecopy-torch,
// tilecopy-torch.pc; docs/snapshot.md). Every CPU tensor is copied as one schedule into a fresh
// tensor like CopyEngine::clone_batch's, or into the matching tensor of a previous snapshot
// (`into`), which then allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include <tilecopy/torch.hpp>

namespace tilecopy {

// What a snapshot does with a tensor that is not on the CPU.
enum class NonCpu : std::uint8_t {
    Error, // tilecopy::Error naming its index, nothing allocated or written
    Keep,  // the snapshot holds that tensor itself (a reference, not a copy)
};

struct SnapshotOptions {
    // Where the fresh tensors live (CopyEngine::allocate's options; clone_batch's defaults).
    AllocOptions memory;
    // Limits and priority of snapshot_async's copy. A snapshot is background work unless told
    // otherwise: it yields the threads to foreground copies (docs/async.md). The synchronous
    // snapshot() is a synchronous copy and is never limited: threads and bytes_per_second must be
    // left at 0 there.
    AsyncOptions limits{0, 0, Priority::Background};
    // With a kind, the checksum of each snapshot tensor's bytes (CopyEngine::copy_batch's, taken
    // in the same pass).
    Checksum checksum = Checksum::none;
    NonCpu non_cpu = NonCpu::Error;
};

struct Snapshot {
    // One per source, in order: the copy, or the source itself where NonCpu::Keep kept it.
    std::vector<at::Tensor> tensors;
    // With SnapshotOptions::checksum: one per tensor (0 for a kept one); else empty.
    std::vector<std::uint32_t> checksums;
    // Tensors that got new memory (one allocation for all of them) and its bytes; the others
    // reused `into`'s tensors or were kept.
    std::size_t allocated_tensors = 0;
    std::uint64_t allocated_bytes = 0;
};

// What a snapshot's copy hands over when it succeeds: its tensors, set by the copy's last step
// (before the handle reports it done) and never otherwise, so that a snapshot that fails or is
// cancelled leaves no reference to the memory it allocated.
struct SnapshotOutcome {
    std::vector<at::Tensor> tensors;
};

// The snapshot of snapshot_async: the copy in flight (progress, limits, cancel: copy()) and the
// tensors once it has succeeded. Destroying it waits for the copy, as a CopyHandle does.
class TILECOPY_API SnapshotHandle {
public:
    SnapshotHandle() = default;
    SnapshotHandle(CopyHandle copy, std::shared_ptr<const SnapshotOutcome> outcome, std::vector<std::size_t> pair_of,
                   std::size_t allocated_tensors, std::uint64_t allocated_bytes) noexcept;

    // Waits for the copy (rethrowing its error: "cancelled after N of M bytes" for a cancelled
    // one) and gives one tensor per source, in order. Every call gives the same tensors.
    std::vector<at::Tensor> result();
    // Waits as result() does; with SnapshotOptions::checksum, one per tensor (0 for a kept one).
    std::vector<std::uint32_t> checksums();
    void wait() { copy_.wait(); }
    bool done() const noexcept { return copy_.done(); }
    // CopyHandle::cancel: stops the copy at the next block boundary, never blocks. A snapshot
    // cancelled before its copy finished gives no tensors: the memory it allocated is freed as
    // soon as the copy stops (`into`'s tensors stay the caller's, partly written).
    void cancel() noexcept { copy_.cancel(); }
    CopyHandle& copy() noexcept { return copy_; }
    std::size_t allocated_tensors() const noexcept { return allocated_tensors_; }
    std::uint64_t allocated_bytes() const noexcept { return allocated_bytes_; }
    // For bindings that take the CopyHandle away (copy()): what result() reads once it is done,
    // and per source its pair in the copy (SIZE_MAX for a kept tensor), to place checksums.
    const std::shared_ptr<const SnapshotOutcome>& outcome() const noexcept { return outcome_; }
    const std::vector<std::size_t>& pair_of() const noexcept { return pair_of_; }

private:
    std::shared_ptr<const SnapshotOutcome> outcome_;
    std::vector<std::size_t> pair_of_;
    std::size_t allocated_tensors_ = 0;
    std::uint64_t allocated_bytes_ = 0;
    CopyHandle copy_; // declared last: destroyed first, waiting for the copy
};

// Every tensor checked first (an undefined one, one that is not strided CPU memory, or a non-CPU
// one under NonCpu::Error throws tilecopy::Error naming its index, nothing allocated or
// written). into[i] is reused for tensors[i] when it has the same sizes and dtype and the
// strides clone() would give (a previous snapshot's tensors do), is strided CPU memory and does
// not require grad; every other tensor gets new memory, all in one allocation. `into` may be
// shorter or longer than `tensors` (the extra ones are ignored). The copy writes `into`'s tensors
// like copy_ (their version counters rise).
TILECOPY_API Snapshot snapshot(CopyEngine& engine, const std::vector<at::Tensor>& tensors,
                               const SnapshotOptions& options = {}, const std::vector<at::Tensor>& into = {});
// The same checked and allocated now (errors thrown here), copied on the engine's submitter
// thread under options.limits.
TILECOPY_API SnapshotHandle snapshot_async(CopyEngine& engine, const std::vector<at::Tensor>& tensors,
                                           const SnapshotOptions& options = {},
                                           const std::vector<at::Tensor>& into = {});
// Both on default_engine().
TILECOPY_API Snapshot snapshot(const std::vector<at::Tensor>& tensors, const SnapshotOptions& options = {},
                               const std::vector<at::Tensor>& into = {});
TILECOPY_API SnapshotHandle snapshot_async(const std::vector<at::Tensor>& tensors, const SnapshotOptions& options = {},
                                           const std::vector<at::Tensor>& into = {});

} // namespace tilecopy
