#include "tensor_plan.hpp"

#include <algorithm>
#include <array>

namespace tilecopy::detail {

bool make_run_layout(std::vector<PairDim> dims, std::size_t dst_element_size, std::size_t src_element_size,
                     RunLayout& layout, std::size_t min_run_bytes) {
    for (const PairDim& d : dims)
        if (d.size <= 0) return false;
    dims.erase(std::remove_if(dims.begin(), dims.end(), [](const PairDim& d) { return d.size == 1; }), dims.end());
    if (dims.empty()) dims.push_back(PairDim{1, 1, 1});

    // Innermost first. Ties only arise between dimensions that overlap in the destination,
    // which the check below rejects whatever their order.
    std::stable_sort(dims.begin(), dims.end(), [](const PairDim& a, const PairDim& b) {
        return a.dst_stride != b.dst_stride ? a.dst_stride < b.dst_stride : a.src_stride < b.src_stride;
    });

    std::vector<PairDim> merged;
    merged.reserve(dims.size());
    merged.push_back(dims.front());
    for (std::size_t i = 1; i < dims.size(); ++i) {
        PairDim& inner = merged.back();
        const PairDim& d = dims[i];
        if (d.dst_stride == inner.size * inner.dst_stride && d.src_stride == inner.size * inner.src_stride)
            inner.size *= d.size;
        else
            merged.push_back(d);
    }

    if (merged.size() > kMaxDims) return false;
    const PairDim& run = merged.front();
    if (run.dst_stride != 1 || run.src_stride != 1) return false;

    // Each dimension must step past everything the inner ones reach, or two destination
    // elements could share an address (torch accepts such "too hard to tell" outputs and writes
    // them in its own order; only copy_ can reproduce that).
    std::int64_t reach = run.size; // elements spanned by the dimensions seen so far
    for (std::size_t i = 1; i < merged.size(); ++i) {
        if (merged[i].dst_stride < reach) return false;
        reach += (merged[i].size - 1) * merged[i].dst_stride;
    }

    const std::size_t narrow = std::min(dst_element_size, src_element_size);
    // A single run is one Region however short, so the floor applies only to several runs.
    if (merged.size() > 1 && static_cast<std::size_t>(run.size) * narrow < min_run_bytes) return false;

    layout.run_elements = static_cast<std::size_t>(run.size);
    layout.outer.assign(merged.begin() + 1, merged.end());
    layout.run_count = 1;
    for (const PairDim& d : layout.outer) layout.run_count *= static_cast<std::size_t>(d.size);
    return true;
}

void emit_regions(const RunLayout& layout, char* dst, const char* src, std::size_t dst_element_size,
                  std::size_t src_element_size, Conversion conversion, std::size_t first_run, std::size_t count,
                  Region* out) noexcept {
    const std::size_t region_count =
        conversion == Conversion::None ? layout.run_elements * dst_element_size : layout.run_elements;
    const std::size_t dims = layout.outer.size();

    // Odometer over the outer dimensions, started at first_run.
    std::array<std::int64_t, kMaxDims> index{};
    std::int64_t dst_offset = 0;
    std::int64_t src_offset = 0;
    std::size_t rest = first_run;
    for (std::size_t d = 0; d < dims; ++d) {
        const PairDim& dim = layout.outer[d];
        index[d] = static_cast<std::int64_t>(rest % static_cast<std::size_t>(dim.size));
        rest /= static_cast<std::size_t>(dim.size);
        dst_offset += index[d] * dim.dst_stride;
        src_offset += index[d] * dim.src_stride;
    }

    for (std::size_t r = 0; r < count; ++r) {
        out[r] = Region{dst + dst_offset * static_cast<std::int64_t>(dst_element_size),
                        src + src_offset * static_cast<std::int64_t>(src_element_size), region_count};
        for (std::size_t d = 0; d < dims; ++d) {
            const PairDim& dim = layout.outer[d];
            dst_offset += dim.dst_stride;
            src_offset += dim.src_stride;
            if (++index[d] < dim.size) break;
            dst_offset -= dim.size * dim.dst_stride;
            src_offset -= dim.size * dim.src_stride;
            index[d] = 0;
        }
    }
}

} // namespace tilecopy::detail

namespace tilecopy::detail {

namespace {

// The spans of one kind seen so far that reach furthest: the furthest of all, and the furthest
// of any other pair than that one's, which is all a sweep needs to find an overlap with a pair
// other than the current span's.
struct Reach {
    std::uintptr_t end = 0, other_end = 0;
    std::size_t pair = 0, other_pair = 0;

