// Strided tensor pairs as contiguous runs: pure arithmetic on sizes and strides (in elements),
// no ATen, so the planning can be read and tested without libtorch's headers. The dimension
// merging and the odometer here also serve the batch's overlap check (tensor_overlap.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <tilecopy/request.hpp>

namespace tilecopy::detail {

// Dimensions a layout may keep after merging (no allocation while emitting regions); more
// goes to copy_.
constexpr std::size_t kMaxDims = 64;

// One dimension of a destination and of its source broadcast to the destination's shape.
struct PairDim {
    std::int64_t size = 0;
    std::int64_t dst_stride = 0;
    std::int64_t src_stride = 0;
};

// Drops dimensions of size 1 and, when `drop_repeats`, those of destination stride 0 (they
// repeat the same elements); orders the rest innermost first by destination stride (then source
// stride) and merges each dimension that continues its inner neighbour in both tensors.
std::vector<PairDim> merge_dims(std::vector<PairDim> dims, bool drop_repeats);

// Walks the element offsets of `dims` (innermost first) from a given position: `dst` and `src`
// are the offsets (in elements) of the current position.
class Odometer {
public:
    Odometer(const std::vector<PairDim>& dims, std::size_t first) noexcept;
    void advance() noexcept;
    std::int64_t dst = 0;
    std::int64_t src = 0;

private:
    const std::vector<PairDim>& dims_;
    std::array<std::int64_t, kMaxDims> index_{};
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

} // namespace tilecopy::detail
