#include "fork_guard.hpp"

#include <atomic>

#include <pthread.h>

namespace tilecopy::detail {

namespace {

std::atomic<unsigned> g_generation{0};

void on_fork_child() noexcept { g_generation.fetch_add(1, std::memory_order_relaxed); }

// Registered when the library is loaded, before any engine exists.
const int g_registered = pthread_atfork(nullptr, nullptr, on_fork_child);

} // namespace

unsigned fork_generation() noexcept {
    (void)g_registered;
    return g_generation.load(std::memory_order_relaxed);
}

} // namespace tilecopy::detail
