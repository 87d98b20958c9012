// CopyEngine's private state (the torch adapter reaches it only through lib/adapter/adapter.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include <tilecopy/copy_engine.hpp>

#include "async.hpp"
#include "counters.hpp"
#include "dispatch.hpp"
#include "fork_guard.hpp"
#include "memory_strategy.hpp"
#include "schedule.hpp"
#include "strategy.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

class PlanChecksums; // checksum_copy.hpp
class BufferPool;    // memory_pool.hpp
std::shared_ptr<BufferPool> make_buffer_pool(std::size_t limit_bytes);

// The memory policies for these options over $TILECOPY_HUGEPAGES, $TILECOPY_FRESH_HUGEPAGES and
// the kernel's THP mode (memory_engine.cpp). Throws tilecopy::Error for a bad variable.
MemoryStrategy make_memory_strategy(const Options& options);

class Engine {
    // What a small copy reads, first and together (one line, in the page of the counters' first
    // line): after idleness each cold page and line costs it a page walk or a memory access.
    // Copies of strategy_'s and kernel_'s values; string_copy_below_ is the least of the string
    // copy, inline and non-temporal thresholds, so one comparison admits a string copy.
    std::size_t string_copy_below_, inline_below_, nt_from_;
    kernels::CopyFn copy_fn_, copy_nt_fn_;

public:
    // Throws tilecopy::Error for invalid options, naming the option or variable.
    Engine(const Options& options, std::shared_ptr<Topology> topology);
    ~Engine();

    // True in a child process forked after this engine was made, or made in a forked child of a
    // process that used oneTBB's workers (fork_guard.hpp): copies then run serially on the
    // caller's thread, and asynchronous ones complete before they return.
    bool forked() const noexcept;

    // Validated regions (none overlapping) as one copy: on the caller's thread below the inline
    // threshold, else as one schedule over the arenas. Adds destination bytes to *progress as
    // blocks finish. With `sums`, each block goes through sums->run_block (copy and
    // checksum, or checksum only). Throws tilecopy::Error when the plan cannot be allocated, before anything
    // is written.
    // Defined below, inline: a small copy's whole path folds into its caller.
    void run(const Region* regions, std::size_t count, Conversion conversion,
             std::atomic<std::uint64_t>* progress = nullptr, PlanChecksums* sums = nullptr);
    // Queues work for the engine's submitter thread and returns its handle at once (small
    // copies, and every copy in a forked child, run now on the caller's thread).
    // `limits`: the call's AsyncOptions over the engine's defaults (Options::async).
    CopyHandle submit(std::function<void(AsyncState&)> work, std::uint64_t total_bytes, std::shared_ptr<void> keep_alive,
                      const AsyncOptions& limits = {});

    // One validated, non-empty byte copy small enough for the string copy, done here and counted;
    // false (nothing done) for any other. CopyEngine::copy's whole path for small copies.
    bool copy_small(void* dst, const void* src, std::size_t bytes) noexcept {
        if (bytes >= string_copy_below_) return false;
        small_copy(dst, src, bytes);
        counters.add_copy(kInlineCopies, bytes, false);
        return true;
    }

    // A copy below the string-copy threshold: the string copy, or the kernel at the distances
    // where the string copy runs slowly (string_copy_slow, <tilecopy/small_copy.hpp>).
    void small_copy(void* dst, const void* src, std::size_t bytes) noexcept {
        if (__builtin_expect(string_copy_slow(dst, src), 0)) copy_fn_(dst, src, bytes);
        else string_copy(dst, src, bytes);
    }

    // Below this, copy_small() takes a copy (CopyEngine::copy runs such copies in the caller).
    std::size_t small_copy_below() const noexcept { return string_copy_below_; }

    void warm_up() { scheduler_.warm_up(); }
    // The foreground copies running on the arenas (tests hold a Scope to stand for one).
    ForegroundCount& foreground() noexcept { return *foreground_; }
    EngineInfo info() const;

    const Options& options() const noexcept { return options_; }
    // Every threshold with its origin; decide(strategy(), ...) is what each request gets.
    const Strategy& strategy() const noexcept { return strategy_; }
    const kernels::KernelSet& kernel() const noexcept { return *kernel_; }
    const Scheduler& scheduler() const noexcept { return scheduler_; }

    Counters counters;

    // Host memory (memory_engine.cpp). The huge-page policies and the kernel's THP mode.
    const MemoryStrategy& memory() const noexcept { return memory_; }
    // The clone pool (memory_pool.hpp); the tensors it lends hold it weakly.
    const std::shared_ptr<BufferPool>& clone_pool() const noexcept { return clone_pool_; }
    // Where populate() runs each block: on one node's arena (an index into the topology's
    // nodes), in turn over the arenas, or on the node that holds the block's pages (else in turn).
    static constexpr int kInTurn = -1;
    static constexpr int kWherePagesAre = -2;
    // Makes the pages of [data, data + bytes) (page aligned) present, for writing or reading, in
    // parallel over the arenas (on the caller's thread in a forked child). Returns 0, or the errno
    // of the first block that failed (the others still ran).
    int populate(void* data, std::size_t bytes, bool for_write, int node) noexcept;
    // Binds [data, data + bytes) to a node, or interleaved (Topology::bind_area); 0 or an errno.
    int bind_area(void* data, std::size_t bytes, int node) noexcept;
    // Options::fresh_destinations: advice on the never-touched interiors of the destinations.
    void advise_fresh_destinations(const Region* regions, std::size_t count, std::size_t dst_element_bytes) noexcept;

private:
    // run() past its inline test (and checksummed copies of any size): plan, place, schedule.
    void run_planned(const Region* regions, std::size_t count, Conversion conversion,
                     std::atomic<std::uint64_t>* progress, PlanChecksums* sums);
    // Every region on the caller's thread, no plan.
    static void copy_here(const Region* regions, std::size_t count, kernels::CopyFn fn) noexcept {
        for (std::size_t r = 0; r < count; ++r)
            if (regions[r].count) fn(regions[r].dst, regions[r].src, regions[r].count);
    }
    void count_copy(Counter path, std::size_t dst_bytes, bool nt) noexcept {
        counters.add_copy(path, dst_bytes, nt);
    }

