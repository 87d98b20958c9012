// The checksum rows: copy and checksum in one pass against the plain copy, and the parallel
// checksum of a buffer against the engine's copy of the same bytes (issue targets: >= 0.9x the
// copy from 64 MiB on, >= 0.8x at 1-16 MiB; checksum of 1 GiB >= 0.9x the copy).
#pragma once

#include <cstddef>

#include "sections.hpp"

namespace bench {

// tilecopy's copy, then copy + CRC32C and copy + CRC-32 divided by it, on one aligned pair.
Section checksum_copy_section(std::size_t bytes, const Context& ctx);
// tilecopy's copy of `bytes`, then CopyEngine::checksum of the source (CRC32C, CRC-32) and one
// thread's serial checksum_update, divided by the copy (GB/s of bytes read for the checksums).
Section checksum_section(std::size_t bytes, const Context& ctx);

} // namespace bench
