#include "plan.hpp"

#include <algorithm>
#include <cstdint>

namespace tilecopy::detail {

namespace {

constexpr std::size_t kLine = 64;

// The first element index >= `cut` whose destination address is 64-byte aligned, so that
// blocks never share a cache line of the destination (no false sharing, and the
// non-temporal kernels get whole lines). A destination that is not element-aligned cannot
// be cut on lines: the cut is kept as it is.
std::size_t align_cut(const Region& region, std::size_t cut, std::size_t dst_elem) noexcept {
    const auto base = reinterpret_cast<std::uintptr_t>(region.dst);
    if (base % dst_elem != 0) return cut;
    const std::uintptr_t at = base + cut * dst_elem;
    const std::uintptr_t aligned = (at + kLine - 1) & ~std::uintptr_t(kLine - 1);
    return cut + (aligned - at) / dst_elem;
}

} // namespace

Plan make_plan(const Region* regions, std::size_t count, Conversion conversion, const PlanOptions& options) {
    Plan plan;
    plan.regions = regions;
    plan.region_count = count;
    plan.conversion = conversion;

    const std::size_t des = dst_element_size(conversion);
    const std::size_t wide = std::max(des, src_element_size(conversion));
    const std::size_t block_elems = std::max<std::size_t>(1, std::max(kLine, options.block_bytes) / wide);
    const std::size_t tile_elems = std::max(block_elems, std::max(kLine, options.tile_bytes) / wide);

    std::size_t total = 0;
    for (std::size_t r = 0; r < count; ++r) total += regions[r].count;
    plan.total_count = total;
    plan.total_dst_bytes = total * des;
    if (total == 0) return plan;
    plan.blocks.reserve(total / block_elems + count / 16 + 2);

    Block block;
    bool open = false;
    std::size_t in_block = 0;
    std::size_t in_tile = 0;
    std::size_t tile_first = 0;

    auto close_block = [&] {
        plan.blocks.push_back(block);
        open = false;
        if (in_tile >= tile_elems) {
            plan.tiles.push_back({tile_first, plan.blocks.size()});
            tile_first = plan.blocks.size();
            in_tile = 0;
        }
    };

    for (std::size_t r = 0; r < count; ++r) {
        const Region& region = regions[r];
        std::size_t offset = 0;
        while (offset < region.count) {
            if (!open) {
                block = Block{r, r, offset, offset, 0};
                open = true;
                in_block = 0;
            }
            const std::size_t room = std::min(block_elems - in_block, tile_elems - in_tile);
            std::size_t cut = region.count;
            if (region.count - offset > room) cut = std::min(region.count, align_cut(region, offset + room, des));
            in_block += cut - offset;
            in_tile += cut - offset;
            block.last = r;
            block.end = cut;
            offset = cut;
            if (in_block >= block_elems || in_tile >= tile_elems) close_block();
        }
    }
    if (open) close_block();
    if (tile_first < plan.blocks.size()) plan.tiles.push_back({tile_first, plan.blocks.size()});
    return plan;
}

} // namespace tilecopy::detail
