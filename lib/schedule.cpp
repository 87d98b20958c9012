#include "schedule.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include "crew.hpp"
#include "fork_guard.hpp"

namespace tilecopy::detail {

namespace {

// A worker belongs to one arena at a time, so one saved binding per thread suffices.
struct ThreadBinding {
    bool active = false;
    std::string previous;
};
thread_local ThreadBinding t_binding;

} // namespace

struct Scheduler::NodeArena {
    // Pins the arena's worker threads to the node on entry and restores their previous
    // binding on exit. The caller's own thread is left alone: binding it would cost two
    // system calls on every copy, and it only joins for the duration of one copy.
    class PinningObserver final : public tbb::task_scheduler_observer {
    public:
        PinningObserver(NodeArena& owner, Topology& topology)
            : tbb::task_scheduler_observer(owner.arena), owner_(owner), topology_(topology) {
            observe(true);
        }
        ~PinningObserver() override { observe(false); }

        void on_scheduler_entry(bool is_worker) override {
            if (!is_worker || t_binding.active) return;
            if (topology_.bind_thread(static_cast<std::size_t>(owner_.node), t_binding.previous)) {
                t_binding.active = true;
                owner_.pinned.fetch_add(1, std::memory_order_relaxed);
                owner_.bound_now.fetch_add(1, std::memory_order_acq_rel);
            } else {
                owner_.failed.fetch_add(1, std::memory_order_relaxed);
            }
        }
        void on_scheduler_exit(bool is_worker) override {
            if (!is_worker || !t_binding.active) return;
            topology_.restore_thread(t_binding.previous);
            t_binding.active = false;
            owner_.bound_now.fetch_sub(1, std::memory_order_acq_rel);
        }

    private:
        NodeArena& owner_;
        Topology& topology_;
    };

    // `helpers` is 0 when the arena must not use oneTBB's workers (a forked child).
    NodeArena(int node_index, std::size_t threads, std::string set, int helpers, std::chrono::microseconds linger)
        : node(node_index), concurrency(threads), cpuset(std::move(set)),
          arena(static_cast<int>(threads), 1), crew(arena, helpers, linger) {}

