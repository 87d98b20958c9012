// The engine's side of host memory: population as a plan of blocks over the arenas, area
// binding through the topology, and huge-page advice on fresh copy destinations.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "engine.hpp"
#include "placement.hpp"
#include "plan.hpp"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace tilecopy::detail {

namespace {

const char* env_or_null(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

// Kernels before 5.14 answer EINVAL to MADV_POPULATE_*; then each page is touched: a write
// that keeps its value (an atomic or of zero, so a concurrent writer's bytes survive), or a read.
int populate_range(char* p, std::size_t n, bool for_write, std::size_t page) noexcept {
    static std::atomic<bool> no_advice{false};
    if (!no_advice.load(std::memory_order_relaxed)) {
        if (::madvise(p, n, for_write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0) return 0;
        if (errno != EINVAL) return errno;
        no_advice.store(true, std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < n; i += page) {
        if (for_write)
            __atomic_fetch_or(reinterpret_cast<unsigned char*>(p + i), 0, __ATOMIC_RELAXED);
        else
            (void)*reinterpret_cast<volatile const unsigned char*>(p + i);
    }
    return 0;
}

// Whether any page of [p, p + n) (page aligned) is resident; mincore in chunks of 16 MiB of
// pages so that nothing is allocated. An error (unmapped) counts as resident: leave it alone.
bool any_resident(char* p, std::size_t n, std::size_t page) noexcept {
    unsigned char vec[4096];
    for (std::size_t done = 0; done < n;) {
        const std::size_t chunk = std::min(n - done, sizeof vec * page);
        if (::mincore(p + done, chunk, vec) != 0) return true;
        for (std::size_t i = 0; i < chunk / page; ++i)
            if (vec[i] & 1) return true;
        done += chunk;
    }
    return false;
}

} // namespace

MemoryStrategy make_memory_strategy(const Options& options) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    const std::size_t memory = pages > 0 && page > 0 ? std::size_t(pages) * std::size_t(page) : 0;
    return resolve_memory_strategy(options, read_thp_mode(), env_or_null("TILECOPY_HUGEPAGES"),
                                   env_or_null("TILECOPY_FRESH_HUGEPAGES"), env_or_null("TILECOPY_CLONE_POOL_BYTES"),
                                   memory);
}

int Engine::bind_area(void* data, std::size_t bytes, int node) noexcept {
    Topology& topology = const_cast<Topology&>(scheduler_.topology());
    return topology.bind_area(data, bytes, node);
}

int Engine::populate(void* data, std::size_t bytes, bool for_write, int node) noexcept {
    if (bytes == 0) return 0;
    const std::size_t page = scheduler_.topology().page_bytes();
    char* const base = static_cast<char*>(data);
    std::atomic<int> failed{0};
    auto run_block = [&failed, for_write, page](char* p, std::size_t n) noexcept {
        if (const int err = populate_range(p, n, for_write, page)) {
            int none = 0;
            failed.compare_exchange_strong(none, err, std::memory_order_relaxed);
        }
    };
    const std::size_t threads = scheduler_.total_concurrency();
    const std::size_t block = populate_block_bytes(bytes, threads);
    if (forked() || threads <= 1 || bytes <= block) {
        run_block(base, bytes);
        return failed.load();
    }
    try {
        // One region whose blocks are page-aligned pieces; the plan's arithmetic is not needed.
        const Region region{base, base, bytes};
        Plan plan;
        plan.regions = &region;
        plan.region_count = 1;
        plan.total_count = plan.total_dst_bytes = bytes;
        const std::size_t nodes = scheduler_.topology().nodes().size();
        for (std::size_t at = 0, i = 0; at < bytes; at += block, ++i)
            plan.blocks.push_back(Block{0, 0, at, std::min(bytes, at + block),
                                        node >= 0 ? node : static_cast<int>(i % nodes)});
        plan.tiles.push_back(Tile{0, plan.blocks.size()});
        if (node == kWherePagesAre) place_blocks(plan, scheduler_.topology(), NumaPolicy::Auto, -1);
        scheduler_.run(plan, [&plan, &run_block, base, page](const Block& b) noexcept {
            // Placement may split a block at a page boundary where owners change: still page aligned.
            const std::size_t begin = b.begin / page * page;
            run_block(base + begin, b.end - begin);
            (void)plan;
        });
    } catch (...) {
        // No memory for a plan: populate here, on this thread.
        run_block(base, bytes);
    }
    return failed.load();
}

void Engine::advise_fresh_destinations(const Region* regions, std::size_t count, std::size_t des) noexcept {
    if (!memory_.fresh_may_advise) return;
    const std::size_t page = scheduler_.topology().page_bytes();
    for (std::size_t r = 0; r < count; ++r) {
        const std::size_t n = regions[r].count * des;
        if (!fresh_advice_candidate(memory_, n)) continue;
        const auto begin = reinterpret_cast<std::uintptr_t>(regions[r].dst);
        const std::uintptr_t first = (begin + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
        const std::uintptr_t last = (begin + n) / kHugePageBytes * kHugePageBytes;
        if (last <= first) continue;
        char* interior = reinterpret_cast<char*>(first);
        // Warm destinations, the common case, cost one one-page mincore.
        if (any_resident(interior, page, page) || any_resident(interior, last - first, page)) continue;
        const HugePageDecision d =
            decide_huge_pages(memory_.fresh_destinations.value, memory_.thp, last - first, &free_huge_bytes);
        if (d.advise_bytes) (void)::madvise(interior, d.advise_bytes, MADV_HUGEPAGE);
    }
}

} // namespace tilecopy::detail
