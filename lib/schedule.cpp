#include "schedule.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <tbb/task_arena.h>

#include "crew.hpp"
#include "fork_guard.hpp"

namespace tilecopy::detail {

// One oneTBB arena and its crew. The caller's thread never enters the arena (it works on its
// jobs directly), so every slot is a worker's: `helpers` of them.
struct Scheduler::NodeArena {
    NodeArena(int node_index, std::size_t threads, std::string set, int helpers, std::chrono::microseconds linger,
              CrewPinning pinning)
        : node(node_index), concurrency(threads), cpuset(std::move(set)), pin(pinning.topology != nullptr),
          arena(std::max(helpers, 1), 0), crew(arena, helpers, linger, std::move(pinning)) {}

    int node;
    std::size_t concurrency;
    std::string cpuset;
    bool pin;
    tbb::task_arena arena;
    Crew crew; // after the arena: its helpers run there, so it must go first
};

Scheduler::Scheduler(std::shared_ptr<Topology> topology, const Options& options)
    : topology_(std::move(topology)) {
    const auto& nodes = topology_->nodes();
    std::size_t pus = 0;
    for (const auto& n : nodes) pus += n.pus.size();
    const std::size_t total = std::max<std::size_t>(1, options.threads ? std::min(options.threads, pus) : pus);
    // In a forked child of a process that used oneTBB's workers, no arena gets any: copies run
    // on the caller's thread alone (fork_guard.hpp).
    serial_ = workers_unusable();
    const std::chrono::microseconds linger(options.linger_us);
    auto pinning = [&](int node) {
        CrewPinning p;
        if (options.pin_threads && !serial_) {
            p.topology = topology_;
            p.cpus = node >= 0 ? static_cast<std::size_t>(node) : Topology::kAllowedCpus;
        }
        return p;
    };

    if (nodes.size() <= 1 || options.numa == NumaPolicy::Off) {
        // With one node the arena is that node's and is pinned to it; over several nodes
        // (policy off) it is pinned to every CPU the process may use. The caller's thread is
        // one of its threads.
        const int node = nodes.size() == 1 ? 0 : -1;
        arenas_.push_back(std::make_unique<NodeArena>(node, total, topology_->allowed_cpuset(),
                                                      serial_ ? 0 : static_cast<int>(total) - 1, linger, pinning(node)));
    } else {
        // Several arenas: the caller belongs to none (it works through every node's job), so
        // the total's other threads are dealt out in turn, as many per node as it has CPUs.
        std::vector<std::size_t> helpers(nodes.size(), 0);
        for (std::size_t left = total - 1, i = 0; left > 0; i = (i + 1) % nodes.size())
            if (helpers[i] < nodes[i].pus.size()) ++helpers[i], --left;
        for (std::size_t i = 0; i < nodes.size(); ++i)
            arenas_.push_back(std::make_unique<NodeArena>(static_cast<int>(i), helpers[i], nodes[i].cpuset,
                                                          serial_ ? 0 : static_cast<int>(helpers[i]), linger,
                                                          pinning(static_cast<int>(i))));
        caller_outside_ = true;
    }
    single_arena_ = arenas_.size() == 1;
}

void Scheduler::abandon() noexcept {
    for (auto& a : arenas_) (void)a.release();
    arenas_.clear();
}

Scheduler::~Scheduler() {
    // Stop every crew first: a lingering helper leaves at once when told, and restores its
    // thread's binding before it counts as gone, whatever Options::linger_us is.
    for (auto& a : arenas_) a->crew.stop();
}

namespace {

// A gated job's own thread, after its first pass: while the gate holds back blocks nobody has
// claimed, waits for it, calls the helpers back (those of listed jobs) and takes blocks again.
void drain_gated(Job* jobs, Crew* const* crews, std::size_t n, bool listed, BlockGate& gate) noexcept {
    for (;;) {
        bool left = false;
        for (std::size_t a = 0; a < n; ++a) left = left || !jobs[a].exhausted();
        if (!left) return;
        gate.pause();
        for (std::size_t a = 0; a < n && listed; ++a)
            if (jobs[a].count > 0) crews[a]->nudge();
        for (std::size_t a = 0; a < n; ++a) jobs[a].work(/*from_back=*/false);
    }
}

} // namespace

void Scheduler::run_erased(const Plan& plan, BlockFn fn, void* ctx, BlockGate* gate) {
    // A gate that no helper may pass (an asynchronous copy on one thread) keeps its jobs unlisted.
    const bool helped = !gate || gate->wants_helpers();
    for (const Tile& tile : plan.tiles) {
        if (gate && gate->stopped()) { // the tiles left are dropped whole
            gate->dropped(plan.blocks.size() - tile.first_block);
            break;
        }
        if (single_arena_) {
            Crew& crew = arenas_[0]->crew;
            Job job;
            job.blocks = plan.blocks.data() + tile.first_block;
            job.reset(tile.end_block - tile.first_block);
            job.fn = fn;
            job.ctx = ctx;
            job.gate = gate;
            job.fence = plan.fence_after;
            const bool shared = helped && job.count > 1;
            if (shared) crew.publish(job);
            job.work(/*from_back=*/false);
            if (gate) {
                Crew* crews[] = {&crew};
                drain_gated(&job, crews, 1, shared, *gate);
            }
            job.wait(crew.linger());
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
            jobs[a].gate = gate;
            jobs[a].fence = plan.fence_after;
            if (jobs[a].count && helped) arenas_[a]->crew.publish(jobs[a]);
        }
        for (std::size_t a = 0; a < n; ++a) jobs[a].work(/*from_back=*/false);
        if (gate) {
            std::vector<Crew*> crews;
            for (auto& arena : arenas_) crews.push_back(&arena->crew);
            drain_gated(jobs.get(), crews.data(), n, helped, *gate);
        }
        for (std::size_t a = 0; a < n; ++a) {
            jobs[a].wait(arenas_[a]->crew.linger());
            if (jobs[a].count && helped) arenas_[a]->crew.retire(jobs[a]);
        }
    }
    // A cancelled copy's helpers leave rather than linger: no tile of it follows, and a helper
    // spinning on would keep a core from the threads that end it.
    if (gate && helped && gate->stopped())
        for (auto& a : arenas_) a->crew.dismiss();
}

std::vector<ArenaInfo> Scheduler::arenas() const {
    std::vector<ArenaInfo> out;
    for (const auto& a : arenas_) {
        ArenaInfo info;
        info.node = a->node;
        info.concurrency = a->concurrency;
        info.cpuset = a->cpuset;
        const auto pinned = a->crew.pinned();
        const auto failed = a->crew.pin_failures();
        if (serial_)
            info.pinning = "no workers (a forked child: copies run on the calling thread)";
        else if (!a->pin)
            info.pinning = "unpinned (pinning off)";
        else if (failed > 0)
            info.pinning = "unpinned (binding failed)";
        else if (pinned > 0)
            info.pinning = a->node < 0 ? "pinned to the allowed CPUs" : "pinned";
        else
            info.pinning = a->crew.helpers() > 0 ? "not yet (no worker has run)" : "nothing to pin (no worker threads)";
        out.push_back(std::move(info));
    }
    return out;
}

bool Scheduler::helpers_lingering() const noexcept {
    for (const auto& a : arenas_)
        if (a->crew.running() > 0) return true;
    return false;
}

std::uint64_t Scheduler::helpers_recruited() const noexcept {
    std::uint64_t n = 0;
    for (const auto& a : arenas_) n += a->crew.recruited();
    return n;
}

std::size_t Scheduler::total_concurrency() const noexcept {
    std::size_t total = caller_outside_ ? 1 : 0;
    for (const auto& a : arenas_) total += a->concurrency;
    return total;
}

void Scheduler::warm_up() {
    // The sleep keeps a block busy long enough for sleeping workers to wake up and take the
    // others; the blocks copy nothing.
    static char from = 0;
    static char to = 0;
    static const Region nothing{&to, &from, 0};
    Plan plan;
    plan.regions = &nothing;
    plan.region_count = 1;
    for (std::size_t a = 0; a < arenas_.size(); ++a)
        for (std::size_t i = 0; i < 8 * std::max<std::size_t>(1, arenas_[a]->concurrency); ++i)
            plan.blocks.push_back(Block{0, 0, 0, 0, static_cast<int>(a)});
    plan.tiles.push_back(Tile{0, plan.blocks.size()});
    run(plan, [](const Block&) noexcept { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
}

} // namespace tilecopy::detail
