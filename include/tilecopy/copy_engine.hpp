// tilecopy::CopyEngine: copies buffers (and, with libtilecopy-torch, tensors) over a tiled
// plan run by a NUMA-aware oneTBB arena through the best SIMD kernel this CPU supports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/checksum.hpp>
#include <tilecopy/copy_handle.hpp>
#include <tilecopy/error.hpp>
#include <tilecopy/export.hpp>
#include <tilecopy/info.hpp>
#include <tilecopy/memory.hpp>
#include <tilecopy/options.hpp>
#include <tilecopy/request.hpp>
#include <tilecopy/small_copy.hpp>

namespace at {
class Tensor;
}

namespace tilecopy {

class TensorsHandle; // <tilecopy/torch.hpp>

namespace detail {
class Engine;
class Topology;
struct EngineAccess;
} // namespace detail

// Which way a tensor copy went (kept by the torch adapter, read back through stats()).
enum class TensorPath : std::uint8_t {
    Contiguous, // same dtype, both contiguous: one byte copy on the tiled kernels
    Strided,    // same dtype, contiguous innermost runs: the runs became blocks
    Converted,  // fused dtype conversion kernels
    Fallback,   // validated by tilecopy, copied by torch's copy_
};

// Counters cheap enough to stay on (relaxed atomics); a snapshot.
struct Stats {
    std::uint64_t copies = 0;             // requests completed (raw and tensor)
    std::uint64_t bytes = 0;              // destination bytes written by tilecopy's kernels
    std::uint64_t inline_copies = 0;      // ran on the caller's thread without tasks
    std::uint64_t parallel_copies = 0;    // ran as blocks on the arenas
    std::uint64_t nontemporal_copies = 0; // used non-temporal stores
    std::uint64_t tensor_contiguous = 0;
    std::uint64_t tensor_strided = 0;
    std::uint64_t tensor_converted = 0;
    std::uint64_t tensor_fallback = 0;
};

class TILECOPY_API CopyEngine {
public:
    CopyEngine();
    explicit CopyEngine(const Options& options);
    // For tests and tools: run over a given topology (e.g. one that reports chosen page
    // locations). Throws tilecopy::Error for invalid options.
    CopyEngine(const Options& options, std::shared_ptr<detail::Topology> topology);
    ~CopyEngine();

    CopyEngine(const CopyEngine&) = delete;
    CopyEngine& operator=(const CopyEngine&) = delete;

