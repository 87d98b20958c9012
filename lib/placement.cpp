// Block placement: which node's arena runs each block. Pure given the Topology, which is
// the only thing here that asks the system anything. Auto asks for page locations in bulk and
// by sample: a few page_nodes() calls per copy (one system call each) for about a hundred pages,
// whatever its size.
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

// Pages asked first along one run of consecutive blocks: at most kSamplesPerRun + 1, and none
// closer than kSampleSpacing bytes. Deciding should cost <= 2% of the copy, and move_pages(2)
// costs the kernel ~1 us per page when the page tables are cold (after a large copy; ~0.1 us
// warm), measured on this project's VM: 33 pages for 64 MiB are ~35 us, 2% of a 64 MiB copy
// at 38 GB/s; 65 pages for 1 GiB, ~150 us, 0.5% of it.
constexpr std::size_t kSamplesPerRun = 64;
constexpr std::size_t kSampleSpacing = std::size_t(2) << 20;

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
constexpr int kUnasked = -2;

// Asks for the owners of `indices` of `pages` in one call.
void ask_some(const Topology& topology, const std::vector<std::uintptr_t>& pages, const std::vector<std::size_t>& indices,
              std::vector<int>& owners) {
    if (indices.empty()) return;
    std::vector<const void*> addresses(indices.size());
    std::vector<int> answers(indices.size(), -1);
    for (std::size_t i = 0; i < indices.size(); ++i) addresses[i] = reinterpret_cast<const void*>(pages[indices[i]]);
    topology.page_nodes(addresses.data(), addresses.size(), answers.data());
    for (std::size_t i = 0; i < indices.size(); ++i) owners[indices[i]] = answers[i];
}

// Pages to locate, every one asked, all in one call.
class PageQuery {
public:
    std::size_t add(std::uintptr_t page) {
        pages_.push_back(page);
        return pages_.size() - 1;
    }
    void ask(const Topology& topology) {
        owners_.assign(pages_.size(), -1);
        std::vector<std::size_t> all(pages_.size());
        for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
        ask_some(topology, pages_, all, owners_);
    }
    int owner(std::size_t i) const noexcept { return i == kNone ? -1 : owners_[i]; }

private:
    std::vector<std::uintptr_t> pages_;
    std::vector<int> owners_;
};

// Pages along runs (one run: a page per block of consecutive blocks of one region, in address
// order), located by sample in two calls: first every k-th page of each run and its last; then
// the pages between two samples whose owners differ. The pages between two samples of the same
// owner are taken to have it too: an owner change that comes back within k blocks goes
// unseen, as one within a block always did.
class SampledQuery {
public:
    // `min_stride`: pages per sample at least (kSampleSpacing in blocks).
    explicit SampledQuery(std::size_t min_stride) noexcept : min_stride_(std::max<std::size_t>(1, min_stride)) {}

    void new_run() { run_starts_.push_back(pages_.size()); }
    std::size_t add(std::uintptr_t page) {
        if (run_starts_.empty()) new_run();
        pages_.push_back(page);
        return pages_.size() - 1;
    }
    void ask(const Topology& topology) {
        owners_.assign(pages_.size(), kUnasked);
        run_starts_.push_back(pages_.size());
        std::vector<std::size_t> samples;
        for (std::size_t r = 0; r + 1 < run_starts_.size(); ++r) {
            const std::size_t begin = run_starts_[r], end = run_starts_[r + 1];
            if (begin == end) continue;
            const std::size_t stride = std::max(min_stride_, (end - begin + kSamplesPerRun - 1) / kSamplesPerRun);
            for (std::size_t i = begin; i < end - 1; i += stride) samples.push_back(i);
            samples.push_back(end - 1);
        }
        ask_some(topology, pages_, samples, owners_);
        std::vector<std::size_t> between;
        for (std::size_t j = 0; j + 1 < samples.size(); ++j) {
            const std::size_t a = samples[j], c = samples[j + 1];
            if (c > a + 1 && owners_[a] != owners_[c])
                for (std::size_t i = a + 1; i < c; ++i) between.push_back(i);
        }
        ask_some(topology, pages_, between, owners_);
        // What is still unasked lies between two samples of one owner (runs end on a sample).
        for (std::size_t i = 1; i < owners_.size(); ++i)
            if (owners_[i] == kUnasked) owners_[i] = owners_[i - 1];
    }
    int owner(std::size_t i) const noexcept { return i == kNone ? -1 : owners_[i]; }

private:
    std::size_t min_stride_;
    std::vector<std::uintptr_t> pages_;
    std::vector<std::size_t> run_starts_;
    std::vector<int> owners_;
};

