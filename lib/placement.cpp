// Block placement: which node's arena runs each block. Pure given the Topology, which is
// the only thing here that asks the system anything (one page location per question).
#include "placement.hpp"

#include <algorithm>
#include <cstdint>

namespace tilecopy::detail {
namespace {

// Memory interleaved page by page (numactl --interleave) changes owner on every page; splitting
// at each change would shred a block into single pages and cost a query per page. After this
// many pieces the rest of the block stays with the node of its first page.
constexpr std::size_t kMaxPiecesPerBlock = 8;

// Answers page owners, remembering the last page asked: consecutive blocks that are not
// page-aligned share a page, and bisection asks the same pages again.
class PageOwners {
public:
    explicit PageOwners(const Topology& topology) noexcept : topology_(topology) {
        const std::size_t page = topology.page_bytes();
        page_ = page && (page & (page - 1)) == 0 ? page : 4096;
    }

    std::uintptr_t page_bytes() const noexcept { return page_; }
    std::uintptr_t page_of(std::uintptr_t addr) const noexcept { return addr & ~(page_ - 1); }

    int owner(std::uintptr_t page) noexcept {
        if (!have_last_ || page != last_page_) {
            last_page_ = page;
            last_owner_ = topology_.node_of(reinterpret_cast<const void*>(page));
            have_last_ = true;
        }
        return last_owner_;
    }

private:
    const Topology& topology_;
    std::uintptr_t page_ = 4096;
    bool have_last_ = false;
    std::uintptr_t last_page_ = 0;
    int last_owner_ = -1;
};

class AutoPlacer {
public:
    AutoPlacer(const Plan& plan, const Topology& topology, std::vector<Block>& out) noexcept
        : plan_(plan), owners_(topology), node_count_(topology.nodes().size()), out_(out),
          des_(dst_element_size(plan.conversion)), ses_(src_element_size(plan.conversion)) {}

    void place(const Block& block) {
        if (block.first == block.last) {
            place_within_region(block);
            return;
        }
        // A block packing several small regions is placed by its first piece: checking every
        // region's pages would cost a query per region for blocks that are small anyway.
        Block placed = block;
        bool decided = false;
        for_each_piece(plan_, block, [&](char* d, const char* s, std::size_t) {
            if (decided) return;
            placed.node = node_for(reinterpret_cast<std::uintptr_t>(d), reinterpret_cast<std::uintptr_t>(s));
            decided = true;
        });
        if (!decided) placed.node = next_in_turn();
        out_.push_back(placed);
    }

private:
    // Splits [begin, end) of one region where the destination's owner changes.
    void place_within_region(const Block& block) {
        const Region& region = plan_.regions[block.first];
        const auto dst = reinterpret_cast<std::uintptr_t>(region.dst);
        const auto src = reinterpret_cast<std::uintptr_t>(region.src);
        const std::size_t end = block.end;
        std::size_t start = block.begin;
        if (start >= end) {
            Block placed = block;
            placed.node = next_in_turn();
            out_.push_back(placed);
            return;
        }
        const std::uintptr_t last_page = owners_.page_of(dst + end * des_ - 1);
        for (std::size_t pieces = 1;; ++pieces) {
            const std::uintptr_t first_page = owners_.page_of(dst + start * des_);
            const int first_owner = owners_.owner(first_page);
            std::size_t cut = end;
            if (pieces < kMaxPiecesPerBlock && first_page != last_page &&
                owners_.owner(last_page) != first_owner) {
                const std::uintptr_t boundary = owner_change(first_page, last_page, first_owner);
                // Round up to an element edge; page boundaries are 64-byte aligned, so for an
                // element-aligned destination this is the boundary itself.
                const std::size_t at = (boundary - dst + des_ - 1) / des_;
                if (at > start && at < end) cut = at;
            }
            emit(block.first, start, cut,
                 first_owner >= 0 ? first_owner : node_for_source(src + start * ses_));
            if (cut == end) return;
            start = cut;
        }
    }

    // A page boundary in (first, last] where the owner stops being `owner`: bisection keeps
    // `lo` owned by `owner` and `hi` owned by another node (or unknown).
    std::uintptr_t owner_change(std::uintptr_t lo, std::uintptr_t hi, int owner) noexcept {
        const std::uintptr_t page = owners_.page_bytes();
        while (hi - lo > page) {
            const std::uintptr_t mid = lo + ((hi - lo) / page / 2) * page;
            if (owners_.owner(mid) == owner)
                lo = mid;
            else
                hi = mid;
        }
        return hi;
    }

    void emit(std::size_t region, std::size_t begin, std::size_t end, int node) {
        out_.push_back(Block{region, region, begin, end, node});
    }

    int node_for(std::uintptr_t dst, std::uintptr_t src) noexcept {
        const int by_dst = owners_.owner(owners_.page_of(dst));
        return by_dst >= 0 ? by_dst : node_for_source(src);
    }

    int node_for_source(std::uintptr_t src) noexcept {
        const int by_src = owners_.owner(owners_.page_of(src));
        return by_src >= 0 ? by_src : next_in_turn();
    }

    int next_in_turn() noexcept { return static_cast<int>(turn_++ % node_count_); }

    const Plan& plan_;
    PageOwners owners_;
    std::size_t node_count_;
    std::vector<Block>& out_;
    std::size_t des_;
    std::size_t ses_;
    std::size_t turn_ = 0;
};

void place_auto(Plan& plan, const Topology& topology) {
    std::vector<Block> placed;
    placed.reserve(plan.blocks.size() + plan.blocks.size() / 8 + 1);
    // new_start[i]: where old block i begins in `placed`, to move the tile edges.
    std::vector<std::size_t> new_start(plan.blocks.size() + 1);
    AutoPlacer placer(plan, topology, placed);
    for (std::size_t i = 0; i < plan.blocks.size(); ++i) {
        new_start[i] = placed.size();
        placer.place(plan.blocks[i]);
    }
    new_start[plan.blocks.size()] = placed.size();
    if (placed.size() != plan.blocks.size()) {
        for (Tile& tile : plan.tiles) {
            tile.first_block = new_start[std::min(tile.first_block, plan.blocks.size())];
            tile.end_block = new_start[std::min(tile.end_block, plan.blocks.size())];
        }
    }
    plan.blocks.swap(placed);
}

} // namespace

void place_blocks(Plan& plan, const Topology& topology, NumaPolicy policy, int node) {
    const std::size_t nodes = topology.nodes().size();
    if (nodes <= 1 || policy == NumaPolicy::Off) {
        for (Block& b : plan.blocks) b.node = 0;
        return;
    }
    switch (policy) {
    case NumaPolicy::Node: {
        // The engine rejects a bad index up front; clamping keeps a stray one in range.
        const int fixed = std::clamp(node, 0, static_cast<int>(nodes) - 1);
        for (Block& b : plan.blocks) b.node = fixed;
        return;
    }
    case NumaPolicy::Interleave:
        for (std::size_t i = 0; i < plan.blocks.size(); ++i) plan.blocks[i].node = static_cast<int>(i % nodes);
        return;
    case NumaPolicy::Auto:
    case NumaPolicy::Off:
        break;
    }
    place_auto(plan, topology);
}

} // namespace tilecopy::detail
