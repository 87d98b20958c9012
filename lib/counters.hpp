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

#include <tilecopy/small_copy.hpp>

namespace tilecopy::detail {

// The line this thread used last, and whose Counters it belongs to (counters.cpp). __thread, so
// no wrapper call; the default TLS model, as initial-exec fails to dlopen once torch has taken
// glibc's static TLS surplus ("cannot allocate memory in static TLS block").
struct CounterCache {
    std::uint64_t id;
    void* line;
};
extern __thread CounterCache t_counter_cache;

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
    void add(Counter c, std::uint64_t n) noexcept { bump(local(), c, n); }

    // One copy: kCopies, kBytes, `path` and (when `nt`) kNontemporalCopies, with one lookup of
    // this thread's line (after idleness each lookup's lines are cold: ~2 us for four adds).
    // The first thread's line is found, and written, within one cache line.
    void add_copy(Counter path, std::uint64_t bytes, bool nt) noexcept {
        if (__builtin_expect(owns_first_line(), 1))
            add_copy_to(first_line_, path, bytes, nt);
        else
            add_copy_elsewhere(path, bytes, nt);
    }

    std::array<std::uint64_t, kCounterCount> snapshot() const noexcept;

private:
    // `tp` first: the first line's owner test and the copy counters share one cache line.
    struct alignas(64) Line {
        std::atomic<std::uintptr_t> tp{0}; // first_line_ only: its thread's thread_pointer(), once taken
        std::array<std::atomic<std::uint64_t>, kCounterCount> values{};
        std::thread::id owner;
        bool shared = false;
    };
    static_assert(kNontemporalCopies < 7, "add_copy's counters share the line with Line::tp");

    static void plain_add(Line& line, Counter c, std::uint64_t n) noexcept {
        line.values[c].store(line.values[c].load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void add_copy_to(Line& line, Counter path, std::uint64_t bytes, bool nt) noexcept {
        plain_add(line, kCopies, 1);
        plain_add(line, kBytes, bytes);
        plain_add(line, path, 1);
        if (nt) plain_add(line, kNontemporalCopies, 1);
    }
    static void bump(Line& line, Counter c, std::uint64_t n) noexcept {
        if (line.shared)
            line.values[c].fetch_add(n, std::memory_order_relaxed);
        else
            plain_add(line, c, n);
    }
    // The first line's owner is known by its thread pointer, read without the GOT entry that a
    // TLS variable of a shared library needs (one more cold page after idleness).
    bool owns_first_line() const noexcept {
        const std::uintptr_t tp = thread_pointer();
        return tp != 0 && first_line_.tp.load(std::memory_order_relaxed) == tp;
    }
    Line& other_line() noexcept {
        if (t_counter_cache.id == id_) return *static_cast<Line*>(t_counter_cache.line);
        return local_slow();
    }
    Line& local() noexcept { return owns_first_line() ? first_line_ : other_line(); }
    Line& local_slow() noexcept;
    // add_copy for every thread but the first line's, out of line.
    void add_copy_elsewhere(Counter path, std::uint64_t bytes, bool nt) noexcept;
    Line& find_or_add() noexcept;

    const std::uint64_t id_; // unique per Counters object: thread caches never confuse two
    mutable std::mutex mutex_;
    // The first thread to count gets the line inside the object: an engine used from one thread
    // then counts in the page that holds its other state (after idleness each page a small
    // copy touches costs it a page walk).
    Line first_line_;
    bool first_taken_ = false;
    std::deque<Line> lines_;
    Line shared_line_;
};

} // namespace tilecopy::detail
