// Runs a plan: one oneTBB task arena per NUMA node with an allowed CPU, its crew's helpers
// pinned to the node's allowed CPUs while they help (previous binding restored when they
// leave, so no thread stays bound once the scheduler is gone).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/info.hpp>
#include <tilecopy/options.hpp>

#include "crew.hpp"
#include "plan.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

class Scheduler {
public:
    // Arenas: one per topology node (or one over all allowed CPUs with NumaPolicy::Off).
    // options.threads (0: every allowed CPU) is the total over all arenas, the caller's thread
    // counted as one: one arena gets threads - 1 helpers; several share threads - 1 helpers,
    // dealt out in turn, none past its node's CPUs (the caller works through every node's
    // blocks). The topology's nodes hold only the CPUs this process may use (topology.hpp).
    Scheduler(std::shared_ptr<Topology> topology, const Options& options);
    ~Scheduler();

    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Runs fn(block) for every block, tile after tile, the blocks of a tile in parallel on
    // their node's arena. fn must not throw. Returns when every block has run. Thread-safe.
    // With a gate, every thread asks it before each block it claims (crew.hpp, BlockGate).
    template <typename Fn>
    void run(const Plan& plan, Fn&& fn, BlockGate* gate = nullptr) {
        run_erased(plan, [](void* ctx, const Block& b) noexcept { (*static_cast<Fn*>(ctx))(b); }, &fn, gate);
    }

    // In a child process after fork(): forget the arenas without touching oneTBB, whose
    // threads stayed in the parent (destroying them there could wait forever).
    // Otherwise the destructor stops every crew, then returns once each helper that started
    // has left and restored its thread's binding.
    void abandon() noexcept;

    // Runs a few short sleeping blocks on every arena, so that each worker enters once (and
    // gets pinned) now rather than during the first copy.
    void warm_up();

    std::vector<ArenaInfo> arenas() const;
    // Threads that share a copy, the caller's included.
    std::size_t total_concurrency() const noexcept;
    // True when the arenas have no workers to use (a forked child): callers run copies inline.
    bool serial() const noexcept { return serial_; }
    // Whether some arena's helper is working or lingering (spinning for the next job): a
    // relaxed load per arena.
    bool helpers_lingering() const noexcept;
    // Helper tasks handed to oneTBB so far, over every arena.
    std::uint64_t helpers_recruited() const noexcept;
    const Topology& topology() const noexcept { return *topology_; }

private:
    void run_erased(const Plan& plan, BlockFn fn, void* ctx, BlockGate* gate);

    struct NodeArena;
    std::shared_ptr<Topology> topology_;
    std::vector<std::unique_ptr<NodeArena>> arenas_;
    bool single_arena_ = true;
    bool caller_outside_ = false; // several arenas: the caller is a thread of none
    bool serial_ = false; // no oneTBB workers may be used (fork_guard.hpp)
};

} // namespace tilecopy::detail