    // A pair other than `pair` whose span ends past `begin`, if any.
    bool overlaps(std::uintptr_t begin, std::size_t pair_of_span, std::size_t& with) const noexcept {
        if (pair != pair_of_span && end > begin) {
            with = pair;
            return true;
        }
        if (pair == pair_of_span && other_end > begin) {
            with = other_pair;
            return true;
        }
        return false;
    }

    void add(const Span& s) noexcept {
        if (s.pair == pair) {
            end = std::max(end, s.end);
        } else if (s.end > end) {
            other_end = end;
            other_pair = pair;
            end = s.end;
            pair = s.pair;
        } else if (s.end > other_end) {
            other_end = s.end;
            other_pair = s.pair;
        }
    }
};

} // namespace

bool find_conflict(std::vector<Span>& spans, SpanConflict& conflict) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    Reach written, read;
    for (const Span& s : spans) {
        if (s.end <= s.begin) continue;
        std::size_t with = 0;
        if (written.overlaps(s.begin, s.pair, with)) {
            conflict = SpanConflict{with, true, s.pair, s.written};
            return true;
        }
        if (s.written && read.overlaps(s.begin, s.pair, with)) {
            conflict = SpanConflict{with, false, s.pair, true};
            return true;
        }
        (s.written ? written : read).add(s);
    }
    return false;
}

} // namespace tilecopy::detail

namespace tilecopy::detail {

bool append_element_spans(const StridedMemory& t, std::size_t pair, bool written, std::size_t limit,
                          std::vector<Span>& out) {
    std::vector<PairDim> dims;
    for (const PairDim& d : t.dims) {
        if (d.size == 0) return true; // no elements
        if (d.size > 1 && d.dst_stride != 0) dims.push_back(d);
    }
    std::stable_sort(dims.begin(), dims.end(), [](const PairDim& a, const PairDim& b) { return a.dst_stride < b.dst_stride; });
    std::vector<PairDim> merged;
    for (const PairDim& d : dims) {
        if (!merged.empty() && d.dst_stride == merged.back().size * merged.back().dst_stride)
            merged.back().size *= d.size;
        else
            merged.push_back(d);
    }
    std::int64_t run = 1; // elements
    std::size_t first_outer = 0;
    if (!merged.empty() && merged.front().dst_stride == 1) {
        run = merged.front().size;
        first_outer = 1;
    }
    std::size_t runs = 1;
    for (std::size_t i = first_outer; i < merged.size(); ++i) {
        const auto size = static_cast<std::size_t>(merged[i].size);
        if (runs > limit / size) return false;
        runs *= size;
    }
    if (runs > limit || out.size() > limit - runs) return false;

    const std::size_t dim_count = merged.size() - first_outer;
    std::vector<std::int64_t> index(dim_count, 0);
    const std::uintptr_t run_bytes = static_cast<std::uintptr_t>(run) * t.element_size;
    std::int64_t offset = 0; // elements
    for (std::size_t r = 0; r < runs; ++r) {
        const std::uintptr_t begin = t.data + static_cast<std::uintptr_t>(offset) * t.element_size;
        out.push_back(Span{begin, begin + run_bytes, pair, written});
        for (std::size_t d = 0; d < dim_count; ++d) {
            const PairDim& dim = merged[first_outer + d];
            offset += dim.dst_stride;
            if (++index[d] < dim.size) break;
            offset -= dim.size * dim.dst_stride;
            index[d] = 0;
        }
    }
    return true;
}

void mark_meeting(const std::vector<Span>& spans, std::vector<bool>& involved) {
    involved.assign(spans.size(), false);
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < spans.size(); ++i)
        if (spans[i].end > spans[i].begin) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return spans[a].begin < spans[b].begin; });
    // Chains of meeting extents: each chain is marked when it holds spans of two pairs.
    std::size_t first = 0;
    while (first < order.size()) {
        std::size_t last = first + 1;
        std::uintptr_t end = spans[order[first]].end;
        bool several_pairs = false;
        while (last < order.size() && spans[order[last]].begin < end) {
            end = std::max(end, spans[order[last]].end);
            several_pairs = several_pairs || spans[order[last]].pair != spans[order[first]].pair;
            ++last;
        }
        if (several_pairs)
            for (std::size_t k = first; k < last; ++k) involved[order[k]] = true;
        first = last;
    }
}

} // namespace tilecopy::detail
