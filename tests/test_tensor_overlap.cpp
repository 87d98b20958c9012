// The torch adapter's check of whether a batch's tensors share memory (lib/torch/
// tensor_overlap.hpp): pure arithmetic on addresses, sizes and strides, tested without libtorch
// against a brute-force comparison of the tensors' byte sets.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "torch/tensor_overlap.hpp"

using namespace tilecopy::detail;

namespace {

// A tensor of `element_size`-byte elements at byte `offset` of a fake address space.
StridedMemory tensor(std::uintptr_t offset, std::size_t element_size, std::vector<std::pair<std::int64_t, std::int64_t>> dims) {
    StridedMemory t;
    t.data = 4096 + offset;
    t.element_size = element_size;
    for (const auto& [size, stride] : dims) t.dims.push_back(PairDim{size, stride, 0});
    return t;
}

Span extent(const StridedMemory& t, std::size_t pair, bool written) {
    std::int64_t last = 0;
    for (const PairDim& d : t.dims) {
        if (d.size == 0) return Span{0, 0, pair, written};
        last += (d.size - 1) * d.dst_stride;
    }
    return Span{t.data, t.data + static_cast<std::uintptr_t>(last + 1) * t.element_size, pair, written};
}

std::set<std::uintptr_t> bytes_of(const StridedMemory& t) {
    std::set<std::uintptr_t> bytes;
    std::vector<std::int64_t> index(t.dims.size(), 0);
    for (const PairDim& d : t.dims)
        if (d.size == 0) return bytes;
    while (true) {
        std::int64_t offset = 0;
        for (std::size_t i = 0; i < t.dims.size(); ++i) offset += index[i] * t.dims[i].dst_stride;
        for (std::size_t b = 0; b < t.element_size; ++b) bytes.insert(t.data + static_cast<std::uintptr_t>(offset) * t.element_size + b);
        std::size_t d = 0;
        while (d < t.dims.size() && ++index[d] == t.dims[d].size) index[d++] = 0;
        if (d == t.dims.size()) return bytes;
    }
}

} // namespace

TEST_CASE("column views of one matrix are set apart by their stride, without listing a run") {
    // 100 columns of a 10000 x 1024 float matrix, each written by its own pair: one run per
    // element, so a run-by-run comparison would need a million spans.
    std::vector<StridedMemory> tensors;
    std::vector<Span> extents;
    for (std::size_t j = 0; j < 100; ++j) {
        tensors.push_back(tensor(4 * j, 4, {{10000, 1024}}));
        extents.push_back(extent(tensors.back(), j, true));
    }
    SpanConflict conflict;
    CHECK(find_sharing(tensors, extents, 10, conflict) == Sharing::None);
    // Column 7 once more, as a source of another pair: shared, found among the runs.
    tensors.push_back(tensor(4 * 7, 4, {{100, 1024}}));
    extents.push_back(extent(tensors.back(), 100, false));
    CHECK(find_sharing(tensors, extents, std::size_t(1) << 21, conflict) == Sharing::Shared);
    CHECK(((conflict.first.owner == 7 && conflict.second.owner == 100) ||
           (conflict.first.owner == 100 && conflict.second.owner == 7)));
    CHECK(find_sharing(tensors, extents, 10, conflict) == Sharing::TooManyRuns);
}

TEST_CASE("random strided tensors share memory exactly when their byte sets say so") {
    std::mt19937 rng(17);
    int shared_batches = 0, independent_batches = 0;
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int round = 0; round < 3000; ++round) {
        const std::size_t element_size = std::size_t(1) << pick(0, 2);
        std::vector<StridedMemory> tensors;
        std::vector<Span> extents;
        const int pairs = pick(2, 4);
        for (int p = 0; p < pairs; ++p)
            for (bool written : {true, false}) {
                if (!written && pick(0, 1)) continue;
                std::vector<std::pair<std::int64_t, std::int64_t>> dims;
                for (int d = pick(0, 3); d > 0; --d) dims.emplace_back(pick(0, 5), pick(0, 1) ? pick(0, 12) : std::int64_t(1) << pick(0, 5));
                // Offsets of whole elements, now and then of half ones.
                const auto offset = static_cast<std::uintptr_t>(pick(0, 40)) * element_size / (pick(0, 3) ? 1 : 2);
                tensors.push_back(tensor(offset, element_size, dims));
                extents.push_back(extent(tensors.back(), static_cast<std::size_t>(p), written));
            }
        bool shared = false;
        for (std::size_t a = 0; a < tensors.size() && !shared; ++a)
            for (std::size_t b = a + 1; b < tensors.size() && !shared; ++b) {
                if (extents[a].owner == extents[b].owner || !(extents[a].written || extents[b].written)) continue;
                const auto sa = bytes_of(tensors[a]), sb = bytes_of(tensors[b]);
                for (std::uintptr_t x : sa) shared = shared || sb.count(x);
            }
        SpanConflict conflict;
        const Sharing found = find_sharing(tensors, extents, std::size_t(1) << 21, conflict);
        CAPTURE(round);
        CHECK(found == (shared ? Sharing::Shared : Sharing::None));
        ++(shared ? shared_batches : independent_batches);
    }
    CHECK(shared_batches > 300); // both outcomes are well represented
    CHECK(independent_batches > 300);
}
