// Asynchronous copies: a shared state per handle, and per engine one submitter thread per lane
// that runs queued jobs through the scheduler (so an asynchronous copy gets the caller's share
// of the cores as well as the arena's workers, like a synchronous one).
//
// Three lanes, so that a small copy never queues behind a large one, nor foreground work behind
// background work: jobs smaller than the strategy's async_small_bytes (by default the inline
// threshold: they run on one thread, never on the arenas) go to the small lane, background
// copies (Priority::Background) to the background lane, everything else to the bulk lane. Lanes
// are not ordered with each other; within a lane, jobs run in the order they were submitted.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <tilecopy/copy_handle.hpp>

#include "async_limits.hpp"

namespace tilecopy::detail {

struct AsyncState {
    // The work; it adds to `copied` as blocks finish. May throw: the error reaches wait().
    std::function<void(AsyncState&)> work;
    std::atomic<std::uint64_t> copied{0};
    std::uint64_t total = 0;
    std::shared_ptr<void> keep_alive; // what the copy reads and writes (tensors), held until done
    unsigned generation = 0;          // fork generation of the process that runs the work
    // A checksummed copy's work fills one per region before it finishes (checksum_engine.cpp).
    bool checksummed = false;
    std::vector<std::uint32_t> checksums;

    // Limits and cancellation, asked at every block boundary (async_limits.hpp).
    CopyControl control;
    // Queued, then Running (run() took it) or Dropped (cancel() took it first: it never runs).
    enum Phase : int { Queued, Running, Dropped };
    std::atomic<int> phase{Queued};
    // Steady-clock nanoseconds when it left the queue and when it finished (0: not yet), and
    // the system clock's at the start (CopyHandle::started_at).
    std::atomic<std::int64_t> started_ns{0};
    std::atomic<std::int64_t> finished_ns{0};
    std::atomic<std::int64_t> started_system_ns{0};

    std::atomic<bool> finished{false};
    std::mutex mutex;
    std::condition_variable cv;
    std::exception_ptr error;

    // Runs the work here and now (through the AsyncJobRunner, if one is set), then finish().
    // Throws only a forced unwind (abi::__forced_unwind: the thread is being cancelled or
    // exits), after finishing with an error: the unwind must go on, or the runtime aborts.
    // Does nothing when cancel() dropped it while it was queued.
    void run();
    // Stops the copy at the next block boundary (a queued one finishes now, without running).
    // Nothing once it has finished, or in a forked child for the parent's copy.
    void cancel() noexcept;
    // Drops the work and keep_alive (so that their owners' last references go before anyone
    // is told the copy is done), then publishes completion and wakes the waiters.
    void finish(std::exception_ptr e) noexcept;

    // True in a forked child for a copy that was still running in the parent at fork(): it
    // never finishes here, and its mutex may have been copied locked.
    bool orphaned() const noexcept;
    // Waits until finished or orphaned. With a deadline: false when it passed first.
    void wait_finished() noexcept;
    bool wait_finished_until(std::chrono::steady_clock::time_point deadline) noexcept;
};

// For tests and benchmarks: the state behind a handle (null for a default-constructed one).
struct HandleAccess {
    static AsyncState* state(const CopyHandle& handle) noexcept { return handle.state_.get(); }
};

enum class Lane : unsigned { Bulk = 0, Small = 1, Background = 2 };

class AsyncExecutor {
public:
    AsyncExecutor() = default;
    ~AsyncExecutor(); // runs every queued job, then stops
    AsyncExecutor(const AsyncExecutor&) = delete;
    AsyncExecutor& operator=(const AsyncExecutor&) = delete;

    // Queues the job on a lane; starts the lane's thread on first use. Throws
    // std::system_error when no thread can be started.
    void submit(std::shared_ptr<AsyncState> job, Lane lane);

private:
    // On the heap so that a forked child can abandon it whole: the parent's thread may have
    // been waiting on the condition variable, and destroying it in the child waits forever.
    struct Shared {
        std::mutex mutex;
        std::condition_variable cv;
        std::deque<std::shared_ptr<AsyncState>> queue;
        bool stopping = false;
        std::thread thread;
        unsigned generation = 0; // fork generation the thread was started in
        bool exited = false;     // the thread was unwound (cancelled, pthread_exit) and runs nothing more
    };
    static void loop(Shared& shared);

    std::array<std::unique_ptr<Shared>, 3> lanes_{std::make_unique<Shared>(), std::make_unique<Shared>(),
                                                  std::make_unique<Shared>()};
};

} // namespace tilecopy::detail
