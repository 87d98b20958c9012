// A crew: helper tasks on one arena's oneTBB workers that take blocks from shared jobs.
//
// Why not tbb::parallel_for per copy: here a oneTBB worker leaves an arena as soon as it
// runs out of work and needs 20-50 us (sometimes ms) to come back, so copies of 1-16 MiB
// (10-200 us) ran on the caller's core alone (measured: the worker took 1 block in 100).
// Helpers instead stay a short while after their last block (Options::linger_us), spinning on an epoch
// counter, and take the next copy's blocks at once, as OpenMP's spinning threads do. The
// caller always works on its own job too, so a copy never waits for a helper to arrive.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include <tbb/task_arena.h>

#include "plan.hpp"

namespace tilecopy::detail {

// One spin-wait step: a compiler barrier, deliberately not PAUSE (see crew.cpp).
void cpu_relax() noexcept;

using BlockFn = void (*)(void* ctx, const Block& block) noexcept;

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
    std::atomic<std::uint64_t> ends{0}; // next block from the front (low 32 bits), end of the back
    std::atomic<std::size_t> done{0};
    std::atomic<int> users{0}; // helpers holding a pointer to it

    // Sets the blocks (at most 2^32 - 1: tiles bound them far below).
    void reset(std::size_t blocks_in_job) noexcept;
    // Runs blocks from one end until none is left to take.
    void work(bool from_back) noexcept;
    bool finished() const noexcept { return done.load(std::memory_order_acquire) == count; }
    bool exhausted() const noexcept;
};

class Crew {
public:
    // `helpers`: how many helper tasks may run at once (the arena's worker slots); `linger`:
    // how long a helper waits for the next job after its last block.
    Crew(tbb::task_arena& arena, int helpers, std::chrono::microseconds linger) noexcept
        : arena_(arena), max_helpers_(helpers), linger_(linger) {}
    ~Crew(); // waits for lingering helpers to leave

    Crew(const Crew&) = delete;
    Crew& operator=(const Crew&) = delete;

    // Makes the job's blocks available to the helpers, recruiting any that are missing. Never
    // throws: a job that cannot be listed is left to the submitting thread.
    void publish(Job& job) noexcept;
    // Withdraws a finished job and waits until no helper holds it.
    void retire(Job& job) noexcept;

    // In a forked child: the helpers stayed in the parent; forget them.
    void abandon() noexcept { helpers_.store(0, std::memory_order_relaxed); }

private:
    void help() noexcept;
    Job* pick() noexcept;

    tbb::task_arena& arena_;
    const int max_helpers_;
    const std::chrono::microseconds linger_;
    std::atomic<int> helpers_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<unsigned long> epoch_{0};
    std::mutex mutex_;
    std::vector<Job*> jobs_;
};

} // namespace tilecopy::detail
