// Whether the tensors of a batch's pairs share memory, decided from their element sets: pure
// arithmetic on addresses, sizes and strides (no ATen). Extents (lib/overlap.hpp) settle almost
// every batch; where extents meet, the strided structure is tried before the runs of elements:
// tensors whose strides are all multiples of a common period P hold bytes only at a few offsets
// modulo P, and tensors whose offsets modulo P are disjoint share nothing (interleaved columns,
// channels, every other row), at a cost per tensor rather than per run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../overlap.hpp"
#include "run_layout.hpp"

namespace tilecopy::detail {

// A strided tensor's memory: its first element's address, element size, sizes and strides (in
// elements, none negative).
struct StridedMemory {
    std::uintptr_t data = 0;
    std::size_t element_size = 0;
    std::vector<PairDim> dims; // size and dst_stride used; src_stride ignored
};

// Appends the byte spans of `t`'s elements to `out` (owner `owner`, `written`), one per run of
// elements contiguous in memory (runs merged across dimensions where they continue one another;
// dimensions of stride 0 repeat the same elements and add none). Returns false, leaving `out` as
// it was, when that takes more than `limit` spans in all.
bool append_element_spans(const StridedMemory& t, std::size_t owner, bool written, std::size_t limit,
                          std::vector<Span>& out);

enum class Sharing : unsigned char {
    None,        // no written byte is shared between pairs
    Shared,      // `conflict` names two tensors that share a byte
    TooManyRuns, // extents meet (`conflict`) and comparing runs would take more than the limit
};

// Whether a byte written by one pair is read or written by another. `extents[i]` is the span
// of `tensors[i]` (Span::owner its pair); `max_runs` bounds the runs of elements compared.
Sharing find_sharing(const std::vector<StridedMemory>& tensors, const std::vector<Span>& extents, std::size_t max_runs,
                     SpanConflict& conflict);

} // namespace tilecopy::detail
