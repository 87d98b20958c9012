// lib/adapter/adapter.hpp over the engine's internals.
#include "adapter/adapter.hpp"

#include <utility>

#include "engine.hpp"

namespace tilecopy::detail::adapter {

namespace {
std::atomic<DescribeLines> g_describe_lines{nullptr};
} // namespace

void run(CopyEngine& engine, const Region* regions, std::size_t count, Conversion conversion,
         std::atomic<std::uint64_t>* progress) {
    internals(engine).run(regions, count, conversion, progress);
}

CopyHandle submit(CopyEngine& engine, Work work, std::uint64_t total_bytes, std::shared_ptr<void> keep_alive,
                  const AsyncOptions& limits) {
    return internals(engine).submit([work = std::move(work)](AsyncState& state) { work(state.copied); },
                                     total_bytes, std::move(keep_alive), limits);
}

bool cancelled() noexcept { return CopyControl::current_cancelled(); }

void record(CopyEngine& engine, TensorPath path, std::uint64_t copies) noexcept {
    internals(engine).counters.add(static_cast<Counter>(kTensorContiguous + (static_cast<unsigned>(path) & 3)), copies);
}

std::size_t min_run_bytes(const CopyEngine& engine) noexcept {
    return internals(engine).strategy().min_run_bytes.value;
}

void set_describe_lines(DescribeLines lines) noexcept { g_describe_lines.store(lines, std::memory_order_release); }

std::vector<std::string> describe_lines() {
    const DescribeLines lines = g_describe_lines.load(std::memory_order_acquire);
    return lines ? lines() : std::vector<std::string>{};
}

bool registered() noexcept { return g_describe_lines.load(std::memory_order_acquire) != nullptr; }

} // namespace tilecopy::detail::adapter
