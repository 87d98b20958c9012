// Runs a plan: one oneTBB task arena per NUMA node with an allowed CPU, its crew's helpers
// pinned to the node's allowed CPUs while they help (previous binding restored when they
// leave, so no thread stays bound once the scheduler is gone).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <tilecopy/options.hpp>

#include "crew.hpp"
#include "plan.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

struct ArenaInfo {
    int node = 0;               // index into the topology's nodes; -1: all cores (policy off)
    std::size_t concurrency = 0;
    std::string cpuset;
    std::string pinning;        // "pinned", "pinned to the allowed CPUs", "unpinned (pinning off)",
                                // "unpinned (binding failed)", "not yet (no worker has run)", ...
};

class Scheduler {
public:
    // Arenas: one per topology node (or one over all allowed CPUs with NumaPolicy::Off), each
    // with the node's PUs as concurrency, capped at options.threads when that is non-zero. The
    // topology's nodes hold only the CPUs this process may use (topology.hpp).
    Scheduler(std::shared_ptr<Topology> topology, const Options& options);
    ~Scheduler();

    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Runs fn(block) for every block, tile after tile, the blocks of a tile in parallel on
    // their node's arena. fn must not throw. Returns when every block has run. Thread-safe.
    template <typename Fn>
    void run(const Plan& plan, Fn&& fn) {
        run_erased(plan, [](void* ctx, const Block& b) noexcept { (*static_cast<Fn*>(ctx))(b); }, &fn);
    }

    // In a child process after fork(): forget the arenas without touching oneTBB, whose
    // threads stayed in the parent (destroying them there could wait forever).
    // Otherwise the destructor stops every crew, then returns once each helper that started
    // has left and restored its thread's binding.
    void abandon() noexcept;

    std::vector<ArenaInfo> arenas() const;
    std::size_t total_concurrency() const noexcept;
    // True when the arenas have no workers to use (a forked child): callers run copies inline.
    bool serial() const noexcept { return serial_; }
    const Topology& topology() const noexcept { return *topology_; }

private:
    void run_erased(const Plan& plan, BlockFn fn, void* ctx);

    struct NodeArena;
    std::shared_ptr<Topology> topology_;
    std::vector<std::unique_ptr<NodeArena>> arenas_;
    bool single_arena_ = true;
    bool serial_ = false; // no oneTBB workers may be used (fork_guard.hpp)
};

} // namespace tilecopy::detail
