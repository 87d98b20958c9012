#include "async_limits.hpp"

#include <algorithm>

namespace tilecopy::detail {

namespace {

double seconds_between(SteadyClock::time_point from, SteadyClock::time_point to) noexcept {
    return std::chrono::duration<double>(to - from).count();
}

// Set while a thread runs an asynchronous copy's work (AsyncState::run): the engine's one entry
// finds the copy's limits here, so that every route to it (raw regions, tensor batches,
// checksummed copies) is limited without carrying them through each signature.
thread_local CopyControl* t_current = nullptr;

} // namespace

TokenBucket::TokenBucket(std::uint64_t rate, std::uint64_t capacity, SteadyClock::time_point start,
                         std::uint64_t initial) noexcept
    : rate_(static_cast<double>(std::max<std::uint64_t>(rate, 1))),
      capacity_(static_cast<double>(std::max<std::uint64_t>(capacity, 1))),
      tokens_(std::min(capacity_, static_cast<double>(initial))), start_(start), last_(start),
      worst_excess_(-capacity_) {}

SteadyClock::time_point TokenBucket::take(std::uint64_t bytes, SteadyClock::time_point now) noexcept {
    if (now > last_) {
        tokens_ = std::min(capacity_, tokens_ + rate_ * seconds_between(last_, now));
        last_ = now;
    }
    tokens_ -= static_cast<double>(bytes);
    taken_ += bytes;
    SteadyClock::time_point ready = last_;
    if (tokens_ < 0)
        ready += std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(-tokens_ / rate_));
    // Every byte taken so far is released by `ready` (the times returned never decrease).
    worst_excess_ =
        std::max(worst_excess_, static_cast<double>(taken_) - capacity_ - rate_ * seconds_between(start_, ready));
    return ready;
}

void ForegroundCount::leave() noexcept {
    // seq_cst with wait_idle's: either the waiter sees the count at 0, or this sees the waiter.
    if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1 && waiters_.load(std::memory_order_seq_cst) > 0) wake();
}

void ForegroundCount::wake() noexcept {
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
}

void ForegroundCount::wait_idle(const std::atomic<bool>& stop) noexcept {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !busy() || stop.load(std::memory_order_seq_cst); });
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
}

void CopyControl::configure(std::size_t threads, std::uint64_t bytes_per_second, std::uint64_t bucket_bytes,
                            bool background, std::shared_ptr<ForegroundCount> foreground) {
    threads_ = std::max<std::size_t>(threads, 1);
    background_ = background;
    foreground_ = std::move(foreground);
    if (bytes_per_second != static_cast<std::uint64_t>(-1)) {
        // It starts with a millisecond of bytes (a block, if more: a block never waits twice), so
        // that a copy does not start with a burst; it holds up to ten milliseconds' bytes, so that
        // a thread the OS preempted for a time slice or two (a few ms on Linux) catches up what it
        // missed. Holding one millisecond's, a throttled copy reached only 0.7-0.85 of its limit on
        // a loaded 2-vCPU machine, where about 1% of the threads' waits overslept by 5-12 ms.
        const std::uint64_t start = std::max<std::uint64_t>(bucket_bytes, bytes_per_second / 1000);
        const std::uint64_t capacity = std::max<std::uint64_t>(bucket_bytes, bytes_per_second / 100);
        bucket_.emplace(bytes_per_second, capacity, SteadyClock::now(), start);
    }
}

void CopyControl::cancel() noexcept {
    cancelled_.store(true, std::memory_order_seq_cst);
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
    if (foreground_) foreground_->wake();
}

bool CopyControl::before_block(std::uint64_t bytes) noexcept {
    if (bucket_) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!cancelled()) {
            const SteadyClock::time_point ready = bucket_->take(bytes, SteadyClock::now());
            if (ready > SteadyClock::now()) {
                token_waits_.fetch_add(1, std::memory_order_relaxed);
                cv_.wait_until(lock, ready, [this] { return cancelled(); });
            }
        }
    }
    if (cancelled()) {
        skipped_blocks_.fetch_add(1, std::memory_order_relaxed);
        skip();
        return false;
    }
    return true;
}

void CopyControl::dropped(std::size_t blocks) noexcept {
    dropped_blocks_.fetch_add(blocks, std::memory_order_relaxed);
    skip();
}

bool CopyControl::join() noexcept {
    if (cancelled()) return false; // its own thread skips what is left faster than it can be handed out
    std::size_t h = helpers_.load(std::memory_order_relaxed);
    do {
        if (h + 1 >= threads_) return false;
    } while (!helpers_.compare_exchange_weak(h, h + 1, std::memory_order_relaxed));
    std::size_t most = most_helpers_.load(std::memory_order_relaxed);
    while (h + 1 > most && !most_helpers_.compare_exchange_weak(most, h + 1, std::memory_order_relaxed)) {
    }
    return true;
}

void CopyControl::leave() noexcept { helpers_.fetch_sub(1, std::memory_order_relaxed); }

bool CopyControl::admit() noexcept {
    if (cancelled()) return false; // stopped(): the blocks left are dropped
    if (!background_ || !foreground_ || !foreground_->busy()) return true;
    yields_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

void CopyControl::pause() noexcept {
    if (background_ && foreground_) foreground_->wait_idle(cancelled_);
}

CopyControl::Counts CopyControl::counts() const {
    Counts c;
    c.most_threads = 1 + most_helpers_.load(std::memory_order_relaxed);
    c.yields = yields_.load(std::memory_order_relaxed);
    c.token_waits = token_waits_.load(std::memory_order_relaxed);
    c.skipped_blocks = skipped_blocks_.load(std::memory_order_relaxed);
    c.dropped_blocks = dropped_blocks_.load(std::memory_order_relaxed);
    c.late_blocks = late_blocks_.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mutex_);
    if (bucket_) {
        c.tokens_taken = bucket_->taken();
        c.bucket_bytes = bucket_->capacity();
        c.worst_excess = bucket_->worst_excess();
    }
    return c;
}

CopyControl* CopyControl::current() noexcept { return t_current; }

bool CopyControl::current_cancelled() noexcept {
    CopyControl* control = t_current;
    if (!control || !control->cancelled()) return false;
    control->skip();
    return true;
}

CopyControl::Scope::Scope(CopyControl* control) noexcept : previous_(t_current) { t_current = control; }

CopyControl::Scope::~Scope() { t_current = previous_; }

} // namespace tilecopy::detail
