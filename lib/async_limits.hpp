// What an asynchronous copy's threads ask at each block boundary (docs/async.md): whether it
// was cancelled, how many threads it may use, whether foreground work wants the threads, and
// when its bytes-per-second budget lets the next block go.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "crew.hpp"

namespace tilecopy::detail {

using SteadyClock = std::chrono::steady_clock;

// A token bucket of destination bytes: `rate` bytes a second, holding at most `capacity`,
// starting with `initial` (at most capacity; full by default). take() lends: the bytes are taken
// at once (the bucket may go into debt) and the caller waits until the time it returns, so
// threads that take in turn are served in turn and the rate holds at block granularity. A taker
// that comes late (its thread was preempted) finds the tokens of the time it missed, up to
// capacity. Pure (the caller passes the time) and not thread-safe (CopyControl locks around it).
class TokenBucket {
public:
    TokenBucket(std::uint64_t rate, std::uint64_t capacity, SteadyClock::time_point start) noexcept
        : TokenBucket(rate, capacity, start, capacity) {}
    TokenBucket(std::uint64_t rate, std::uint64_t capacity, SteadyClock::time_point start,
                std::uint64_t initial) noexcept;
    SteadyClock::time_point take(std::uint64_t bytes, SteadyClock::time_point now) noexcept;

    std::uint64_t taken() const noexcept { return taken_; }
    double capacity() const noexcept { return capacity_; }
    // The most that the bytes released by some time t ever exceeded capacity + rate * (t - start):
    // at most 0 (give or take rounding) when the limit held.
    double worst_excess() const noexcept { return worst_excess_; }

private:
    double rate_;     // bytes per second
    double capacity_; // bytes
    double tokens_;   // at last_; negative: debt
    SteadyClock::time_point start_;
    SteadyClock::time_point last_;
    std::uint64_t taken_ = 0;
    double worst_excess_;
};

// How many foreground copies run on the arenas (one per engine); background copies wait on it.
class ForegroundCount {
public:
    void enter() noexcept { active_.fetch_add(1, std::memory_order_seq_cst); }
    void leave() noexcept;
    bool busy() const noexcept { return active_.load(std::memory_order_seq_cst) > 0; }
    // Blocks while foreground work runs, or until `stop` is set and wake() called.
    void wait_idle(const std::atomic<bool>& stop) noexcept;
    void wake() noexcept;

    // A foreground copy's time on the arenas.
    class Scope {
    public:
        explicit Scope(ForegroundCount* count) noexcept : count_(count) {
            if (count_) count_->enter();
        }
        ~Scope() {
            if (count_) count_->leave();
        }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        ForegroundCount* count_;
    };

private:
    std::atomic<int> active_{0};
    std::atomic<int> waiters_{0};
    std::mutex mutex_;
    std::condition_variable cv_;
};

// One asynchronous copy's limits and cancellation: the gate every thread asks before it claims
// a block (BlockGate), and the check before a claimed block is copied (before_block).
class CopyControl final : public BlockGate {
public:
    // threads: the copy's threads in all, its own included (at least 1); bytes_per_second:
    // AsyncOptions::kUnlimited for none; bucket_bytes: the bucket's capacity.
    void configure(std::size_t threads, std::uint64_t bytes_per_second, std::uint64_t bucket_bytes, bool background,
                   std::shared_ptr<ForegroundCount> foreground);

    // Blocks stop at the next boundary; threads waiting for tokens or for foreground work wake.
    void cancel() noexcept;
    bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
    // Before a claimed block of `bytes` destination bytes is copied: waits for its tokens;
    // false when the copy was cancelled (the block is skipped and its bytes never counted).
    bool before_block(std::uint64_t bytes) noexcept;
    // Whether some work was skipped because of a cancel (the copy did not complete).
    bool stopped_short() const noexcept { return skipped_.load(std::memory_order_acquire); }
    void skip() noexcept { skipped_.store(true, std::memory_order_release); }

    std::size_t threads() const noexcept { return threads_; }
    bool background() const noexcept { return background_; }

    bool join() noexcept override;
    void leave() noexcept override;
    bool admit() noexcept override;
    void pause() noexcept override;
    bool stopped() const noexcept override { return cancelled(); }
    void dropped(std::size_t blocks) noexcept override;
    // After a claimed block was copied: counts it when the copy had been cancelled meanwhile.
    void after_block() noexcept {
        if (cancelled()) late_blocks_.fetch_add(1, std::memory_order_relaxed);
    }
    bool wants_helpers() const noexcept override { return threads_ > 1; }

    // Whether the asynchronous copy this thread runs (current()) was cancelled; if so, marks it
    // stopped short: the caller skips the work it was about to start. False on other threads.
    static bool current_cancelled() noexcept;

    // What the limits did, for tests and benchmarks.
    struct Counts {
        std::size_t most_threads = 1;   // threads on the copy at once, its own included
        std::uint64_t yields = 0;       // times a thread left it for foreground work
        std::uint64_t token_waits = 0;  // blocks that waited for their tokens
        // After a cancel: blocks claimed and then skipped (before_block said no), blocks never
        // claimed (dropped at once, with their tiles), and blocks that finished copying after it
        // (those in flight when it came: at most one a thread).
        std::uint64_t skipped_blocks = 0, dropped_blocks = 0, late_blocks = 0;
        std::uint64_t tokens_taken = 0; // bytes taken from the bucket
        double bucket_bytes = 0;        // the bucket's capacity (0: no bucket)
        double worst_excess = 0;        // TokenBucket::worst_excess
    };
    Counts counts() const;

    // The control of the asynchronous copy this thread runs (null: a synchronous copy).
    static CopyControl* current() noexcept;
    class Scope {
    public:
        explicit Scope(CopyControl* control) noexcept;
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        CopyControl* previous_;
    };

private:
    std::size_t threads_ = static_cast<std::size_t>(-1);
    bool background_ = false;
    std::shared_ptr<ForegroundCount> foreground_;
    std::atomic<bool> cancelled_{false};
    std::atomic<bool> skipped_{false};
    std::atomic<std::size_t> helpers_{0};
    std::atomic<std::size_t> most_helpers_{0};
    std::atomic<std::uint64_t> yields_{0};
    std::atomic<std::uint64_t> token_waits_{0};
    std::atomic<std::uint64_t> skipped_blocks_{0}, dropped_blocks_{0}, late_blocks_{0};
    mutable std::mutex mutex_; // the bucket's
    std::condition_variable cv_;
    std::optional<TokenBucket> bucket_;
};

} // namespace tilecopy::detail
