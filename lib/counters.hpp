// Always-on counters without locked instructions on the copy path: each thread counts in its
// own cache line (one writer, plain relaxed stores), and a snapshot sums the lines. Three
// shared atomic increments cost ~15 ns a call, half the time of a 4 KiB copy.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

namespace tilecopy::detail {

enum Counter : unsigned {
    kCopies,
    kBytes,
    kInlineCopies,
    kParallelCopies,
    kNontemporalCopies,
    kTensorContiguous,
    kTensorStrided,
    kTensorConverted,
    kTensorFallback,
    kCounterCount
};

class Counters {
public:
    Counters() noexcept;

    // Adds to this thread's line. Never throws: when a line cannot be allocated, the thread
    // counts in a shared line with atomic additions instead.
    void add(Counter c, std::uint64_t n) noexcept {
        Line& line = local();
        if (line.shared)
            line.values[c].fetch_add(n, std::memory_order_relaxed);
        else
            line.values[c].store(line.values[c].load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    std::array<std::uint64_t, kCounterCount> snapshot() const noexcept;

private:
    struct alignas(64) Line {
        std::array<std::atomic<std::uint64_t>, kCounterCount> values{};
        std::thread::id owner;
        bool shared = false;
    };

    Line& local() noexcept;
    Line& find_or_add() noexcept;

    const std::uint64_t id_; // unique per Counters object: thread caches never confuse two
    mutable std::mutex mutex_;
    std::deque<Line> lines_;
    Line shared_line_;
};

} // namespace tilecopy::detail
