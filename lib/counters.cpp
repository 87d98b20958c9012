#include "counters.hpp"

namespace tilecopy::detail {

namespace {

std::atomic<std::uint64_t> g_next_id{1};

} // namespace

__thread CounterCache t_counter_cache = {0, nullptr};

Counters::Counters() noexcept : id_(g_next_id.fetch_add(1, std::memory_order_relaxed)) {
    shared_line_.shared = true;
}

Counters::Line& Counters::local_slow() noexcept {
    Line& line = find_or_add();
    t_counter_cache = CounterCache{id_, &line};
    return line;
}

void Counters::add_copy_elsewhere(Counter path, std::uint64_t bytes, bool nt) noexcept {
    Line& line = other_line();
    bump(line, kCopies, 1);
    bump(line, kBytes, bytes);
    bump(line, path, 1);
    if (nt) bump(line, kNontemporalCopies, 1);
}

Counters::Line& Counters::find_or_add() noexcept {
    const auto me = std::this_thread::get_id();
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_taken_ && first_line_.owner == me) return first_line_;
    for (Line& line : lines_)
        if (line.owner == me) return line;
    if (!first_taken_) {
        first_taken_ = true;
        first_line_.owner = me;
        first_line_.tp.store(thread_pointer(), std::memory_order_relaxed);
        return first_line_;
    }
    try {
        Line& line = lines_.emplace_back();
        line.owner = me;
        return line;
    } catch (...) {
        return shared_line_;
    }
}

std::array<std::uint64_t, kCounterCount> Counters::snapshot() const noexcept {
    std::array<std::uint64_t, kCounterCount> sum{};
    std::lock_guard<std::mutex> lock(mutex_);
    for (unsigned c = 0; c < kCounterCount; ++c) {
        sum[c] = shared_line_.values[c].load(std::memory_order_relaxed) +
                 first_line_.values[c].load(std::memory_order_relaxed);
        for (const Line& line : lines_) sum[c] += line.values[c].load(std::memory_order_relaxed);
    }
    return sum;
}

} // namespace tilecopy::detail
