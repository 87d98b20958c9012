// Copy and checksum in one pass: the engine's block runner calls run_block() instead of the
// bare kernel when a checksum is asked for. Each piece is copied in chunks and each chunk's CRC
// is taken right after it is copied, while its bytes are still in the core's cache; the pieces'
// CRCs are kept in slots, one per (block, region) pair, and combined in plan order at the end.
// Pure: no threads (the blocks may run on any thread; each writes only its own slots).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <tilecopy/checksum.hpp>
#include <tilecopy/request.hpp>

#include "checksum.hpp"
#include "kernels/kernels.hpp"
#include "plan.hpp"

namespace tilecopy::detail {

// Destination bytes copied before their CRC is taken: small enough to stay in any x86-64
// core's L1 data cache (32 KiB or more), large enough that a kernel call's and ISA-L's start-up
// costs vanish (ISA-L runs at the same ~58 GB/s on 16, 64 and 256 KiB here). Measure again with
// tilecopy-bench --only crc when cores change.
constexpr std::size_t kCrcChunkBytes = std::size_t(16) << 10;

// Copies `count` elements with `fn` (null: nothing is copied) and returns the CRC of the
// destination's bytes, chunk by chunk: from the source for a byte copy (the same bytes, and
// cached even when the stores were non-temporal), from the destination after a conversion
// with regular stores. A conversion with non-temporal stores (fn is kernels' _nt variant)
// converts each chunk into a per-thread scratch chunk, takes its CRC there and streams it to
// the destination with copy_nt: the destination is never read back from memory.
// With fn null the CRC is of the source's bytes.
std::uint32_t copy_with_crc(const kernels::KernelSet& kernels, kernels::CopyFn fn, Conversion conversion, void* dst,
                            const void* src, std::size_t count, Checksum kind, CrcBackend backend) noexcept;

class PlanChecksums {
public:
    // `out` receives one CRC per region of the request (by finish() or run_inline()).
    // copies == false: a checksum of the sources alone; nothing is written to the destinations.
    PlanChecksums(Checksum kind, CrcBackend backend, const kernels::KernelSet& kernels, bool copies,
                  std::uint32_t* out) noexcept
        : kind_(kind), backend_(backend), kernels_(&kernels), copies_(copies), out_(out) {}

    bool copies() const noexcept { return copies_; }

    // Slot offsets for the plan's blocks. Throws std::bad_alloc, before anything is written.
    void prepare(const Plan& plan);
    // Copies (or only reads) one block's pieces and fills its slots; returns the elements done.
    std::size_t run_block(const Plan& plan, const Block& block, kernels::CopyFn fn) noexcept;
    // The CRC of each region from its pieces' slots, in plan order.
    void finish(const Plan& plan) noexcept;
    // Without a plan (the engine's inline path): region after region on this thread.
    void run_inline(const Region* regions, std::size_t count, Conversion conversion, kernels::CopyFn fn) noexcept;

private:
    Checksum kind_;
    CrcBackend backend_;
    const kernels::KernelSet* kernels_; // the engine's: the staged conversions need two of them
    bool copies_;
    std::uint32_t* out_;
    std::vector<std::size_t> first_slot_; // per block
    std::vector<std::uint32_t> slots_;    // per block, one per region from block.first to block.last
};

} // namespace tilecopy::detail
