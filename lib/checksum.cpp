#include "checksum.hpp"

#include <array>
#include <cstdlib>

#include <tilecopy/error.hpp>

#include "config.hpp"
#include "dispatch.hpp"

#if defined(TILECOPY_HAVE_ISAL)
#include <isa-l/crc.h>
#endif

namespace tilecopy::detail {

namespace {

// Reflected polynomials (bit 0 is the coefficient of x^31).
constexpr std::uint32_t kPolyCrc32c = 0x82F63B78u; // 0x1EDC6F41 reflected
constexpr std::uint32_t kPolyCrc32 = 0xEDB88320u;  // 0x04C11DB7 reflected

using Table = std::array<std::array<std::uint32_t, 256>, 8>;

// Slicing-by-8: table k maps a byte to its CRC followed by k zero bytes.
constexpr Table make_table(std::uint32_t poly) {
    Table t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int b = 0; b < 8; ++b) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        t[0][i] = c;
    }
    for (std::size_t k = 1; k < 8; ++k)
        for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    return t;
}

constexpr Table kTableCrc32c = make_table(kPolyCrc32c);
constexpr Table kTableCrc32 = make_table(kPolyCrc32);

std::uint32_t slice8(const Table& t, std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
    crc = ~crc;
    for (; n && (reinterpret_cast<std::uintptr_t>(p) & 7); --n) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    for (; n >= 8; n -= 8, p += 8) {
        // Little-endian load whatever the host (a single mov on x86-64).
        std::uint64_t w = 0;
        for (int i = 7; i >= 0; --i) w = (w << 8) | p[i];
        w ^= crc;
        crc = t[7][w & 0xFF] ^ t[6][(w >> 8) & 0xFF] ^ t[5][(w >> 16) & 0xFF] ^ t[4][(w >> 24) & 0xFF] ^
              t[3][(w >> 32) & 0xFF] ^ t[2][(w >> 40) & 0xFF] ^ t[1][(w >> 48) & 0xFF] ^ t[0][w >> 56];
    }
    for (; n; --n) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

// a(x) * b(x) modulo the polynomial, both reflected (zlib's multmodp).
constexpr std::uint32_t multmodp(std::uint32_t poly, std::uint32_t a, std::uint32_t b) noexcept {
    std::uint32_t m = 1u << 31;
    std::uint32_t p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ poly : b >> 1;
    }
    return p;
}

// x^(2^n) modulo the polynomial for n = 0..66: enough for any 64-bit byte count (zlib's
// x2n_table, longer, so that no periodicity of x modulo either polynomial is assumed).
using PowerTable = std::array<std::uint32_t, 67>;
constexpr PowerTable make_powers(std::uint32_t poly) {
    PowerTable t{};
    std::uint32_t p = 1u << 30; // x^1
    t[0] = p;
    for (std::size_t n = 1; n < t.size(); ++n) t[n] = p = multmodp(poly, p, p);
    return t;
}

constexpr PowerTable kPowersCrc32c = make_powers(kPolyCrc32c);
constexpr PowerTable kPowersCrc32 = make_powers(kPolyCrc32);

// x^(n * 2^k) modulo the polynomial.
std::uint32_t x2nmodp(std::uint32_t poly, const PowerTable& powers, std::uint64_t n, unsigned k) noexcept {
    std::uint32_t p = 1u << 31; // x^0
    while (n) {
        if (n & 1) p = multmodp(poly, powers[k], p);
        n >>= 1;
        ++k;
    }
    return p;
}

#if defined(TILECOPY_HAVE_ISAL)
// ISA-L's conventions differ by function: crc32_gzip_refl takes and returns a finished CRC
// (zlib's), crc32_iscsi works on the raw register (the caller inverts before and after) and
// takes an int length.
std::uint32_t isal_update(Checksum kind, std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
    if (kind == Checksum::crc32) return crc32_gzip_refl(crc, p, n);
    constexpr std::size_t kMaxIscsi = std::size_t(1) << 30;
    std::uint32_t raw = ~crc;
    while (n) {
        const std::size_t c = n < kMaxIscsi ? n : kMaxIscsi;
        raw = crc32_iscsi(const_cast<unsigned char*>(p), static_cast<int>(c), raw);
        p += c;
        n -= c;
    }
    return ~raw;
}
#endif

} // namespace

const char* backend_name(CrcBackend backend) noexcept { return backend == CrcBackend::Isal ? "isal" : "portable"; }

bool isal_available() noexcept {
#if defined(TILECOPY_HAVE_ISAL)
    return true;
#else
    return false;
#endif
}