class AutoPlacer {
public:
    AutoPlacer(Plan& plan, const Topology& topology) noexcept
        : plan_(plan), topology_(topology), node_count_(topology.nodes().size()),
          des_(dst_element_size(plan.conversion)), ses_(src_element_size(plan.conversion)) {
        const std::size_t page = topology.page_bytes();
        page_ = page && (page & (page - 1)) == 0 ? page : 4096;
        const std::size_t blocks = std::max<std::size_t>(1, plan.blocks.size());
        const std::size_t bytes_per_block = std::max<std::size_t>(1, plan.total_dst_bytes / blocks);
        min_stride_ = kSampleSpacing / bytes_per_block;
    }

    // Rounds: (1) the first destination page of every block, and the page after it (the
    // next block's first, else its own last page), sampled; (2) the last page of the blocks
    // whose two answers differ, where it was not asked yet; (3) every page of the blocks whose
    // first and last pages differ in owner, to cut them where the owner changes; (4) the
    // source page of each piece whose destination has no known owner, sampled. Without a cut
    // the plan's blocks are placed where they are; per block, two indices are all it keeps.
    void place() {
        std::vector<Block>& blocks = plan_.blocks;
        const std::size_t n = blocks.size();
        first_.assign(n, kNone);
        end_proxy_.assign(n, kNone);
        SampledQuery round1(min_stride_);
        for (std::size_t i = 0; i < n; ++i) probe_first(i, round1);
        for (std::size_t i = 0; i + 1 < n; ++i)
            if (end_proxy_[i] == kNone && single(i) && first_page(i) != last_page(i)) end_proxy_[i] = first_[i + 1];
        round1.ask(topology_);

        // Blocks whose first page and the page after differ; the last page where not asked.
        PageQuery round2;
        std::vector<std::pair<std::size_t, std::size_t>> suspects; // block, its last page in round 2
        for (std::size_t i = 0; i < n; ++i) {
            if (end_proxy_[i] == kNone || round1.owner(first_[i]) == round1.owner(end_proxy_[i])) continue;
            const bool proxy_is_last = i + 1 == n || end_proxy_[i] != first_[i + 1] || first_page(i + 1) == last_page(i);
            suspects.emplace_back(i, proxy_is_last ? kNone : round2.add(last_page(i)));
        }
        round2.ask(topology_);

        PageQuery round3;
        for (const auto& [i, last] : suspects) {
            const int last_owner = last != kNone ? round2.owner(last) : round1.owner(end_proxy_[i]);
            if (last_owner == round1.owner(first_[i])) continue;
            cut_.emplace_back(i, round3.add(first_page(i)));
            for (std::uintptr_t page = first_page(i) + page_; page <= last_page(i); page += page_) round3.add(page);
        }
        round3.ask(topology_);

        // Pieces with their destination's owner; those without one get their source's.
        SampledQuery round4(min_stride_);
        std::vector<Block> placed;
        std::vector<std::size_t> new_start; // where old block i begins in `placed`
        if (!cut_.empty()) {
            placed.reserve(n + cut_.size() * kMaxPiecesPerBlock);
            new_start.resize(n + 1);
        }
        std::vector<Block>& out = cut_.empty() ? blocks : placed;
        std::size_t next_cut = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (!new_start.empty()) new_start[i] = placed.size();
            if (next_cut < cut_.size() && cut_[next_cut].first == i) {
                cut_at_owner_changes(i, cut_[next_cut++].second, round3, round4, placed);
                continue;
            }
            const int node = first_[i] == kNone ? -1 : round1.owner(first_[i]);
            Block block = blocks[i];
            if (node < 0 && first_[i] != kNone) {
                const bool packed = block.first != block.last;
                std::uintptr_t src = 0;
                for_each_piece(plan_, block, [&](char*, const char* s, std::size_t) {
                    if (!src) src = reinterpret_cast<std::uintptr_t>(s);
                });
                if (packed || block.first != source_region_ || block.begin != source_end_) round4.new_run();
                source_region_ = packed ? kNone : block.first;
                source_end_ = block.end;
                by_source_.emplace_back(cut_.empty() ? i : placed.size(), round4.add(page_of(src)));
            }
            block.node = node;
            if (cut_.empty())
                blocks[i].node = node;
            else
                placed.push_back(block);
        }
        round4.ask(topology_);

        std::size_t next_source = 0;
        for (std::size_t j = 0; j < out.size(); ++j) {
            if (out[j].node >= 0) continue;
            int by_src = -1;
            if (next_source < by_source_.size() && by_source_[next_source].first == j)
                by_src = round4.owner(by_source_[next_source++].second);
            out[j].node = by_src >= 0 ? by_src : next_in_turn();
        }
        if (cut_.empty()) return;
        new_start[n] = placed.size();
        for (Tile& tile : plan_.tiles) {
            tile.first_block = new_start[std::min(tile.first_block, n)];
            tile.end_block = new_start[std::min(tile.end_block, n)];
        }
        blocks.swap(placed);
    }

