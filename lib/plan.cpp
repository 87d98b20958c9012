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

// A guided tile's block edges: the front half's, from 0 to the middle, each block about
// 1/threads of the distance left to the middle; the back half mirrors them, so both ends start
// with whole blocks and the remainder of an uneven tile falls in the middle, among the small
// blocks (the caller takes the front, helpers the back: crew.hpp).
struct GuidedEdges {
    std::vector<std::size_t> front; // ascending, 0 .. len / 2
    std::size_t len = 0;

    void reset(std::size_t tile_len, std::size_t block, std::size_t tail, std::size_t threads) {
        len = tile_len;
        front.assign(1, 0);
        const std::size_t middle = len / 2;
        for (std::size_t b = 0; b < middle;) {
            b = std::min(middle, b + std::max(tail, std::min(block, (middle - b) / threads)));
            front.push_back(b);
        }
    }
    // The first edge after `at` (elements into the tile).
    std::size_t next(std::size_t at) const noexcept {
        if (at < front.back()) return *std::upper_bound(front.begin(), front.end(), at);
        // Back half: edges len - f; the smallest above `at` comes from the largest f < len - at.
        const auto it = std::lower_bound(front.begin(), front.end(), len - at);
        return len - *(it - 1);
    }
    // The size of the block that opens at `at`: to the next edge, or the one after it when the
    // next is closer than half a tail block (a line cut may have carried `at` just short of it).
    std::size_t size_at(std::size_t at, std::size_t tail) const noexcept {
        std::size_t edge = next(at);
        if (edge - at < tail / 2 && edge < len) edge = next(edge);
        return edge - at;
    }
};

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
    const bool guided = options.tail_bytes != 0 && options.threads > 1;
    const std::size_t tail_elems =
        std::min(block_elems, std::max<std::size_t>(1, std::max(kLine, options.tail_bytes) / wide));

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
    std::size_t done = 0;                                  // elements in closed tiles
    std::size_t tile_len = std::min(tile_elems, total);    // elements of the open tile
    std::size_t target = block_elems;                      // the open block's size
    GuidedEdges edges;
    if (guided) edges.reset(tile_len, block_elems, tail_elems, options.threads);

    auto close_block = [&] {
        plan.blocks.push_back(block);
        open = false;
        if (in_tile >= tile_elems) {
            plan.tiles.push_back({tile_first, plan.blocks.size()});
            tile_first = plan.blocks.size();
            done += in_tile;
            in_tile = 0;
            tile_len = std::min(tile_elems, total - done);
            if (guided) edges.reset(tile_len, block_elems, tail_elems, options.threads);
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
                target = guided && in_tile < tile_len ? edges.size_at(in_tile, tail_elems) : block_elems;
            }
            const std::size_t room = std::min(target - std::min(target, in_block), tile_elems - in_tile);
            std::size_t cut = region.count;
            if (region.count - offset > room) cut = std::min(region.count, align_cut(region, offset + room, des));
            in_block += cut - offset;
            in_tile += cut - offset;
            block.last = r;
            block.end = cut;
            offset = cut;
            if (in_block >= target || in_tile >= tile_elems) close_block();
        }
    }
    if (open) close_block();
    if (tile_first < plan.blocks.size()) plan.tiles.push_back({tile_first, plan.blocks.size()});
    return plan;
}

} // namespace tilecopy::detail
