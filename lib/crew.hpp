// A crew: helper tasks on one arena's oneTBB workers that take blocks from shared jobs.
//
// Why not tbb::parallel_for per copy: here a oneTBB worker leaves an arena as soon as it
// runs out of work and needs 20-50 us (sometimes ms) to come back, so copies of 1-16 MiB
// (10-200 us) ran on the caller's core alone (measured: the worker took 1 block in 100).
// Helpers instead stay a short while after their last block (Options::linger_us), spinning on an epoch
// counter, and take the next copy's blocks at once, as OpenMP's spinning threads do. The
// caller always works on its own job too, so a copy never waits for a helper to arrive.
//
// A helper task that oneTBB has been handed may start late, or never (in a forked child of a
// process that had used oneTBB, its workers do not exist): so helpers hold the crew's shared
// state, not the crew, and the crew waits only for helpers that actually started.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <tbb/task_arena.h>

#include "plan.hpp"
#include "topology.hpp"

namespace tilecopy::detail {

// One spin-wait step: a compiler barrier, deliberately not PAUSE (see crew.cpp).
void cpu_relax() noexcept;

// A job's per-block check (an asynchronous copy's limits and priority, lib/async_limits.hpp):
// asked before a thread claims each block, so that threads leave the job at a block boundary.
// Jobs without one pay a null test per block.
class BlockGate {
public:
    // Whether a helper may join the job (false: its helpers are all in); each true is matched
    // by leave(). The job's own thread never asks: it counts as one already.
    virtual bool join() noexcept = 0;
    virtual void leave() noexcept = 0;
    // Whether the thread may claim one more block; false: it leaves the job for now.
    virtual bool admit() noexcept = 0;
    // The job's own thread, refused with blocks left: blocks until admit() may say yes again.
    virtual void pause() noexcept = 0;
    // Whether the job was stopped for good (cancelled): a refused thread then drops every
    // block nobody has claimed (Job::work) and the job's own thread every tile not started, and
    // tells the gate how many it dropped (dropped()).
    virtual bool stopped() const noexcept = 0;
    virtual void dropped(std::size_t blocks) noexcept = 0;
    // Whether a helper could ever be admitted (false: publishing the job would only wake one).
    virtual bool wants_helpers() const noexcept = 0;

protected:
    ~BlockGate() = default;
};

// The blocks of one tile for one arena; lives on the submitting thread's stack.
//
// The submitting thread takes blocks from the front, helpers from the back: when the work is
// balanced, each core gets the same half of a buffer on every call, still in its own L2 from
// the last one (measured: 1 MiB copies repeated took 14-32 us with blocks handed out from one
// end, 6.3 us for a fixed two-way split), and whoever finishes early takes the other's blocks.
struct Job {
    const Block* blocks = nullptr;
    const std::size_t* order = nullptr; // indices into blocks, or null for 0..count-1
    std::size_t count = 0;
    BlockFn fn = nullptr;
    void* ctx = nullptr;
    BlockGate* gate = nullptr;
    std::atomic<std::uint64_t> ends{0}; // next block from the front (low 32 bits), end of the back
    std::atomic<std::size_t> done{0};
    std::atomic<int> users{0}; // helpers holding a pointer to it
    std::atomic<int> helper_cpu{-1}; // the CPU of a helper's latest claim (-1: none, or unknown)
    bool fence = false;        // store-fence before publishing blocks run (Plan::fence_after)

    // Sets the blocks (at most 2^32 - 1: tiles bound them far below).
    void reset(std::size_t blocks_in_job) noexcept;
    // Runs blocks from one end until none is left to take (or the gate refuses; a stopped
    // gate's job has its unclaimed blocks dropped: counted done, never run). True when the
    // gate was found stopped.
    bool work(bool from_back) noexcept;
    bool finished() const noexcept;
    bool exhausted() const noexcept;
    // The job's own thread, out of blocks: waits until every block has run. It spins while the
    // helpers holding blocks run on other CPUs, and yields its CPU when the latest claim was
    // made on this thread's CPU (that helper waits for it) or after `patience`.
    void wait(std::chrono::microseconds patience) const noexcept;
};

// Where a crew's helpers run: while a helper works, its thread is bound to `cpus` of the
// topology (a node's index, or Topology::kAllowedCpus); its previous binding comes back
// before the helper counts as gone, so that no thread stays bound once the crew is.
struct CrewPinning {
    std::shared_ptr<Topology> topology; // null: helpers are left where they are
    std::size_t cpus = 0;
};

class Crew {
public:
    // `helpers`: how many helper tasks may run at once (the arena's worker slots); `linger`:
    // how long a helper waits for the next job after its last block.
    Crew(tbb::task_arena& arena, int helpers, std::chrono::microseconds linger, CrewPinning pinning);
    ~Crew(); // stop(), then forgets helpers that oneTBB never started

    Crew(const Crew&) = delete;
    Crew& operator=(const Crew&) = delete;

    // Makes the job's blocks available to the helpers, recruiting any that are missing. Never
    // throws: a job that cannot be listed is left to the submitting thread.
    void publish(Job& job) noexcept;
    // Withdraws a finished job and waits until no helper holds it.
    void retire(Job& job) noexcept;
    // Calls helpers back to the published jobs (a gated job that refused them admits them again).
    void nudge() noexcept;
    // Tells lingering helpers to leave now (a cancelled copy's thread: no tile of it follows).
    void dismiss() noexcept;

    // Tells lingering helpers to leave and waits until every helper that started has left
    // (its thread's binding restored). Helpers that start later leave at once.
    void stop() noexcept;

    // Helpers that started and have not left: working, or lingering for the next job.
    int running() const noexcept;
    // How many helper tasks may run at once.
    int helpers() const noexcept { return max_helpers_; }
    // How long a helper waits for the next job after its last block.
    std::chrono::microseconds linger() const noexcept;
    // How many helper tasks were handed to oneTBB, so far.
    std::uint64_t recruited() const noexcept;
    // How many helper threads were bound, and how many bindings failed, so far.
    std::uint64_t pinned() const noexcept;
    std::uint64_t pin_failures() const noexcept;

    struct Shared;

private:
    void recruit() noexcept;

    tbb::task_arena& arena_;
    const int max_helpers_;
    std::shared_ptr<Shared> shared_;
};

} // namespace tilecopy::detail
