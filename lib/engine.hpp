// CopyEngine's private state (the torch adapter reaches it only through lib/adapter/adapter.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <tilecopy/copy_engine.hpp>

#include "async.hpp"
#include "counters.hpp"
#include "dispatch.hpp"
#include "fork_guard.hpp"
#include "schedule.hpp"
#include "strategy.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

class PlanChecksums; // checksum_copy.hpp

class Engine {
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
    void run(const Region* regions, std::size_t count, Conversion conversion,
             std::atomic<std::uint64_t>* progress = nullptr, PlanChecksums* sums = nullptr);
    // Queues work for the engine's submitter thread and returns its handle at once (small
    // copies, and every copy in a forked child, run now on the caller's thread).
    CopyHandle submit(std::function<void(AsyncState&)> work, std::uint64_t total_bytes, std::shared_ptr<void> keep_alive);

    void warm_up() { scheduler_.warm_up(); }
    EngineInfo info() const;

    const Options& options() const noexcept { return options_; }
    // Every threshold with its origin; decide(strategy(), ...) is what each request gets.
    const Strategy& strategy() const noexcept { return strategy_; }
    const kernels::KernelSet& kernel() const noexcept { return *kernel_; }
    const Scheduler& scheduler() const noexcept { return scheduler_; }

    Counters counters;

private:
    Strategy strategy_;
    const kernels::KernelSet* kernel_; // chosen once, from strategy_.kernel
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

} // namespace tilecopy::detail