    // Copies `bytes` bytes. Zero bytes is a no-op (null pointers allowed then). A null pointer
    // with bytes > 0, or overlapping ranges, throws tilecopy::Error with nothing written.
    // Inline: a valid copy below the strategy's string-copy threshold (capped by the inline and
    // non-temporal ones) runs here, in the caller, from the thread that counts in the engine
    // object (docs/tuning.md, "Small copies after idleness"); every other goes to the library,
    // as do those whose destination is 1-63 bytes past the source modulo 4 KiB (the kernel
    // copies them: string_copy_slow).
    void copy(void* dst, const void* src, std::size_t bytes) {
        const auto d = reinterpret_cast<std::uintptr_t>(dst);
        const auto s = reinterpret_cast<std::uintptr_t>(src);
        if (__builtin_expect(bytes < small_.below, 1) && bytes != 0 && d != 0 && s != 0 && d <= ~bytes && s <= ~bytes &&
            (d + bytes <= s || s + bytes <= d) && __builtin_expect(!detail::string_copy_slow(dst, src), 1) &&
            __builtin_expect(small_.owner.load(std::memory_order_relaxed) == detail::thread_pointer(), 1)) {
            detail::string_copy(dst, src, bytes);
            small_.copies.store(small_.copies.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            small_.bytes.store(small_.bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
            return;
        }
        copy_outside(dst, src, bytes);
    }

    // Copies every region (count in bytes, or in elements with a conversion) as one schedule.
    // All regions are checked before anything is written.
    void copy_regions(const Region* regions, std::size_t count, Conversion conversion = Conversion::None);

    // The same as one schedule over a list of regions (validated first, nothing written when
    // any is invalid; the error names its index).
    void copy_batch(const std::vector<Region>& regions, Conversion conversion = Conversion::None);

    // Asynchronous forms: checked at once (errors thrown here, nothing written), then run on
    // the engine's submitter thread over the arenas; the handle reports progress and waits.
    // The caller keeps the buffers alive and untouched until the copy is done.
    CopyHandle copy_async(void* dst, const void* src, std::size_t bytes);
    CopyHandle copy_batch_async(std::vector<Region> regions, Conversion conversion = Conversion::None);
    // The same under limits and a priority (AsyncOptions, <tilecopy/options.hpp>; docs/async.md):
    // fields left at their defaults take the engine's (Options::async).
    CopyHandle copy_async(void* dst, const void* src, std::size_t bytes, const AsyncOptions& limits);
    CopyHandle copy_batch_async(std::vector<Region> regions, const AsyncOptions& limits,
                                Conversion conversion = Conversion::None);

    // Copy and checksum in one pass: the copies above, returning the checksum of the bytes
    // written (one per region for a batch; Checksum::none gives 0), taken block by block while
    // the bytes are in cache and combined in order. The asynchronous forms give it through
    // CopyHandle::checksum(). A kind outside the enum throws tilecopy::Error, as does any
    // refused copy, before anything is computed or written.
    std::uint32_t copy(void* dst, const void* src, std::size_t bytes, Checksum kind);
    std::vector<std::uint32_t> copy_batch(const std::vector<Region>& regions, Checksum kind,
                                          Conversion conversion = Conversion::None);
    CopyHandle copy_async(void* dst, const void* src, std::size_t bytes, Checksum kind);
    CopyHandle copy_batch_async(std::vector<Region> regions, Checksum kind, Conversion conversion = Conversion::None);
    // The checksum of `bytes` bytes at `data`, computed in parallel over the engine's threads.
    std::uint32_t checksum(const void* data, std::size_t bytes, Checksum kind);

    // Tensor copies with torch's copy_ semantics; defined in libtilecopy-torch
    // (<tilecopy/torch.hpp>, tilecopy-torch.pc). The asynchronous forms keep the tensors alive
    // until the copy is done.
    void copy(const at::Tensor& dst, const at::Tensor& src);
    CopyHandle copy_async(const at::Tensor& dst, const at::Tensor& src);
    void copy_batch(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs);
    CopyHandle copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs);
    CopyHandle copy_async(const at::Tensor& dst, const at::Tensor& src, const AsyncOptions& limits);
    CopyHandle copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs,
                                const AsyncOptions& limits);
    // The tensor copy above, returning the checksum of the destination's bytes in logical
    // (row-major) element order after any dtype conversion: of dst.contiguous()'s bytes; for a
    // contiguous destination, of its memory. Taken in the same pass when the destination is
    // contiguous and the copy runs on the kernels, else right after the copy.
    std::uint32_t copy(const at::Tensor& dst, const at::Tensor& src, Checksum kind);
    // The same for a batch (one checksum per pair, in order; an empty pair's is 0) and for the
    // asynchronous forms, whose handle gives them (CopyHandle::checksum() / checksums()). A
    // destination without dense CPU memory is refused, like any refused batch, before anything
    // is computed or written.
    std::vector<std::uint32_t> copy_batch(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs,
                                          Checksum kind);
    CopyHandle copy_async(const at::Tensor& dst, const at::Tensor& src, Checksum kind);
    CopyHandle copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs,
                                Checksum kind);
    // Both: a checksum under limits (Checksum::none for none).
    CopyHandle copy_async(const at::Tensor& dst, const at::Tensor& src, Checksum kind, const AsyncOptions& limits);
    CopyHandle copy_batch_async(const std::vector<at::Tensor>& dsts, const std::vector<at::Tensor>& srcs,
                                Checksum kind, const AsyncOptions& limits);
    // The checksum of a dense CPU tensor's bytes in logical element order (of t.contiguous()'s),
    // in parallel; conjugate and negative views are resolved first.
    std::uint32_t checksum(const at::Tensor& tensor, Checksum kind);

