// Block placement: which node's arena runs each block. Pure given the Topology, which is
// the only thing here that asks the system anything. Auto asks for page locations in bulk:
// at most four page_nodes() calls per copy, one system call each, whatever its size.
#include "placement.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace tilecopy::detail {
namespace {

// Memory interleaved page by page (numactl --interleave) changes owner on every page; splitting
// at each change would shred a block into single pages. After this many pieces the rest of the
// block stays with the node of its first page.
constexpr std::size_t kMaxPiecesPerBlock = 8;

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

// Pages to locate, asked all at once.
class PageQuery {
public:
    std::size_t add(std::uintptr_t page) {
        pages_.push_back(reinterpret_cast<const void*>(page));
        return pages_.size() - 1;
    }
    void ask(const Topology& topology) {
        owners_.assign(pages_.size(), -1);
        if (!pages_.empty()) topology.page_nodes(pages_.data(), pages_.size(), owners_.data());
    }
    int owner(std::size_t i) const noexcept { return i == kNone ? -1 : owners_[i]; }

private:
    std::vector<const void*> pages_;
    std::vector<int> owners_;
};

// What is known of one block of the plan while its placement is decided.
struct Probe {
    enum Kind { Empty, Single, Packed } kind = Empty;
    std::uintptr_t first_page = 0; // destination pages of its first and last byte (Single)
    std::uintptr_t last_page = 0;
    std::uintptr_t src_page = 0;   // Packed: the source page of its first piece
    std::size_t first = kNone;     // answer indices: round 1
    std::size_t end_proxy = kNone; // round 1: the last page, or the next block's first page
    std::uintptr_t end_proxy_page = 0;
    std::size_t last = kNone;      // round 2, when the proxy was not the last page itself
    std::size_t pages = kNone;     // round 3: every page of a block whose owner changes
};

class AutoPlacer {
public:
    AutoPlacer(const Plan& plan, const Topology& topology) noexcept
        : plan_(plan), topology_(topology), node_count_(topology.nodes().size()),
          des_(dst_element_size(plan.conversion)), ses_(src_element_size(plan.conversion)) {
        const std::size_t page = topology.page_bytes();
        page_ = page && (page & (page - 1)) == 0 ? page : 4096;
    }

    // Rounds: (1) the first destination page of every block, and the page after it (the
    // next block's first, which is asked anyway, else its own last page); (2) the last page
    // of the blocks whose two answers differ, where it was not asked yet; (3) every page of
    // the blocks whose first and last pages differ in owner, to cut them where the owner
    // changes; (4) the source page of each piece whose destination has no known owner.
    // Like asking first and last page of each block, this misses an owner change that comes
    // back to the first page's owner within the block (or exactly at its end).
    void place(std::vector<Block>& out, std::vector<std::size_t>& new_start) {
        const std::vector<Block>& blocks = plan_.blocks;
        std::vector<Probe> probes(blocks.size());
        PageQuery round1;
        for (std::size_t i = 0; i < blocks.size(); ++i) probe_first(blocks[i], probes[i], round1);
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            Probe& p = probes[i];
            if (p.kind != Probe::Single || p.first_page == p.last_page) continue;
            const bool next_follows = i + 1 < blocks.size() && probes[i + 1].kind == Probe::Single &&
                                      blocks[i + 1].first == blocks[i].first && blocks[i + 1].begin == blocks[i].end;
            if (next_follows) {
                p.end_proxy = probes[i + 1].first;
                p.end_proxy_page = probes[i + 1].first_page;
            } else {
                p.end_proxy = round1.add(p.last_page);
                p.end_proxy_page = p.last_page;
            }
        }
        round1.ask(topology_);

        PageQuery round2;
        for (Probe& p : probes) {
            if (p.end_proxy == kNone || round1.owner(p.first) == round1.owner(p.end_proxy)) continue;
            if (p.end_proxy_page != p.last_page) p.last = round2.add(p.last_page);
        }
        round2.ask(topology_);

        PageQuery round3;
        for (Probe& p : probes) {
            if (p.end_proxy == kNone || round1.owner(p.first) == round1.owner(p.end_proxy)) continue;
            const int last_owner = p.last != kNone ? round2.owner(p.last) : round1.owner(p.end_proxy);
            if (last_owner == round1.owner(p.first)) continue;
            p.pages = round3.add(p.first_page);
            for (std::uintptr_t page = p.first_page + page_; page <= p.last_page; page += page_) round3.add(page);
        }
        round3.ask(topology_);

