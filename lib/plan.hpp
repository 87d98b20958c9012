// The plan: pure arithmetic that splits a request into tiles and cache-sized blocks.
// No threads, no hwloc, no torch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <tilecopy/request.hpp>

namespace tilecopy::detail {

// A block covers elements [begin, end) of a run of consecutive regions: `begin` indexes into
// region `first`, `end` into region `last` (so a block may pack many small regions). Within a
// region, block edges fall on 64-byte destination boundaries.
struct Block {
    std::size_t first = 0;
    std::size_t last = 0;
    std::size_t begin = 0;
    std::size_t end = 0;
    int node = 0; // index of the topology node that runs it (placement.hpp)
};

// What runs one block (the scheduler's type-erased form of a caller's function).
using BlockFn = void (*)(void* ctx, const Block& block) noexcept;

// Tiles group consecutive blocks; no block crosses a tile edge. Tiles run one after another,
// the blocks of a tile in parallel.
struct Tile {
    std::size_t first_block = 0;
    std::size_t end_block = 0; // exclusive
};

struct PlanOptions {
    std::size_t tile_bytes = std::size_t(1) << 30;
    std::size_t block_bytes = std::size_t(256) << 10;
    // Guided tail: when non-zero (and threads > 1), blocks shrink toward the middle of each tile,
    // down to this size. The caller claims blocks from a tile's front and helpers from its back
    // (crew.hpp), so the last blocks claimed lie where they meet, near the middle: a helper that
    // is descheduled inside its last block then holds little the caller must wait for. A block
    // at distance D from the middle gets about D / threads, the share of the work left.
    std::size_t tail_bytes = 0;
    std::size_t threads = 1;
};

struct Plan {
    const Region* regions = nullptr; // not owned: lives as long as the request
    std::size_t region_count = 0;
    Conversion conversion = Conversion::None;
    std::size_t total_count = 0;     // elements (bytes for Conversion::None)
    std::size_t total_dst_bytes = 0;
    std::vector<Block> blocks;
    std::vector<Tile> tiles;
    // The blocks stream with unfenced non-temporal stores: each thread that ran some fences once
    // before it publishes them (crew.cpp, Job::work).
    bool fence_after = false;
};

// Sizes are counted in bytes of the wider side (source or destination) of the conversion; a
// block or tile may exceed its size by less than one destination line (64 bytes) of elements.
// Regions with count 0 are skipped. Sizes below 64 are taken as 64.
Plan make_plan(const Region* regions, std::size_t count, Conversion conversion, const PlanOptions& options);

// Calls fn(dst, src, count) for each region piece the block covers, in order.
template <typename Fn>
void for_each_piece(const Plan& plan, const Block& block, Fn&& fn) {
    const std::size_t des = dst_element_size(plan.conversion);
    const std::size_t ses = src_element_size(plan.conversion);
    for (std::size_t r = block.first; r <= block.last; ++r) {
        const Region& region = plan.regions[r];
        const std::size_t b = r == block.first ? block.begin : 0;
        const std::size_t e = r == block.last ? block.end : region.count;
        if (e > b)
            fn(static_cast<char*>(region.dst) + b * des, static_cast<const char*>(region.src) + b * ses, e - b);
    }
}

} // namespace tilecopy::detail
