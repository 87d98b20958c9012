// lib/adapter.hpp over the engine's internals.
#include "adapter.hpp"

#include <utility>

#include "engine.hpp"

namespace tilecopy::detail::adapter {

namespace {
std::atomic<DescribeLines> g_describe_lines{nullptr};
} // namespace

void copy_bytes(CopyEngine& engine, void* dst, const void* src, std::size_t bytes) {
    engine.internals().copy_bytes(dst, src, bytes);
}

void run(CopyEngine& engine, const Region* regions, std::size_t count, Conversion conversion,
         std::atomic<std::uint64_t>* progress) {
    engine.internals().run(regions, count, conversion, progress);
}

CopyHandle submit(CopyEngine& engine, Work work, std::uint64_t total_bytes, std::shared_ptr<void> keep_alive) {
    return engine.internals().submit([work = std::move(work)](AsyncState& state) { work(state.copied); },
                                     total_bytes, std::move(keep_alive));
}

void set_describe_lines(DescribeLines lines) noexcept { g_describe_lines.store(lines, std::memory_order_release); }

std::vector<std::string> describe_lines() {
    const DescribeLines lines = g_describe_lines.load(std::memory_order_acquire);
    return lines ? lines() : std::vector<std::string>{};
}

} // namespace tilecopy::detail::adapter
