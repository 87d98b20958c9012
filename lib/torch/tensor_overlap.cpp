#include "tensor_overlap.hpp"

#include <algorithm>
#include <numeric>

namespace tilecopy::detail {

namespace {

// `t`'s dimensions merged, repeats (stride 0) and size-1 dimensions dropped; false when it has
// no elements.
bool merged_dims(const StridedMemory& t, std::vector<PairDim>& merged) {
    std::vector<PairDim> dims;
    for (const PairDim& d : t.dims) {
        if (d.size == 0) return false;
        dims.push_back(PairDim{d.size, d.dst_stride, d.dst_stride});
    }
    merged = merge_dims(std::move(dims), true);
    return true;
}

// Bytes of the run of consecutive elements each position of the outer dimensions starts, and
// the index of the first outer dimension in `merged`.
std::size_t inner_run(const std::vector<PairDim>& merged, std::size_t element_size, std::size_t& first_outer) {
    first_outer = !merged.empty() && merged.front().dst_stride == 1 ? 1 : 0;
    return (first_outer ? static_cast<std::size_t>(merged.front().size) : 1) * element_size;
}

// Where a tensor's bytes lie modulo a period: [offset, offset + width) (mod period) holds them
// all when every outer stride is a multiple of `period` (bytes; 0 when there is no outer one).
struct Residues {
    std::uintptr_t data = 0;
    std::size_t width = 0;
    std::uintptr_t period = 0;
};

Residues residues_of(const StridedMemory& t) {
    Residues r;
    r.data = t.data;
    std::vector<PairDim> merged;
    if (!merged_dims(t, merged)) return r; // no elements: width 0
    std::size_t first_outer = 0;
    r.width = inner_run(merged, t.element_size, first_outer);
    for (std::size_t i = first_outer; i < merged.size(); ++i)
        r.period = std::gcd(r.period, static_cast<std::uintptr_t>(merged[i].dst_stride) * t.element_size);
    return r;
}

// Whether the tensors `members` (indices into `tensors`) are shown apart by their offsets
// modulo the greatest common period of all their strides.
bool apart_modulo_period(const std::vector<StridedMemory>& tensors, const std::vector<Span>& extents,
                         const std::vector<std::size_t>& members) {
    std::vector<Residues> residues;
    std::uintptr_t period = 0;
    for (std::size_t m : members) {
        residues.push_back(residues_of(tensors[m]));
        period = std::gcd(period, residues.back().period);
    }
    if (period == 0) return false;
    std::vector<Span> spans;
    for (std::size_t k = 0; k < members.size(); ++k) {
        const Residues& r = residues[k];
        if (r.width == 0) continue;
        if (r.width >= period) return false;
        const std::uintptr_t begin = r.data % period;
        const std::uintptr_t end = begin + r.width;
        const Span& e = extents[members[k]];
        spans.push_back(Span{begin, std::min(end, period), e.owner, e.written});
        if (end > period) spans.push_back(Span{0, end - period, e.owner, e.written});
    }
    SpanConflict conflict;
    return !find_conflict(spans, conflict);
}

} // namespace

bool append_element_spans(const StridedMemory& t, std::size_t owner, bool written, std::size_t limit,
                          std::vector<Span>& out) {
    std::vector<PairDim> merged;
    if (!merged_dims(t, merged)) return true; // no elements
    std::size_t first_outer = 0;
    const std::uintptr_t run_bytes = inner_run(merged, t.element_size, first_outer);
    const std::vector<PairDim> outer(merged.begin() + static_cast<std::ptrdiff_t>(first_outer), merged.end());
    if (outer.size() > kMaxDims) return false;
    std::size_t runs = 1;
    for (const PairDim& d : outer) {
        const auto size = static_cast<std::size_t>(d.size);
        if (runs > limit / size) return false;
        runs *= size;
    }
    if (runs > limit || out.size() > limit - runs) return false;

    Odometer at(outer, 0);
    for (std::size_t r = 0; r < runs; ++r) {
        const std::uintptr_t begin = t.data + static_cast<std::uintptr_t>(at.dst) * t.element_size;
        out.push_back(Span{begin, begin + run_bytes, owner, written});
        at.advance();
    }
    return true;
}

Sharing find_sharing(const std::vector<StridedMemory>& tensors, const std::vector<Span>& extents, std::size_t max_runs,
                     SpanConflict& conflict) {
    std::vector<Span> sorted = extents;
    if (!find_conflict(sorted, conflict)) return Sharing::None;
    const SpanConflict coarse = conflict;

    std::vector<std::size_t> group;
    std::vector<std::vector<std::size_t>> members(group_meeting(extents, group));
    for (std::size_t i = 0; i < extents.size(); ++i)
        if (group[i] != kAlone) members[group[i]].push_back(i);
    std::vector<Span> runs;
    for (const std::vector<std::size_t>& g : members) {
        const bool writes = std::any_of(g.begin(), g.end(), [&](std::size_t i) { return extents[i].written; });
        if (!writes || apart_modulo_period(tensors, extents, g)) continue;
        for (std::size_t i : g)
            if (!append_element_spans(tensors[i], extents[i].owner, extents[i].written, max_runs, runs)) {
                conflict = coarse;
                return Sharing::TooManyRuns;
            }
    }
    return find_conflict(runs, conflict) ? Sharing::Shared : Sharing::None;
}

} // namespace tilecopy::detail