        // Pieces with their destination's owner; those without one get their source's.
        PageQuery round4;
        std::vector<std::size_t> by_source;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            new_start[i] = out.size();
            const Block& block = blocks[i];
            const Probe& p = probes[i];
            switch (p.kind) {
            case Probe::Empty: emit(out, by_source, block, -1, kNone); break;
            case Probe::Packed: {
                const int node = round1.owner(p.first);
                emit(out, by_source, block, node, node >= 0 ? kNone : round4.add(p.src_page));
                break;
            }
            case Probe::Single:
                if (p.pages == kNone)
                    emit_piece(out, by_source, round4, block.first, block.begin, block.end, round1.owner(p.first));
                else
                    cut_at_owner_changes(out, by_source, round4, block, p, round3);
                break;
            }
        }
        new_start[blocks.size()] = out.size();
        round4.ask(topology_);

        for (std::size_t j = 0; j < out.size(); ++j) {
            if (out[j].node >= 0) continue;
            const int by_src = round4.owner(by_source[j]);
            out[j].node = by_src >= 0 ? by_src : next_in_turn();
        }
    }

private:
    void probe_first(const Block& block, Probe& p, PageQuery& query) {
        if (block.first == block.last) {
            if (block.begin >= block.end) return;
            const auto dst = reinterpret_cast<std::uintptr_t>(plan_.regions[block.first].dst);
            p.kind = Probe::Single;
            p.first_page = page_of(dst + block.begin * des_);
            p.last_page = page_of(dst + block.end * des_ - 1);
            p.first = query.add(p.first_page);
            return;
        }
        // A block packing several small regions is placed by its first piece: checking every
        // region's pages would cost a page per region for blocks that are small anyway.
        for_each_piece(plan_, block, [&](char* d, const char* s, std::size_t) {
            if (p.kind == Probe::Packed) return;
            p.kind = Probe::Packed;
            p.first = query.add(page_of(reinterpret_cast<std::uintptr_t>(d)));
            p.src_page = page_of(reinterpret_cast<std::uintptr_t>(s));
        });
    }

    // Splits a block at the page boundaries where its destination's owner changes.
    void cut_at_owner_changes(std::vector<Block>& out, std::vector<std::size_t>& by_source, PageQuery& sources,
                              const Block& block, const Probe& p, const PageQuery& pages) {
        const auto dst = reinterpret_cast<std::uintptr_t>(plan_.regions[block.first].dst);
        const std::size_t page_count = (p.last_page - p.first_page) / page_ + 1;
        std::size_t start = block.begin;
        std::size_t page = 0; // index of start's page among the block's pages
        for (std::size_t pieces = 1;; ++pieces) {
            const int owner = pages.owner(p.pages + page);
            std::size_t cut = block.end, next = page_count;
            if (pieces < kMaxPiecesPerBlock) {
                for (std::size_t q = page + 1; q < page_count; ++q) {
                    if (pages.owner(p.pages + q) == owner) continue;
                    // Round up to an element edge; page boundaries are 64-byte aligned, so for
                    // an element-aligned destination this is the boundary itself.
                    const std::size_t at = (p.first_page + q * page_ - dst + des_ - 1) / des_;
                    if (at > start && at < block.end) cut = at, next = q;
                    break;
                }
            }
            emit_piece(out, by_source, sources, block.first, start, cut, owner);
            if (cut == block.end) return;
            start = cut;
            page = next;
        }
    }

    void emit_piece(std::vector<Block>& out, std::vector<std::size_t>& by_source, PageQuery& sources,
                    std::size_t region, std::size_t begin, std::size_t end, int node) {
        const auto src = reinterpret_cast<std::uintptr_t>(plan_.regions[region].src);
        emit(out, by_source, Block{region, region, begin, end, node},
             node, node >= 0 ? kNone : sources.add(page_of(src + begin * ses_)));
    }

    static void emit(std::vector<Block>& out, std::vector<std::size_t>& by_source, Block block, int node,
                     std::size_t source) {
        block.node = node;
        out.push_back(block);
        by_source.push_back(source);
    }

    std::uintptr_t page_of(std::uintptr_t addr) const noexcept { return addr & ~(page_ - 1); }
    int next_in_turn() noexcept { return static_cast<int>(turn_++ % node_count_); }

    const Plan& plan_;
    const Topology& topology_;
    std::size_t node_count_;
    std::uintptr_t page_ = 4096;
    std::size_t des_;
    std::size_t ses_;
    std::size_t turn_ = 0;
};

void place_auto(Plan& plan, const Topology& topology) {
    std::vector<Block> placed;
    placed.reserve(plan.blocks.size() + plan.blocks.size() / 8 + 1);
    // new_start[i]: where old block i begins in `placed`, to move the tile edges.
    std::vector<std::size_t> new_start(plan.blocks.size() + 1);
    AutoPlacer(plan, topology).place(placed, new_start);
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