    // Host memory (<tilecopy/memory.hpp>): an anonymous mapping of `bytes` bytes, with huge-page
    // advice, NUMA placement and population as `options` say. The buffer frees itself and may
    // outlive the engine. Zero bytes gives an empty buffer. Throws tilecopy::Error when the
    // memory cannot be had.
    HostBuffer allocate(std::size_t bytes, const AllocOptions& options = {});
    // Makes the pages of [data, data + bytes) present (for writing, or only readable, as a
    // mapped file's pages), in parallel, each part by the arena of the node that holds it.
    // Contents are unchanged. An unmapped range, or a read-only one for writing, throws
    // tilecopy::Error naming the range and errno.
    void prefault(const void* data, std::size_t bytes, bool for_write = true);
    // Tensors (libtilecopy-torch, docs/torch.md "Tensors in tilecopy memory"): an uninitialized
    // tensor like `t` (sizes, dtype, and torch.empty_like's strides) in memory from allocate();
    // a detached copy of `t` in such memory (Tensor.clone().detach()'s sizes, strides, dtype and
    // values); copies of several as one schedule, in one allocation; prefault of the bytes a
    // tensor's elements span. The tensors' memory outlives the engine. A tensor that is not
    // strided CPU memory (sparse, quantized, another device, a Python subclass...) throws
    // tilecopy::Error naming it, with nothing allocated. Clones take allocate()'s defaults
    // (populated first, in parallel: no slower than by the copy's workers, docs/torch.md).
    at::Tensor empty_like(const at::Tensor& t, const AllocOptions& options = {});
    at::Tensor clone(const at::Tensor& t, const AllocOptions& options = {});
    std::vector<at::Tensor> clone_batch(const std::vector<at::Tensor>& tensors,
                                        const AllocOptions& options = {});
    void prefault(const at::Tensor& t, bool for_write = true);
    // The clones, allocated and checked now (errors thrown here), copied on the engine's
    // submitter thread; TensorsHandle::result() waits and gives them.
    TensorsHandle clone_async(const at::Tensor& t, const AllocOptions& options = {});
    TensorsHandle clone_batch_async(const std::vector<at::Tensor>& tensors,
                                    const AllocOptions& options = {});
    // The clone pool (Options::clone_pool_bytes, docs/memory.md): its counters; trim_pool()
    // unmaps every buffer it holds and returns their bytes.
    PoolStats pool_stats() const;
    std::size_t trim_pool();
    // What this engine sees and does: nodes, arenas and their pinning, caches, every tunable
    // with its value and origin, the kernel and CPU features, the torch adapter (info.hpp).
    EngineInfo info() const;
    // The same as human-readable lines, the torch adapter's last.
    std::vector<std::string> describe() const;
    Stats stats() const;

    // Lets every arena's workers start (and get pinned) now rather than during the first
    // copy: runs a few short blocks that copy nothing on each arena (milliseconds).
    void warm_up();

    // The kernel this engine runs: "scalar", "avx2" or "avx512".
    const char* kernel() const noexcept;
    // Options with every default resolved to the value in use (threads: the threads that
    // share a copy, the caller's included).
    const Options& options() const noexcept;

private:
    friend struct detail::EngineAccess;
    // copy() past its path in the caller: in the library.
    void copy_outside(void* dst, const void* src, std::size_t bytes);
    alignas(64) detail::SmallCopyLine small_; // first, with impl_: one line
    std::unique_ptr<detail::Engine> impl_;
};

// A process-wide engine with default options, created on first use (thread-safe).
TILECOPY_API CopyEngine& default_engine();

} // namespace tilecopy