    int node;
    std::size_t concurrency;
    std::string cpuset;
    tbb::task_arena arena;
    Crew crew; // after the arena: its helpers run there, so it must go first
    std::atomic<std::uint64_t> pinned{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<int> bound_now{0}; // workers inside the arena and bound by its observer
    bool pin = false;
    std::unique_ptr<PinningObserver> observer;
};

Scheduler::Scheduler(std::shared_ptr<Topology> topology, const Options& options)
    : topology_(std::move(topology)) {
    const auto& nodes = topology_->nodes();
    const std::size_t cap = options.threads;
    auto limit = [cap](std::size_t pus) { return std::max<std::size_t>(1, cap ? std::min(cap, pus) : pus); };
    // In a forked child of a process that used oneTBB's workers, no arena gets any: copies run
    // on the caller's thread alone (fork_guard.hpp).
    serial_ = workers_unusable();
    const std::chrono::microseconds linger(options.linger_us);
    auto helpers = [this](std::size_t threads) { return serial_ ? 0 : static_cast<int>(threads) - 1; };

    if (nodes.size() <= 1 || options.numa == NumaPolicy::Off) {
        std::size_t pus = 0;
        std::string cpuset;
        for (const auto& n : nodes) {
            pus += n.pus.size();
            cpuset += (cpuset.empty() ? "" : ",") + n.cpuset;
        }
        // With one node the arena is that node's and may be pinned to it; over several nodes
        // (policy off) there is nothing to pin to.
        arenas_.push_back(std::make_unique<NodeArena>(nodes.size() == 1 ? 0 : -1, limit(pus), cpuset, helpers(limit(pus)), linger));
    } else {
        for (std::size_t i = 0; i < nodes.size(); ++i)
            arenas_.push_back(std::make_unique<NodeArena>(static_cast<int>(i), limit(nodes[i].pus.size()), nodes[i].cpuset,
                                                          helpers(limit(nodes[i].pus.size())), linger));
    }
    single_arena_ = arenas_.size() == 1;
    for (auto& a : arenas_) {
        a->pin = options.pin_threads && a->node >= 0 && !serial_;
        if (a->pin) a->observer = std::make_unique<NodeArena::PinningObserver>(*a, *topology_);
    }
}

void Scheduler::abandon() noexcept {
    for (auto& a : arenas_) {
        a->crew.abandon();
        (void)a.release();
    }
    arenas_.clear();
}

Scheduler::~Scheduler() {
    // Observers go first: they reference their arenas.
    // A worker may still be spinning in an arena after the last run; removing the observer
    // then would skip its on_scheduler_exit and leave it bound (and marked bound) for good.
    // Idle workers leave within milliseconds: wait for them, within reason.
    for (auto& a : arenas_)
        for (int i = 0; i < 1000 && a->bound_now.load(std::memory_order_acquire) > 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (auto& a : arenas_) a->observer.reset();
}

namespace {

void wait_finished(const Job& job) noexcept {
    for (unsigned spins = 0; !job.finished(); ++spins) {
        if (spins < 4096)
            cpu_relax();
        else
            std::this_thread::yield(); // a helper was preempted inside its block
    }
}

} // namespace

void Scheduler::run_erased(const Plan& plan, BlockFn fn, void* ctx) {
    for (const Tile& tile : plan.tiles) {
        if (single_arena_) {
            Crew& crew = arenas_[0]->crew;
            Job job;
            job.blocks = plan.blocks.data() + tile.first_block;
            job.reset(tile.end_block - tile.first_block);
            job.fn = fn;
            job.ctx = ctx;
            const bool shared = job.count > 1;
            if (shared) crew.publish(job);
            job.work(/*from_back=*/false);
            wait_finished(job);
            if (shared) crew.retire(job);
            continue;
        }
        // Several arenas: each node's blocks go to its own crew; the caller, bound to no
        // node, works through all of them so a node without helpers still progresses.
        const std::size_t n = arenas_.size();
        std::vector<std::vector<std::size_t>> mine(n);
        for (std::size_t i = tile.first_block; i < tile.end_block; ++i) {
            const int node = plan.blocks[i].node;
            mine[node >= 0 && static_cast<std::size_t>(node) < n ? node : i % n].push_back(i);
        }
        std::unique_ptr<Job[]> jobs(new Job[n]);
        for (std::size_t a = 0; a < n; ++a) {
            jobs[a].blocks = plan.blocks.data();
            jobs[a].order = mine[a].data();
            jobs[a].reset(mine[a].size());
            jobs[a].fn = fn;
            jobs[a].ctx = ctx;
            if (jobs[a].count) arenas_[a]->crew.publish(jobs[a]);
        }
        for (std::size_t a = 0; a < n; ++a) jobs[a].work(/*from_back=*/false);
        for (std::size_t a = 0; a < n; ++a) {
            wait_finished(jobs[a]);
            if (jobs[a].count) arenas_[a]->crew.retire(jobs[a]);
        }
    }
}

std::vector<ArenaInfo> Scheduler::arenas() const {
    std::vector<ArenaInfo> out;
    for (const auto& a : arenas_) {
        ArenaInfo info;
        info.node = a->node;
        info.concurrency = a->concurrency;
        info.cpuset = a->cpuset;
        const auto pinned = a->pinned.load(std::memory_order_relaxed);
        const auto failed = a->failed.load(std::memory_order_relaxed);
        if (serial_)
            info.pinning = "no workers (a forked child: copies run on the calling thread)";
        else if (!a->pin)
            info.pinning = a->node < 0 ? "unpinned (one arena over several nodes)" : "unpinned (pinning off)";
        else if (failed > 0)
            info.pinning = "unpinned (binding failed)";
        else if (pinned > 0)
            info.pinning = "pinned";
        else
            info.pinning = a->concurrency > 1 ? "not yet (no worker has run)" : "nothing to pin (no worker threads)";
        out.push_back(std::move(info));
    }
    return out;
}

std::size_t Scheduler::total_concurrency() const noexcept {
    std::size_t total = 0;
    for (const auto& a : arenas_) total += a->concurrency;
    return total;
}

} // namespace tilecopy::detail
