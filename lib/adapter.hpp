// The torch adapter's door into the core: everything libtilecopy-torch needs of an engine, and
// nothing more. It keeps the scheduler's, the crew's and oneTBB's headers out of the adapter
// (which includes only this file of lib/), and it is the only part of the core's internals that
// libtilecopy exports besides the public API. The adapter is built from the same tree and its
// pkg-config file requires this exact tilecopy version, so the door may change with any release.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/copy_engine.hpp>

namespace tilecopy::detail::adapter {

// A validated byte copy (source and destination never overlap).
TILECOPY_API void copy_bytes(CopyEngine& engine, void* dst, const void* src, std::size_t bytes);

// Validated regions as one schedule; adds destination bytes to *progress as blocks finish.
// Throws tilecopy::Error when the plan cannot be allocated, before anything is written.
TILECOPY_API void run(CopyEngine& engine, const Region* regions, std::size_t count, Conversion conversion,
                      std::atomic<std::uint64_t>* progress = nullptr);

// run() that also checksums each region's destination bytes as its blocks are written (one
// CRC per region into out[0..count)); throws tilecopy::Error for a kind outside the enum.
TILECOPY_API void run_checksummed(CopyEngine& engine, const Region* regions, std::size_t count, Conversion conversion,
                                  Checksum kind, std::uint32_t* out);
// The checksum of each region's source bytes (count bytes each; destinations ignored), in
// parallel, nothing written; out gets one CRC per region. The regions are not validated.
TILECOPY_API void checksum_regions(CopyEngine& engine, const Region* regions, std::size_t count, Checksum kind,
                                   std::uint32_t* out);

// Queues `work` for the engine's submitter thread (or runs it now in a forked child) and returns
// its handle; `keep_alive` is held until the work is done. The work adds to `copied` as it goes.
using Work = std::function<void(std::atomic<std::uint64_t>& copied)>;
TILECOPY_API CopyHandle submit(CopyEngine& engine, Work work, std::uint64_t total_bytes,
                               std::shared_ptr<void> keep_alive);

// Lines an adapter adds to every CopyEngine::describe() (the loaded libtorch, say). Set once,
// when the adapter library is loaded; a null pointer removes them.
using DescribeLines = std::vector<std::string> (*)();
TILECOPY_API void set_describe_lines(DescribeLines lines) noexcept;

// The lines set_describe_lines registered, or none (for CopyEngine::describe()).
std::vector<std::string> describe_lines();

} // namespace tilecopy::detail::adapter