private:
    bool single(std::size_t i) const noexcept {
        const Block& b = plan_.blocks[i];
        return b.first == b.last && b.begin < b.end;
    }
    std::uintptr_t dst_of(std::size_t region) const noexcept {
        return reinterpret_cast<std::uintptr_t>(plan_.regions[region].dst);
    }
    std::uintptr_t first_page(std::size_t i) const noexcept {
        const Block& b = plan_.blocks[i];
        return page_of(dst_of(b.first) + b.begin * des_);
    }
    std::uintptr_t last_page(std::size_t i) const noexcept {
        const Block& b = plan_.blocks[i];
        return page_of(dst_of(b.first) + b.end * des_ - 1);
    }
    // Whether single-region block i + 1 begins where single-region block i ends.
    bool next_follows(std::size_t i) const noexcept {
        if (i + 1 >= plan_.blocks.size() || !single(i) || !single(i + 1)) return false;
        const Block& a = plan_.blocks[i];
        const Block& b = plan_.blocks[i + 1];
        return a.first == b.first && a.end == b.begin;
    }

    void probe_first(std::size_t i, SampledQuery& query) {
        const Block& block = plan_.blocks[i];
        if (block.first == block.last) {
            if (block.begin >= block.end) return; // nothing to copy: placed in turn
            if (i == 0 || !next_follows(i - 1)) query.new_run();
            first_[i] = query.add(first_page(i));
            if (first_page(i) != last_page(i) && !next_follows(i)) end_proxy_[i] = query.add(last_page(i));
            return;
        }
        // A block packing several small regions is placed by its first piece: checking every
        // region's pages would cost a page per region for blocks that are small anyway.
        for_each_piece(plan_, block, [&](char* d, const char*, std::size_t) {
            if (first_[i] != kNone) return;
            query.new_run();
            first_[i] = query.add(page_of(reinterpret_cast<std::uintptr_t>(d)));
        });
    }

    // Splits block i at the page boundaries where its destination's owner changes; `pages`:
    // the answer index of its first page in round 3, the others following.
    void cut_at_owner_changes(std::size_t i, std::size_t pages, const PageQuery& owners, SampledQuery& sources,
                              std::vector<Block>& placed) {
        const Block& block = plan_.blocks[i];
        const std::uintptr_t dst = dst_of(block.first);
        const std::size_t page_count = (last_page(i) - first_page(i)) / page_ + 1;
        std::size_t start = block.begin;
        std::size_t page = 0; // index of start's page among the block's pages
        for (std::size_t pieces = 1;; ++pieces) {
            const int owner = owners.owner(pages + page);
            std::size_t cut = block.end, next = page_count;
            if (pieces < kMaxPiecesPerBlock) {
                for (std::size_t q = page + 1; q < page_count; ++q) {
                    if (owners.owner(pages + q) == owner) continue;
                    // Round up to an element edge; page boundaries are 64-byte aligned, so for
                    // an element-aligned destination this is the boundary itself.
                    const std::size_t at = (first_page(i) + q * page_ - dst + des_ - 1) / des_;
                    if (at > start && at < block.end) cut = at, next = q;
                    break;
                }
            }
            if (owner < 0) {
                if (block.first != source_region_ || start != source_end_) sources.new_run();
                source_region_ = block.first;
                source_end_ = cut;
                const auto src = reinterpret_cast<std::uintptr_t>(plan_.regions[block.first].src);
                by_source_.emplace_back(placed.size(), sources.add(page_of(src + start * ses_)));
            }
            placed.push_back(Block{block.first, block.first, start, cut, owner});
            if (cut == block.end) return;
            start = cut;
            page = next;
        }
    }

    std::uintptr_t page_of(std::uintptr_t addr) const noexcept { return addr & ~(page_ - 1); }
    int next_in_turn() noexcept { return static_cast<int>(turn_++ % node_count_); }

    Plan& plan_;
    const Topology& topology_;
    std::size_t node_count_;
    std::uintptr_t page_ = 4096;
    std::size_t des_;
    std::size_t ses_;
    std::size_t min_stride_ = 1;
    std::size_t turn_ = 0;
    std::vector<std::size_t> first_;     // per block: its first page's answer in round 1
    std::vector<std::size_t> end_proxy_; // per block: the page after it (or its last) in round 1
    std::vector<std::pair<std::size_t, std::size_t>> cut_;       // blocks cut, their pages in round 3
    std::vector<std::pair<std::size_t, std::size_t>> by_source_; // output block, its source in round 4
    std::size_t source_region_ = kNone; // the last piece asked by its source, to chain runs
    std::size_t source_end_ = kNone;
};

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
    AutoPlacer(plan, topology).place();
}

} // namespace tilecopy::detail