CrcBackend choose_backend(const std::string& request, std::string* reason) {
    std::string name = request;
    const char* why = "forced by Options::checksum_impl";
    if (name.empty()) {
        const char* env = std::getenv("TILECOPY_CHECKSUM_IMPL");
        if (env && *env) {
            name = env;
            why = "forced by $TILECOPY_CHECKSUM_IMPL";
        }
    }
    if (name.empty()) {
        if (reason) *reason = isal_available() ? "ISA-L, found by the build" : "built without ISA-L";
        return isal_available() ? CrcBackend::Isal : CrcBackend::Portable;
    }
    if (reason) *reason = why;
    if (name == "portable") return CrcBackend::Portable;
    if (name == "isal") {
        if (!isal_available())
            throw Error(std::string("tilecopy: checksum implementation \"isal\" (") + why +
                        ") is not in this build (configured without ISA-L, meson option checksum); use \"portable\"");
        return CrcBackend::Isal;
    }
    throw Error("tilecopy: unknown checksum implementation \"" + name + "\" (" + why +
                "); the implementations are \"isal\" and \"portable\"");
}

std::uint32_t crc_update_portable(Checksum kind, std::uint32_t crc, const void* data, std::size_t bytes) noexcept {
    if (kind == Checksum::none) return 0;
    return slice8(kind == Checksum::crc32c ? kTableCrc32c : kTableCrc32, crc, static_cast<const unsigned char*>(data),
                  bytes);
}

std::uint32_t crc_update(CrcBackend backend, Checksum kind, std::uint32_t crc, const void* data,
                         std::size_t bytes) noexcept {
    if (kind == Checksum::none) return 0;
#if defined(TILECOPY_HAVE_ISAL)
    if (backend == CrcBackend::Isal) return isal_update(kind, crc, static_cast<const unsigned char*>(data), bytes);
#else
    (void)backend;
#endif
    return crc_update_portable(kind, crc, data, bytes);
}

std::uint32_t crc_shift(Checksum kind, std::uint64_t bytes_b) noexcept {
    const bool c = kind == Checksum::crc32c;
    return x2nmodp(c ? kPolyCrc32c : kPolyCrc32, c ? kPowersCrc32c : kPowersCrc32, bytes_b, 3);
}

std::uint32_t crc_combine_shifted(Checksum kind, std::uint32_t crc_a, std::uint32_t crc_b, std::uint32_t shift) noexcept {
    if (kind == Checksum::none) return 0;
    return multmodp(kind == Checksum::crc32c ? kPolyCrc32c : kPolyCrc32, shift, crc_a) ^ crc_b;
}

std::uint32_t CrcShifts::get(std::uint64_t bytes) noexcept {
    const std::size_t filled = used_ < kEntries ? used_ : kEntries;
    for (std::size_t i = 0; i < filled; ++i)
        if (bytes_[i] == bytes) return shift_[i];
    const std::size_t at = used_++ % kEntries;
    bytes_[at] = bytes;
    return shift_[at] = crc_shift(kind_, bytes);
}

bool fast_isal_crc() noexcept {
#if defined(TILECOPY_HAVE_ISAL) && (defined(__x86_64__) || defined(__i386__))
    // ISA-L's dispatch takes its by16_10 (VPCLMULQDQ on ZMM) functions on these features.
    static const bool fast = [] {
        const CpuFeatures& f = cpu_features();
        return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.os_zmm && __builtin_cpu_supports("vpclmulqdq");
    }();
    return fast;
#else
    return false;
#endif
}

std::uint32_t crc_combine(Checksum kind, std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t bytes_b) noexcept {
    if (kind == Checksum::none) return 0;
    return crc_combine_shifted(kind, crc_a, crc_b, crc_shift(kind, bytes_b));
}

void check_kind(Checksum kind) {
    if (kind != Checksum::none && kind != Checksum::crc32c && kind != Checksum::crc32)
        throw Error("tilecopy: unknown checksum kind " + std::to_string(static_cast<unsigned>(kind)) +
                    "; the kinds are none, crc32c and crc32");
}

} // namespace tilecopy::detail

namespace tilecopy {

Checksum parse_checksum(const std::string& name) {
    if (name == "crc32c") return Checksum::crc32c;
    if (name == "crc32") return Checksum::crc32;
    if (name == "none") return Checksum::none;
    throw Error("tilecopy: unknown checksum kind \"" + name + "\"; the kinds are \"crc32c\", \"crc32\" and \"none\"");
}

const char* checksum_name(Checksum kind) {
    detail::check_kind(kind);
    return kind == Checksum::crc32c ? "crc32c" : kind == Checksum::crc32 ? "crc32" : "none";
}

std::uint32_t checksum_update(Checksum kind, std::uint32_t crc, const void* data, std::size_t bytes) {
    detail::check_kind(kind);
    if (bytes && !data) throw Error("tilecopy: checksum_update got a null pointer with " + std::to_string(bytes) + " bytes");
    static const detail::CrcBackend backend = detail::isal_available() ? detail::CrcBackend::Isal : detail::CrcBackend::Portable;
    return detail::crc_update(backend, kind, crc, data, bytes);
}

std::uint32_t checksum_combine(Checksum kind, std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t bytes_b) {
    detail::check_kind(kind);
    return detail::crc_combine(kind, crc_a, crc_b, bytes_b);
}

} // namespace tilecopy
