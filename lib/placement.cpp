// Block placement: which node's arena runs each block. Pure given the Topology, which is
// the only thing here that asks the system anything. Auto asks for page locations in bulk and
// by sample: at most seven page_nodes() calls per copy (one system call each), for about a
// hundred pages where owners do not change, whatever its size.
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
// closer than kSampleSpacing bytes. Deciding should cost <= 2% of the copy; move_pages(2)
// costs the kernel ~1-2 us per page when the page tables are cold (after a large copy; ~0.1 us
// warm), measured on this project's VM: 17 pages for 64 MiB took ~40 us, 2% of a 64 MiB copy
// at 33 GB/s; 65 for 1 GiB ~250 us (tools/placement_cost.cpp, README "NUMA"). What placement
// allocates costs too (a fresh page faults in at ~10-25 us on these VMs): it keeps two ints per
// block, and more only for the blocks near an owner change.
constexpr std::size_t kSamplesPerRun = 64;
constexpr std::size_t kSampleSpacing = std::size_t(4) << 20;

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
constexpr int kUnasked = -2;

// A run of points whose pages lie in address order: the first page of each of `count`
// consecutive blocks of one region (for a block packing several regions, a run of its own:
// its first piece's page), then, when `end_point`, the last page of the last block.
struct Run {
    std::size_t first_block = 0;
    std::size_t count = 0;
    bool end_point = false;
    std::size_t base = 0; // index of its first point among all runs' points
    std::size_t points() const noexcept { return count + (end_point ? 1 : 0); }
};

// Asks for the pages of `points` in one call; page_of(point) gives each page.
template <typename PageOf>
void ask_points(const Topology& topology, const std::vector<std::size_t>& points, PageOf&& page_of,
                std::vector<int>& owners) {
    if (points.empty()) return;
    std::vector<const void*> pages(points.size());
    std::vector<int> answers(points.size(), -1);
    for (std::size_t i = 0; i < points.size(); ++i) pages[i] = reinterpret_cast<const void*>(page_of(points[i]));
    topology.page_nodes(pages.data(), pages.size(), answers.data());
    for (std::size_t i = 0; i < points.size(); ++i) owners[points[i]] = answers[i];
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
        ask_points(topology, all, [this](std::size_t i) { return pages_[i]; }, owners_);
    }
    int owner(std::size_t i) const noexcept { return i == kNone ? -1 : owners_[i]; }

private:
    std::vector<std::uintptr_t> pages_;
    std::vector<int> owners_;
};

// Owners of every point of some runs, located by sample in two calls: first every k-th point
// of each run and its last; then the points between two samples whose owners differ. The
// points between two samples of one owner are taken to have it too: an owner change that
// comes back within k blocks goes unseen, as one within a block always did.
template <typename PageOf>
std::vector<int> sampled_owners(const Topology& topology, std::vector<Run>& runs, std::size_t min_stride,
                                PageOf&& page_of) {
    std::size_t total = 0;
    for (Run& run : runs) run.base = total, total += run.points();
    std::vector<int> owners(total, kUnasked);
    std::vector<std::size_t> samples;
    for (const Run& run : runs) {
        const std::size_t n = run.points();
        if (n == 0) continue;
        const std::size_t stride = std::max({std::size_t(1), min_stride, (n + kSamplesPerRun - 1) / kSamplesPerRun});
        for (std::size_t i = 0; i + 1 < n; i += stride) samples.push_back(run.base + i);
        samples.push_back(run.base + n - 1);
    }
    ask_points(topology, samples, page_of, owners);
    std::vector<std::size_t> between;
    for (std::size_t j = 0; j + 1 < samples.size(); ++j) {
        const std::size_t a = samples[j], c = samples[j + 1];
        if (c > a + 1 && owners[a] != owners[c])
            for (std::size_t i = a + 1; i < c; ++i) between.push_back(i);
    }
    ask_points(topology, between, page_of, owners);
    // What is still unasked lies between two samples of one owner (runs end on a sample).
    for (std::size_t i = 1; i < total; ++i)
        if (owners[i] == kUnasked) owners[i] = owners[i - 1];
    return owners;
}

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
    // next block's first, else its own last page), by sample; (2) the last page of the blocks
    // whose two answers differ, where it was not asked yet; (3) every page of the blocks whose
    // first and last pages differ in owner, to cut them where the owner changes; (4) the
    // source page of each block or piece whose destination has no known owner, by sample.
    // Without a cut the plan's blocks are placed where they are.
    void place() {
        locate_first_pages();
        round2_.ask(topology_);
        find_cuts();
        round3_.ask(topology_);
        cut_blocks();
        locate_sources();
        assign_nodes();
    }