    // Foreground copies on the arenas, which background copies yield to (async_limits.hpp);
    // shared with every handle's limits, which may outlive the engine.
    std::shared_ptr<ForegroundCount> foreground_ = std::make_shared<ForegroundCount>();
    Strategy strategy_;
    MemoryStrategy memory_;
    std::shared_ptr<BufferPool> clone_pool_ = make_buffer_pool(memory_.clone_pool_bytes.value);
    const kernels::KernelSet* kernel_; // chosen once, from strategy_.kernel
    // When the last copy of at least the inline threshold ended (steady clock, ns): with the
    // helpers' lingering, what says whether they are awake (strategy.hpp, inline_while_idle).
    std::atomic<std::int64_t> last_planned_ns_{std::numeric_limits<std::int64_t>::min() / 2};
    Options options_;                  // every default replaced by the value in use
    unsigned generation_;              // fork generation at construction
    Scheduler scheduler_;
    AsyncExecutor executor_; // last: destroyed first, after running every queued job
};

// The one way from the public class to its engine (CopyEngine befriends it), for the torch
// adapter's door (adapter.cpp), the tests and the tuner.
struct EngineAccess {
    static Engine& of(CopyEngine& engine) noexcept { return *engine.impl_; }
    static const Engine& of(const CopyEngine& engine) noexcept { return *engine.impl_; }
};

inline Engine& internals(CopyEngine& engine) noexcept { return EngineAccess::of(engine); }
inline const Engine& internals(const CopyEngine& engine) noexcept { return EngineAccess::of(engine); }

// The kernel function of a set for a conversion and a store kind; `fenced` false: the
// non-temporal kernels without their closing sfence (the caller fences: Plan::fence_after).
inline kernels::CopyFn pick_kernel(const kernels::KernelSet& k, Conversion c, bool nt, bool fenced = true) noexcept {
    if (nt && !fenced) {
        switch (c) {
        case Conversion::None: return k.copy_nt_unfenced;
        case Conversion::F32ToBF16: return k.f32_to_bf16_nt_unfenced;
        case Conversion::BF16ToF32: return k.bf16_to_f32_nt_unfenced;
        case Conversion::F32ToF16: return k.f32_to_f16_nt_unfenced;
        case Conversion::F16ToF32: return k.f16_to_f32_nt_unfenced;
        }
    }
    switch (c) {
    case Conversion::None: return nt ? k.copy_nt : k.copy;
    case Conversion::F32ToBF16: return nt ? k.f32_to_bf16_nt : k.f32_to_bf16;
    case Conversion::BF16ToF32: return nt ? k.bf16_to_f32_nt : k.bf16_to_f32;
    case Conversion::F32ToF16: return nt ? k.f32_to_f16_nt : k.f32_to_f16;
    case Conversion::F16ToF32: return nt ? k.f16_to_f32_nt : k.f16_to_f32;
    }
    return k.copy;
}

inline void Engine::run(const Region* regions, std::size_t count, Conversion conversion,
                        std::atomic<std::uint64_t>* progress, PlanChecksums* sums) {
    // An asynchronous copy's work (it counts progress) may hold several runs: none starts once
    // the copy was cancelled, whatever its size.
    if (progress && CopyControl::current_cancelled()) return;
    // Most copies are small: they run here, on the caller's thread, with no plan and no task.
    if (!sums) {
        const std::size_t des = dst_element_size(conversion);
        std::size_t dst_bytes = 0;
        for (std::size_t r = 0; r < count; ++r) dst_bytes += regions[r].count * des;
        if (dst_bytes < inline_below_) { // below_inline(strategy_, dst_bytes)
            const bool nt = dst_bytes >= nt_from_;
            if (conversion == Conversion::None && dst_bytes < string_copy_below_) { // and so !nt
                // Called directly, so that it is inlined here: no kernel page to enter.
                for (std::size_t r = 0; r < count; ++r)
                    if (regions[r].count) small_copy(regions[r].dst, regions[r].src, regions[r].count);
            } else {
                copy_here(regions, count,
                          conversion != Conversion::None ? pick_kernel(*kernel_, conversion, nt)
                          : nt                            ? copy_nt_fn_
                                                          : copy_fn_);
            }
            if (progress) progress->fetch_add(dst_bytes, std::memory_order_relaxed);
            count_copy(kInlineCopies, dst_bytes, nt);
            return;
        }
    }
    run_planned(regions, count, conversion, progress, sums);
}

} // namespace tilecopy::detail
