#include "run_layout.hpp"

#include <algorithm>

namespace tilecopy::detail {

std::vector<PairDim> merge_dims(std::vector<PairDim> dims, bool drop_repeats) {
    dims.erase(std::remove_if(dims.begin(), dims.end(),
                              [&](const PairDim& d) { return d.size == 1 || (drop_repeats && d.dst_stride == 0); }),
               dims.end());
    // Ties only arise between dimensions that overlap in the destination (or repeat it).
    std::stable_sort(dims.begin(), dims.end(), [](const PairDim& a, const PairDim& b) {
        return a.dst_stride != b.dst_stride ? a.dst_stride < b.dst_stride : a.src_stride < b.src_stride;
    });
    std::vector<PairDim> merged;
    merged.reserve(dims.size());
    for (const PairDim& d : dims) {
        if (!merged.empty() && d.dst_stride == merged.back().size * merged.back().dst_stride &&
            d.src_stride == merged.back().size * merged.back().src_stride)
            merged.back().size *= d.size;
        else
            merged.push_back(d);
    }
    return merged;
}

Odometer::Odometer(const std::vector<PairDim>& dims, std::size_t first) noexcept : dims_(dims) {
    std::size_t rest = first;
    for (std::size_t d = 0; d < dims_.size(); ++d) {
        const PairDim& dim = dims_[d];
        index_[d] = static_cast<std::int64_t>(rest % static_cast<std::size_t>(dim.size));
        rest /= static_cast<std::size_t>(dim.size);
        dst += index_[d] * dim.dst_stride;
        src += index_[d] * dim.src_stride;
    }
}

void Odometer::advance() noexcept {
    for (std::size_t d = 0; d < dims_.size(); ++d) {
        const PairDim& dim = dims_[d];
        dst += dim.dst_stride;
        src += dim.src_stride;
        if (++index_[d] < dim.size) return;
        dst -= dim.size * dim.dst_stride;
        src -= dim.size * dim.src_stride;
        index_[d] = 0;
    }
}

bool make_run_layout(std::vector<PairDim> dims, std::size_t dst_element_size, std::size_t src_element_size,
                     RunLayout& layout, std::size_t min_run_bytes) {
    for (const PairDim& d : dims)
        if (d.size <= 0) return false;
    std::vector<PairDim> merged = merge_dims(std::move(dims), false);
    if (merged.empty()) merged.push_back(PairDim{1, 1, 1});

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
    Odometer at(layout.outer, first_run);
    for (std::size_t r = 0; r < count; ++r) {
        out[r] = Region{dst + at.dst * static_cast<std::int64_t>(dst_element_size),
                        src + at.src * static_cast<std::int64_t>(src_element_size), region_count};
        at.advance();
    }
}

} // namespace tilecopy::detail
