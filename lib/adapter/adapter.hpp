// The torch adapter's door into the core: everything libtilecopy-torch needs of an engine, and
// nothing more. The adapter's include path holds this directory alone (meson.build), so it
// cannot reach the scheduler's, the crew's or oneTBB's headers; besides the public API this is
// the only part of the core that libtilecopy exports. The adapter is built from the same tree
// and its pkg-config file requires this exact tilecopy version, so the door may change with any
// release.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/copy_engine.hpp>

namespace tilecopy::detail {

class BufferPool; // lib/memory_pool.hpp

// What a buffer of the clone pool was made for: a held buffer serves only a request with the
// same key.
struct PoolKey {
    std::size_t bytes = 0;
    HugePages huge_pages = HugePages::Auto; // resolved, never Default
    Placement placement = Placement::Default;
    int node = -1;
    bool operator==(const PoolKey& o) const noexcept {
        return bytes == o.bytes && huge_pages == o.huge_pages && placement == o.placement && node == o.node;
    }
};

} // namespace tilecopy::detail

namespace tilecopy::detail::adapter {

// Memory for the tensors of clone(), clone_batch() and empty_like(): a buffer from the engine's
// clone pool when it holds one of this size and these options, else engine.allocate()'s.
// `pool` is where it goes back (empty: it may not, and is unmapped). Throws as allocate().
struct TensorBuffer {
    HostBuffer buffer;
    std::weak_ptr<BufferPool> pool;
    PoolKey key;
};
TILECOPY_API TensorBuffer allocate_for_tensors(CopyEngine& engine, std::size_t bytes, const AllocOptions& options);
// When the last tensor using it dies: into its pool if that still exists (its engine is alive)
// and keeps it, else unmapped. Needs no engine; never throws.
TILECOPY_API void release_for_tensors(TensorBuffer&& buffer) noexcept;

// Validated regions (none overlapping) as one copy, the engine's one entry: small copies run on
// the caller's thread at once, the rest as one schedule; adds destination bytes to *progress as
// blocks finish. Throws tilecopy::Error when the plan cannot be allocated, before anything is
// written.
TILECOPY_API void run(CopyEngine& engine, const Region* regions, std::size_t count, Conversion conversion,
                      std::atomic<std::uint64_t>* progress = nullptr);

// run() that also checksums each region's destination bytes as its blocks are written (one
// CRC per region into out[0..count)); throws tilecopy::Error for a kind outside the enum.
TILECOPY_API void run_checksummed(CopyEngine& engine, const Region* regions, std::size_t count, Conversion conversion,
                                  Checksum kind, std::uint32_t* out, std::atomic<std::uint64_t>* progress = nullptr);
// The checksum of each region's source bytes (count bytes each; destinations ignored), in
// parallel, nothing written; out gets one CRC per region. The regions are not validated.
TILECOPY_API void checksum_regions(CopyEngine& engine, const Region* regions, std::size_t count, Checksum kind,
                                   std::uint32_t* out);

// Queues `work` for the engine's submitter thread (or runs it now in a forked child) and returns
// its handle; `keep_alive` is held until the work is done. The work adds to `copied` as it goes.
using Work = std::function<void(std::atomic<std::uint64_t>& copied)>;
TILECOPY_API CopyHandle submit(CopyEngine& engine, Work work, std::uint64_t total_bytes,
                               std::shared_ptr<void> keep_alive, const AsyncOptions& limits = {});
// In work that submit() runs: whether its copy was cancelled. A true answer counts as work left
// undone (the handle's wait() then reports the cancel), so ask it only before skipping work.
TILECOPY_API bool cancelled() noexcept;

// submit() for work that yields `count` checksums: it writes them to out[0..count) (zeros
// before it runs), and the handle's checksums() gives them once the work is done.
using ChecksumWork = std::function<void(std::atomic<std::uint64_t>& copied, std::uint32_t* out)>;
TILECOPY_API CopyHandle submit_checksummed(CopyEngine& engine, ChecksumWork work, std::size_t count,
                                           std::uint64_t total_bytes, std::shared_ptr<void> keep_alive,
                                           const AsyncOptions& limits = {});

// Counts `copies` tensor copies of one path (read back through CopyEngine::stats()).
TILECOPY_API void record(CopyEngine& engine, TensorPath path, std::uint64_t copies = 1) noexcept;

// Tensor runs shorter than this many bytes go to torch's copy_ (the engine's strategy holds
// the threshold, with its origin: Options::min_run_bytes, $TILECOPY_MIN_RUN_BYTES, 4 KiB).
TILECOPY_API std::size_t min_run_bytes(const CopyEngine& engine) noexcept;

// Lines an adapter adds to every CopyEngine::describe() (the loaded libtorch, say). Set once,
// when the adapter library is loaded; a null pointer removes them.
using DescribeLines = std::vector<std::string> (*)();
TILECOPY_API void set_describe_lines(DescribeLines lines) noexcept;

// The lines set_describe_lines registered, or none (for CopyEngine::info()); whether an adapter
// registered any.
std::vector<std::string> describe_lines();
bool registered() noexcept;

} // namespace tilecopy::detail::adapter
