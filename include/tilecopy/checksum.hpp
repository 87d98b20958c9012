// Checksums that tilecopy computes while it copies (CopyEngine::copy(..., Checksum)) or over a
// buffer in parallel (CopyEngine::checksum). Both kinds are the reflected 32-bit CRCs with an
// initial value and a final xor of 0xFFFFFFFF, so a result equals what the usual tools report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <tilecopy/export.hpp>

namespace tilecopy {

enum class Checksum : std::uint8_t {
    none,   // no checksum: the calls that return one return 0
    crc32c, // Castagnoli (iSCSI, ext4, cloud storage); "123456789" -> 0xE3069283
    crc32,  // the zip/gzip/zlib CRC-32 (Python's zlib.crc32); "123456789" -> 0xCBF43926
};

// "none", "crc32c" or "crc32"; any other name throws tilecopy::Error naming the kinds.
TILECOPY_API Checksum parse_checksum(const std::string& name);
// The name parse_checksum reads back; a value outside the enum throws tilecopy::Error.
TILECOPY_API const char* checksum_name(Checksum kind);

// The checksum of `bytes` more bytes after data whose checksum was `crc` (0 to start), on the
// calling thread: zlib's crc32(crc, data, bytes) convention. Checksum::none gives 0.
TILECOPY_API std::uint32_t checksum_update(Checksum kind, std::uint32_t crc, const void* data, std::size_t bytes);
// The checksum of A followed by B from crc_a (of A), crc_b (of B) and B's length, as zlib's
// crc32_combine: O(log bytes_b), without the data.
TILECOPY_API std::uint32_t checksum_combine(Checksum kind, std::uint32_t crc_a, std::uint32_t crc_b,
                                            std::uint64_t bytes_b);

} // namespace tilecopy