private:
    // Round 1: owner_[i] is block i's first page's owner; blocks where the page after differs
    // become suspects, their last pages listed for round 2.
    void locate_first_pages() {
        const std::size_t n = plan_.blocks.size();
        std::vector<Run> runs = destination_runs();
        const std::vector<int> first_owner = sampled_owners(topology_, runs, min_stride_, [this, &runs](std::size_t p) {
            return dst_point_page(runs, p);
        });
        owner_.assign(n, kUnasked);
        for (const Run& run : runs) {
            for (std::size_t k = 0; k < run.count; ++k) {
                const std::size_t i = run.first_block + k;
                owner_[i] = first_owner[run.base + k];
                if (k + 1 == run.points() || first_owner[run.base + k + 1] == owner_[i]) continue;
                // The page after: the next block's first, or this block's last (the end point).
                const bool after_is_last = k + 1 == run.count || first_page(i + 1) == last_page(i);
                suspects_.push_back(i);
                suspect_after_.push_back(first_owner[run.base + k + 1]);
                suspect_last_.push_back(after_is_last ? kNone : round2_.add(last_page(i)));
            }
        }
    }

    // Round 2's answers: the suspects whose last page has another owner get cut, every page
    // of theirs listed for round 3.
    void find_cuts() {
        for (std::size_t j = 0; j < suspects_.size(); ++j) {
            const std::size_t i = suspects_[j];
            const int last_owner = suspect_last_[j] != kNone ? round2_.owner(suspect_last_[j]) : suspect_after_[j];
            if (last_owner == owner_[i]) continue;
            cuts_.emplace_back(i, round3_.add(first_page(i)));
            for (std::uintptr_t page = first_page(i) + page_; page <= last_page(i); page += page_) round3_.add(page);
        }
    }

    // Round 3's answers: cut blocks become pieces; the rest keep their place in the plan.
    void cut_blocks() {
        if (cuts_.empty()) return;
        const std::size_t n = plan_.blocks.size();
        placed_.reserve(n + cuts_.size() * kMaxPiecesPerBlock);
        new_start_.resize(n + 1);
        std::size_t next_cut = 0;
        for (std::size_t i = 0; i < n; ++i) {
            new_start_[i] = placed_.size();
            if (next_cut < cuts_.size() && cuts_[next_cut].first == i) {
                cut_at_owner_changes(i, cuts_[next_cut++].second, round3_, placed_, piece_sources_, piece_source_);
            } else {
                placed_.push_back(plan_.blocks[i]);
                placed_.back().node = owner_[i];
            }
        }
        new_start_[n] = placed_.size();
    }

    // Round 4: uncut blocks without a destination owner, by their sources (by sample), and
    // the pieces without one.
    void locate_sources() {
        const std::size_t n = plan_.blocks.size();
        std::size_t next_cut = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const bool cut = next_cut < cuts_.size() && cuts_[next_cut].first == i;
            next_cut += cut;
            if (cut || owner_[i] != -1) continue;
            const bool packed = plan_.blocks[i].first != plan_.blocks[i].last;
            if (packed || source_runs_.empty() || source_runs_.back().first_block + source_runs_.back().count != i ||
                !next_follows(i - 1))
                source_runs_.push_back(Run{i, 0, false, 0});
            ++source_runs_.back().count;
        }
        source_owner_ = sampled_owners(topology_, source_runs_, min_stride_,
                                       [this](std::size_t p) { return src_point_page(source_runs_, p); });
        piece_sources_.ask(topology_);
    }

    // Every block's node, in block order, so that the blocks placed in turn take turns in order.
    void assign_nodes() {
        std::vector<Block>& blocks = plan_.blocks;
        const std::size_t n = blocks.size();
        std::size_t run = 0, in_run = 0, piece = 0, next_cut = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (next_cut < cuts_.size() && cuts_[next_cut].first == i) {
                ++next_cut;
                for (std::size_t j = new_start_[i]; j < new_start_[i + 1]; ++j) {
                    if (placed_[j].node >= 0) continue;
                    const int by_src = piece_sources_.owner(piece_source_[piece++]);
                    placed_[j].node = by_src >= 0 ? by_src : next_in_turn();
                }
                continue;
            }
            int node = owner_[i];
            if (node == -1) {
                const int by_src = source_owner_[source_runs_[run].base + in_run];
                if (++in_run == source_runs_[run].count) ++run, in_run = 0;
                node = by_src;
            }
            if (node < 0) node = next_in_turn();
            (cuts_.empty() ? blocks[i] : placed_[new_start_[i]]).node = node;
        }
        if (cuts_.empty()) return;
        for (Tile& tile : plan_.tiles) {
            tile.first_block = new_start_[std::min(tile.first_block, n)];
            tile.end_block = new_start_[std::min(tile.end_block, n)];
        }
        blocks.swap(placed_);
    }

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
    // The destination and source of a block's first piece (a packed block's first region
    // that has elements); 0 when it has none.
    std::pair<std::uintptr_t, std::uintptr_t> first_piece(std::size_t i) const {
        std::pair<std::uintptr_t, std::uintptr_t> found{0, 0};
        for_each_piece(plan_, plan_.blocks[i], [&found](char* d, const char* s, std::size_t) {
            if (!found.first) found = {reinterpret_cast<std::uintptr_t>(d), reinterpret_cast<std::uintptr_t>(s)};
        });
        return found;
    }

    // Runs of blocks that follow one another in one region; a packed block is a run of its
    // own (placed by its first piece: checking every region's pages would cost a page per
    // region for blocks that are small anyway); an empty block is in none.
    std::vector<Run> destination_runs() const {
        std::vector<Run> runs;
        for (std::size_t i = 0; i < plan_.blocks.size(); ++i) {
            if (single(i)) {
                if (i == 0 || !next_follows(i - 1)) runs.push_back(Run{i, 0, false, 0});
                ++runs.back().count;
                if (!next_follows(i)) runs.back().end_point = first_page(i) != last_page(i);
            } else if (plan_.blocks[i].first != plan_.blocks[i].last && first_piece(i).first) {
                runs.push_back(Run{i, 1, false, 0});
            }
        }
        return runs;
    }

    // The run holding point p, and p's place in it.
    static std::pair<const Run*, std::size_t> locate(const std::vector<Run>& runs, std::size_t p) noexcept {
        auto it = std::upper_bound(runs.begin(), runs.end(), p, [](std::size_t v, const Run& r) { return v < r.base; });
        const Run& run = *(it - 1);
        return {&run, p - run.base};
    }

    std::uintptr_t dst_point_page(const std::vector<Run>& runs, std::size_t p) const {
        const auto [run, k] = locate(runs, p);
        const std::size_t i = run->first_block + (k < run->count ? k : run->count - 1);
        if (!single(i)) return page_of(first_piece(i).first);
        return k < run->count ? first_page(i) : last_page(i);
    }

    std::uintptr_t src_point_page(const std::vector<Run>& runs, std::size_t p) const {
        const auto [run, k] = locate(runs, p);
        const std::size_t i = run->first_block + k;
        if (!single(i)) return page_of(first_piece(i).second);
        const Block& b = plan_.blocks[i];
        return page_of(reinterpret_cast<std::uintptr_t>(plan_.regions[b.first].src) + b.begin * ses_);
    }

    // Splits block i at the page boundaries where its destination's owner changes; `pages`:
    // the answer index of its first page in round 3, the others following.
    void cut_at_owner_changes(std::size_t i, std::size_t pages, const PageQuery& owners, std::vector<Block>& placed,
                              PageQuery& sources, std::vector<std::size_t>& source_of) {
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
                const auto src = reinterpret_cast<std::uintptr_t>(plan_.regions[block.first].src);
                source_of.push_back(sources.add(page_of(src + start * ses_)));
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

    // What the rounds learn, in the order they learn it.
    std::vector<int> owner_;                 // per block, its first page's owner (-2: an empty block)
    std::vector<std::size_t> suspects_;      // blocks whose first page and the page after differ
    std::vector<int> suspect_after_;         // the owner of that page after
    std::vector<std::size_t> suspect_last_;  // their last page's index in round 2, or kNone
    PageQuery round2_;
    PageQuery round3_;
    std::vector<std::pair<std::size_t, std::size_t>> cuts_; // block, its first page in round 3
    std::vector<Block> placed_;              // the plan's blocks with the cut ones in pieces
    std::vector<std::size_t> new_start_;     // where old block i begins in placed_
    PageQuery piece_sources_;                // pieces without a destination owner
    std::vector<std::size_t> piece_source_;
    std::vector<Run> source_runs_;
    std::vector<int> source_owner_;
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
