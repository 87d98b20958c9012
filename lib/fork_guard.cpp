#include "fork_guard.hpp"

#include <atomic>

#include <pthread.h>

namespace tilecopy::detail {

namespace {

std::atomic<unsigned> g_generation{0};
// The fork generation in which oneTBB workers were first used; -1: never.
std::atomic<long> g_workers_generation{-1};

void on_fork_child() noexcept { g_generation.fetch_add(1, std::memory_order_relaxed); }

// Registered when the library is loaded, before any engine exists.
const int g_registered = pthread_atfork(nullptr, nullptr, on_fork_child);

} // namespace

unsigned fork_generation() noexcept {
    (void)g_registered;
    return g_generation.load(std::memory_order_relaxed);
}

void note_workers_started() noexcept {
    long never = -1;
    g_workers_generation.compare_exchange_strong(never, static_cast<long>(fork_generation()),
                                                 std::memory_order_relaxed);
}

bool workers_unusable() noexcept {
    const long started = g_workers_generation.load(std::memory_order_relaxed);
    return started >= 0 && static_cast<unsigned long>(started) != fork_generation();
}

} // namespace tilecopy::detail
