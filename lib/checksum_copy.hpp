// Copy and checksum in one pass: the engine's block runner calls run_block() instead of the
// bare kernel when a checksum is asked for. Each piece is copied in steps of a few KiB, each
// step's CRC taken while its bytes are in the core's L1 (from the source just before a byte copy
// reads it, from the destination just after a conversion wrote it); the pieces' CRCs are kept in
// slots, one per (block, region) pair, and combined in plan order at the end.
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

// Bytes checksummed and copied per step, and the order of the two within a step. ISA-L's CRCs
// are compute-bound (per core, in cache): on the 2-core AMD EPYC VM without AVX-512 CRC32C runs
// at ~20 GB/s (crc32_iscsi_01: one crc32 instruction of 8 bytes per cycle) and CRC-32 at ~11 GB/s
// (crc32_gzip_refl_by8_02, 128-bit PCLMULQDQ), against ~29 GB/s for a 1 MiB copy from L3; on the
// Zen 5 VM with AVX-512 VPCLMULQDQ both ran at ~54 GB/s. With regular stores a step's CRC is
// taken from the source before it is copied: the CRC pulls the step into L1 and the copy then
// reads it from there (copying first ran 25-35% slower at 1-16 MiB on the Zen 5 VM, 12-15%
// slower at 1 MiB on the EPYC VM).
// With non-temporal stores (copies from DRAM) the order depends on the CRC's speed. Where it
// runs at a copy's speed from cache or near it (ISA-L's CRC32C anywhere; both kinds with
// fast_isal_crc()) the copy goes first, its loads keeping more lines in flight than the CRC's
// (Zen 5, 64 MiB: 0.71-0.76x the plain copy against 0.60-0.68x summing first; EPYC VM, CRC32C
// at 256 MiB-1 GiB: 0.67-0.76x against 0.62-0.70x, 6 of 6 pairs). Where the CRC is several
// times slower (CRC-32 without AVX-512, the portable tables), summing first overlaps the CRC's
// computation with its own loads from DRAM and the copy then reads L1 (EPYC VM, CRC-32 at
// 64 MiB-1 GiB: 0.55-0.71x against 0.38-0.62x, 11 of 12 interleaved pairs). Streamed steps are
// of 4 KiB: a step's CRC then lasts about one DRAM latency, so the lines the hardware prefetcher
// asked for during the step's copy can arrive while it runs (EPYC VM, 64 MiB-1 GiB, medians of 8
// benchmark runs, 4 KiB against 16 KiB: 0.80-0.82x against 0.73-0.80x the plain copy for
// CRC32C, 0.74-0.79x against 0.69-0.70x for CRC-32).
// Software prefetch of the next step while the CRC runs did not help byte copies on either CPU
// (prefetches overlap a CRC with loads, but little with a step's non-temporal stores).
// docs/benchmarks.md, "Checksums".
constexpr std::size_t kCrcChunkBytes = std::size_t(8) << 10;
constexpr std::size_t kCrcStreamChunkBytes = std::size_t(4) << 10;
// Steps of a streamed conversion (in bytes of the wider side), staged through an L1 buffer of
// this size: with the next step's source prefetched, float32 -> bfloat16 of 1 GiB ran at
// 0.79-0.98x the plain conversion (CRC32C; 0.74-0.89x CRC-32) against 0.70-0.80x (0.61-0.68x)
// with regular stores, and at 0.77-0.82x (0.67-0.85x) staged without the prefetch (EPYC VM).
constexpr std::size_t kCrcStageBytes = std::size_t(2) << 10;

enum class StreamOrder : std::uint8_t {
    CopyFirst, // non-temporal copy of the step, then its CRC from the source (still in cache)
    CrcFirst,  // the step's CRC from the source, then its non-temporal copy from L1
};
// CopyFirst for ISA-L's CRC32C, and for its CRC-32 where fast_isal_crc(); else CrcFirst.
StreamOrder stream_order_for(CrcBackend backend, Checksum kind) noexcept;

// Copies `count` elements with `fn` (null: nothing is copied) and returns the CRC of the
// destination's bytes, step by step: from the source for a byte copy (the same bytes; before
// the step is copied with regular stores, in `order` with non-temporal ones), from the
// destination, just written, after a conversion with regular stores. A conversion with
// non-temporal stores (fn one of the `_nt` conversion kernels) is staged: each step converted
// with the regular kernel into an L1 buffer, its CRC taken there, the buffer streamed out with
// non-temporal stores, and the next step's source lines prefetched before each step.
// With fn null the CRC is of the source's bytes.
std::uint32_t copy_with_crc(const kernels::KernelSet& kernels, kernels::CopyFn fn, Conversion conversion, void* dst,
                            const void* src, std::size_t count, Checksum kind, CrcBackend backend,
                            StreamOrder order) noexcept;

// The regular-store kernel of a non-temporal conversion kernel of `k` (fenced or not); null for
// any other function.
kernels::CopyFn regular_conversion(const kernels::KernelSet& k, kernels::CopyFn fn) noexcept;

class PlanChecksums {
public:
    // `out` receives one CRC per region of the request (by finish() or run_inline()).
    // copies == false: a checksum of the sources alone; nothing is written to the destinations.
    PlanChecksums(Checksum kind, CrcBackend backend, const kernels::KernelSet& kernels, bool copies,
                  std::uint32_t* out) noexcept
        : kind_(kind), backend_(backend), order_(stream_order_for(backend, kind)), kernels_(&kernels), copies_(copies),
          out_(out) {}

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
    StreamOrder order_;
    const kernels::KernelSet* kernels_; // the engine's: which of its kernels streams
    bool copies_;
    std::uint32_t* out_;
    std::vector<std::size_t> first_slot_; // per block
    std::vector<std::uint32_t> slots_;    // per block, one per region from block.first to block.last
};

} // namespace tilecopy::detail
