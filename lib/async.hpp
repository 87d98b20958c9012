// Asynchronous copies: a shared state per handle, and one submitter thread per engine that
// runs queued jobs through the scheduler (so an asynchronous copy gets the caller's share of
// the cores as well as the arena's workers, like a synchronous one).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace tilecopy::detail {

struct AsyncState {
    // The work; it adds to `copied` as blocks finish. May throw: the error reaches wait().
    std::function<void(AsyncState&)> work;
    std::atomic<std::uint64_t> copied{0};
    std::uint64_t total = 0;
    std::shared_ptr<void> keep_alive; // what the copy reads and writes (tensors), held until done

    std::atomic<bool> finished{false};
    std::mutex mutex;
    std::condition_variable cv;
    std::exception_ptr error;

    void finish(std::exception_ptr e) noexcept;
    void wait_finished() noexcept;
};

class AsyncExecutor {
public:
    AsyncExecutor() = default;
    ~AsyncExecutor(); // runs every queued job, then stops
    AsyncExecutor(const AsyncExecutor&) = delete;
    AsyncExecutor& operator=(const AsyncExecutor&) = delete;

    // Queues the job; starts the thread on first use. Throws std::system_error when no
    // thread can be started.
    void submit(std::shared_ptr<AsyncState> job);

private:
    // On the heap so that a forked child can abandon it whole: the parent's thread may have
    // been waiting on the condition variable, and destroying it in the child waits forever.
    struct Shared {
        std::mutex mutex;
        std::condition_variable cv;
        std::deque<std::shared_ptr<AsyncState>> queue;
        bool stopping = false;
        std::thread thread;
    };
    static void loop(Shared& shared) noexcept;

    std::unique_ptr<Shared> shared_ = std::make_unique<Shared>();
    unsigned generation_ = 0; // fork generation the thread was started in
};

} // namespace tilecopy::detail
