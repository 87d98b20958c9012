// CopyEngine's private state (the torch adapter reaches it only through lib/adapter.hpp).
#pragma once

#include <array>
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
#include "plan.hpp"
#include "schedule.hpp"
#include "strategy.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

class PlanChecksums; // checksum_copy.hpp

class Engine {
public:
    Engine(const Options& options, std::shared_ptr<Topology> topology);
    ~Engine();

    // True in a child process forked after this engine was made, or made in a forked child of a
    // process that used oneTBB's workers (fork_guard.hpp): copies then run serially on the
    // caller's thread, and asynchronous ones complete before they return.
    bool forked() const noexcept;

    // Raw copy after validation; the bytes never overlap.
    // Both throw tilecopy::Error when the plan cannot be allocated, before anything is written.
    void copy_bytes(void* dst, const void* src, std::size_t bytes);
    // Validated regions as one schedule; adds destination bytes to *progress as blocks finish.
    // With `sums`, each block goes through sums->run_block (copy and checksum, or checksum only).
    void run(const Region* regions, std::size_t count, Conversion conversion,
             std::atomic<std::uint64_t>* progress = nullptr, PlanChecksums* sums = nullptr);
    // Queues work for the engine's submitter thread and returns its handle at once.
    CopyHandle submit(std::function<void(AsyncState&)> work, std::uint64_t total_bytes, std::shared_ptr<void> keep_alive);

    const Options& options() const noexcept { return options_; }
    // Every threshold with its origin; decide(strategy(), ...) is what each request gets.
    const Strategy& strategy() const noexcept { return strategy_; }
    const kernels::KernelSet& kernel() const noexcept { return *kernel_; }
    const Scheduler& scheduler() const noexcept { return scheduler_; }
    std::size_t l2_bytes() const noexcept { return l2_bytes_; }
    std::size_t llc_bytes() const noexcept { return llc_bytes_; }
    const std::string& kernel_reason() const noexcept { return kernel_reason_; }

    Counters counters;

private:
    std::string kernel_reason_; // why this kernel: forced by an option, the environment, or best
    Strategy strategy_;
    Options options_;           // resolved: every default replaced by the strategy's value
    std::size_t l2_bytes_ = 0;
    std::size_t llc_bytes_ = 0;
    unsigned generation_; // fork generation at construction
    const kernels::KernelSet* kernel_;
    Scheduler scheduler_;
    AsyncExecutor executor_; // last: destroyed first, after running every queued job
};

} // namespace tilecopy::detail
