// Sections on fresh memory (docs/memory.md): prefault, copies into never-touched pages, copies
// out of a freshly mapped file. Each has the engine's warm copy of the same size as reference.
#pragma once

#include <cstddef>

#include "sections.hpp"

namespace bench {

// Making `bytes` of fresh anonymous memory present: one thread writing each page, MAP_POPULATE,
// CopyEngine::prefault, and allocate() with Populate::Now (huge pages never and auto).
Section prefault_section(std::size_t bytes, const Context& ctx);
// Copies into pages never touched: memcpy and the engine into a fresh mapping (fresh-destination
// advice never and auto), and allocate() + copy (Populate::Now and FirstCopy, huge pages never
// and auto), with the AnonHugePages each was granted.
Section fresh_copy_section(std::size_t bytes, const Context& ctx);
// Copies out of a file mapped anew before each call whose pages are in the page cache.
Section mapped_file_section(std::size_t bytes, const Context& ctx);

} // namespace bench
