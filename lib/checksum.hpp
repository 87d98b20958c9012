// The checksum module: CRC32C and CRC-32 of a buffer, and the combination of two CRCs. Pure:
// no threads, no hwloc, no torch. Two implementations of the same functions: Intel ISA-L's
// (when the build found it: SIMD, carry-less multiplication) and a portable slicing-by-8 one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <tilecopy/checksum.hpp>

namespace tilecopy::detail {

enum class CrcBackend : std::uint8_t {
    Isal,     // ISA-L's crc32_iscsi / crc32_gzip_refl (only when built with it)
    Portable, // slicing-by-8 tables
};

// "isal" or "portable".
const char* backend_name(CrcBackend backend) noexcept;
// True when this build has ISA-L (meson option `checksum`).
bool isal_available() noexcept;

// The backend a request names ("isal", "portable"; empty: $TILECOPY_CHECKSUM_IMPL, else ISA-L
// when built with it, else portable), and why it was chosen. Throws tilecopy::Error for an
// unknown name or "isal" in a build without ISA-L.
CrcBackend choose_backend(const std::string& request, std::string* reason = nullptr);

// zlib's crc32(crc, data, bytes) convention: continues from a finished CRC (0 to start).
// Checksum::none gives 0; `kind` must be a value of the enum.
std::uint32_t crc_update(CrcBackend backend, Checksum kind, std::uint32_t crc, const void* data,
                         std::size_t bytes) noexcept;
// The portable backend (the tests call it directly, whatever the build has).
std::uint32_t crc_update_portable(Checksum kind, std::uint32_t crc, const void* data, std::size_t bytes) noexcept;
// The CRC of A then B, from crc_a, crc_b and B's length (GF(2) multiplication by x^(8 * bytes_b)
// modulo the polynomial, zlib 1.2.12's crc32_combine, for either polynomial).
std::uint32_t crc_combine(Checksum kind, std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t bytes_b) noexcept;
// crc_combine in two steps, for many pieces of one length: crc_shift is x^(8 * bytes_b) modulo
// the polynomial (O(log bytes_b) multiplications), crc_combine_shifted one multiplication.
std::uint32_t crc_shift(Checksum kind, std::uint64_t bytes_b) noexcept;
std::uint32_t crc_combine_shifted(Checksum kind, std::uint32_t crc_a, std::uint32_t crc_b, std::uint32_t shift) noexcept;

// The shift operators of the last few piece lengths asked for, so that combining a plan's pieces
// (a few lengths: the block size, the tail blocks', the regions' edges) costs one multiplication
// per piece instead of O(log bytes) for each change of length.
class CrcShifts {
public:
    explicit CrcShifts(Checksum kind) noexcept : kind_(kind) {}
    // crc_shift(kind, bytes).
    std::uint32_t get(std::uint64_t bytes) noexcept;

private:
    static constexpr std::size_t kEntries = 4;
    Checksum kind_;
    std::uint64_t bytes_[kEntries] = {};
    std::uint32_t shift_[kEntries] = {};
    std::size_t used_ = 0; // entries filled, then the next to replace is used_ % kEntries
};

// Whether ISA-L runs its AVX-512 VPCLMULQDQ CRCs on this CPU (about as fast per byte as a copy
// from cache), rather than its crc32-instruction (CRC32C) and 128-bit PCLMULQDQ (CRC-32) ones.
bool fast_isal_crc() noexcept;

// Throws tilecopy::Error naming the kinds when `kind` is not a value of the enum.
void check_kind(Checksum kind);

} // namespace tilecopy::detail
