// Strided tensor pairs as contiguous runs: pure arithmetic on sizes and strides (in elements),
// no ATen, so the planning can be read and tested without libtorch's headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <tilecopy/request.hpp>

namespace tilecopy::detail {

// One dimension of a destination and of its source broadcast to the destination's shape.
struct PairDim {
    std::int64_t size = 0;
    std::int64_t dst_stride = 0;
    std::int64_t src_stride = 0;
};

// A pair reduced to runs: each run is `run_elements` consecutive elements in both tensors, and
// the `outer` dimensions (innermost first, in destination order) enumerate where runs start.
struct RunLayout {
    std::size_t run_elements = 0;
    std::vector<PairDim> outer;
    std::size_t run_count = 0;
};

// Runs shorter than this (in bytes of the narrower element type) go to torch's copy_, whose
// TensorIterator loop costs nothing per run while every Region costs a plan entry and a kernel
// call. Measured on the 2-core Zen 5 (64 MiB float32, rows of a padded matrix; copy_ vs
// tilecopy): 1 KiB runs 2.9 vs 5.4 ms (3.0 without non-temporal stores), 2 KiB 2.95 vs 3.3,
// 4 KiB 2.95 vs 2.8, 16 KiB 3.1 vs 2.4. Remeasure when the plan or kernels change. The
// engine's strategy holds the value in use (Options::min_run_bytes, $TILECOPY_MIN_RUN_BYTES).
constexpr std::size_t kMinRunBytes = 4096;

// Dimensions a layout may keep after merging (no allocation while emitting regions); more
// goes to copy_.
constexpr std::size_t kMaxDims = 64;

// Drops size-1 dimensions, orders the rest by destination stride, merges dimensions that are
// contiguous with their inner neighbour in both tensors. Returns false (layout untouched) when
// some size is 0, the innermost dimension is not contiguous in both tensors, two destination
// elements may share an address, more than kMaxDims dimensions remain, or there are several runs
// shorter than min_run_bytes.
bool make_run_layout(std::vector<PairDim> dims, std::size_t dst_element_size, std::size_t src_element_size,
                     RunLayout& layout, std::size_t min_run_bytes = kMinRunBytes);

// Fills `out` with the regions of runs [first_run, first_run + count), in destination order.
// Region counts are bytes for Conversion::None, else elements.
void emit_regions(const RunLayout& layout, char* dst, const char* src, std::size_t dst_element_size,
                  std::size_t src_element_size, Conversion conversion, std::size_t first_run, std::size_t count,
                  Region* out) noexcept;

// Bytes [begin, end) that pair `pair` of a batch writes (`written`) or reads. A pair may have
// many spans (one per run) or one that covers everything it may touch.
struct Span {
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
    std::size_t pair = 0;
    bool written = false;
};

// Two spans of different pairs that share a byte, at least one of them written: the batch's
// result would depend on the order of its copies.
struct SpanConflict {
    std::size_t first_pair = 0;
    bool first_written = false;
    std::size_t second_pair = 0;
    bool second_written = false;
};

// Sorts `spans` by address and sweeps them once (O(n log n)); true and `conflict` set when
// some conflict exists (which one is reported when there are several is unspecified). Empty
// spans never conflict.
bool find_conflict(std::vector<Span>& spans, SpanConflict& conflict);

// A strided tensor's memory: its first element's address, element size, sizes and strides (in
// elements, none negative).
struct StridedMemory {
    std::uintptr_t data = 0;
    std::size_t element_size = 0;
    std::vector<PairDim> dims; // size and dst_stride used; src_stride ignored
};

// Appends the byte spans of `t`'s elements to `out` (pair `pair`, `written`), one per run of
// elements contiguous in memory (runs merged across dimensions where they continue one another;
// dimensions of stride 0 repeat the same elements and add none). Returns false, leaving `out` as
// it was, when that takes more than `limit` spans in all.
bool append_element_spans(const StridedMemory& t, std::size_t pair, bool written, std::size_t limit,
                          std::vector<Span>& out);

// Marks in `involved` (indexed like `spans`) every span whose extent meets the extent of a span
// of another pair, directly or through a chain of meeting spans; `spans` is not reordered.
void mark_meeting(const std::vector<Span>& spans, std::vector<bool>& involved);

} // namespace tilecopy::detail
