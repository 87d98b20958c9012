// Checksums: the module (both backends) against a bitwise reference and the known vectors; the
// combination of CRCs; copy-and-checksum through the engine with every kernel, both backends,
// both store kinds, every block size the strategy can choose; batches, conversions, async,
// parallel verification; bad input with nothing written.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "checksum.hpp"
#include "checksum_copy.hpp"
#include "crc_reference.hpp"
#include "kernel_support.hpp"

using namespace tilecopy;
using tilecopy::detail::CrcBackend;
using tilecopy::test::all_canary;
using tilecopy::test::fill_pattern;
using tilecopy::test::GuardedBuffer;
using tilecopy::test::kCanary;

namespace {

constexpr Checksum kKinds[] = {Checksum::crc32c, Checksum::crc32};

std::uint32_t bitwise(Checksum kind, const void* p, std::size_t n) { return test::bitwise_crc(kind, p, n); }

std::vector<CrcBackend> backends() {
    std::vector<CrcBackend> out{CrcBackend::Portable};
    if (detail::isal_available())
        out.push_back(CrcBackend::Isal);
    else
        MESSAGE("built without ISA-L: only the portable checksums are tested");
    return out;
}

std::vector<std::string> runnable_kernels() {
    std::vector<std::string> names;
    for (const auto* k : test::runnable_kernels()) names.emplace_back(k->name);
    return names;
}

// CRC references of every prefix length of one buffer, in one bitwise pass.
std::vector<std::uint32_t> prefix_crcs(Checksum kind, const unsigned char* p, const std::vector<std::size_t>& lengths) {
    std::vector<std::uint32_t> out;
    test::BitwiseCrc c(kind);
    std::size_t at = 0;
    for (std::size_t len : lengths) { // ascending
        c.add(p + at, len - at);
        at = len;
        out.push_back(c.value());
    }
    return out;
}

} // namespace

TEST_CASE("both backends give the known check values of \"123456789\"") {
    const char* s = "123456789";
    CHECK(bitwise(Checksum::crc32c, s, 9) == 0xE3069283u);
    CHECK(bitwise(Checksum::crc32, s, 9) == 0xCBF43926u);
    for (CrcBackend b : backends()) {
        CAPTURE(detail::backend_name(b));
        CHECK(detail::crc_update(b, Checksum::crc32c, 0, s, 9) == 0xE3069283u);
        CHECK(detail::crc_update(b, Checksum::crc32, 0, s, 9) == 0xCBF43926u);
        // Continued in two calls, zlib's convention.
        CHECK(detail::crc_update(b, Checksum::crc32c, detail::crc_update(b, Checksum::crc32c, 0, s, 4), s + 4, 5) ==
              0xE3069283u);
        CHECK(detail::crc_update(b, Checksum::crc32, detail::crc_update(b, Checksum::crc32, 0, s, 4), s + 4, 5) ==
              0xCBF43926u);
        CHECK(detail::crc_update(b, Checksum::crc32, 0, s, 0) == 0);
        CHECK(detail::crc_update(b, Checksum::none, 0, s, 9) == 0);
    }
    CHECK(checksum_update(Checksum::crc32c, 0, s, 9) == 0xE3069283u);
    CHECK(checksum_update(Checksum::crc32, 0, s, 9) == 0xCBF43926u);
}

TEST_CASE("both backends match the bitwise reference at every length 0 to 4096 and every alignment 0 to 15") {
    constexpr std::size_t kMax = 4096;
    std::vector<unsigned char> pattern(kMax);
    fill_pattern(pattern.data(), kMax, 21);
    std::vector<std::size_t> lengths(kMax + 1);
    for (std::size_t i = 0; i <= kMax; ++i) lengths[i] = i;
    std::vector<unsigned char> storage(kMax + 64);
    for (Checksum kind : kKinds) {
        const std::vector<std::uint32_t> ref = prefix_crcs(kind, pattern.data(), lengths);
        for (CrcBackend b : backends()) {
            for (std::size_t align = 0; align < 16; ++align) {
                unsigned char* p = storage.data() + (64 - reinterpret_cast<std::uintptr_t>(storage.data()) % 64) % 64;
                if (p + align + kMax > storage.data() + storage.size()) p -= 64;
                std::memcpy(p + align, pattern.data(), kMax);
                std::size_t wrong = 0, first_wrong = 0;
                for (std::size_t len = 0; len <= kMax; ++len)
                    if (detail::crc_update(b, kind, 0, p + align, len) != ref[len] && wrong++ == 0) first_wrong = len;
                CAPTURE(checksum_name(kind));
                CAPTURE(detail::backend_name(b));
                CAPTURE(align);
                CAPTURE(first_wrong);
                CHECK(wrong == 0);
            }
        }
    }
}

TEST_CASE("combining the CRCs of two parts gives the CRC of the whole, for every split") {
    constexpr std::size_t kLen = 3000;
    std::vector<unsigned char> buf(kLen);
    fill_pattern(buf.data(), kLen, 5);
    for (Checksum kind : kKinds) {
        const std::uint32_t whole = bitwise(kind, buf.data(), kLen);
        std::size_t wrong = 0;
        for (std::size_t split = 0; split <= kLen; ++split) {
            const std::uint32_t a = bitwise(kind, buf.data(), split);
            const std::uint32_t b = bitwise(kind, buf.data() + split, kLen - split);
            if (detail::crc_combine(kind, a, b, kLen - split) != whole) ++wrong;
            if (checksum_combine(kind, a, b, kLen - split) != whole) ++wrong;
        }
        CAPTURE(checksum_name(kind));
        CHECK(wrong == 0);
        // Long second parts: every bit of the length's power table up to 2^26 bytes.
        std::vector<unsigned char> big((std::size_t(1) << 26) + 777);
        fill_pattern(big.data(), big.size(), 9);
        const std::uint32_t big_whole = detail::crc_update(CrcBackend::Portable, kind, 0, big.data(), big.size());
        CHECK(big_whole == bitwise(kind, big.data(), big.size()));
        for (std::size_t split : {std::size_t(1), std::size_t(4095), std::size_t(1) << 20, (std::size_t(1) << 25) + 3}) {
            const std::uint32_t a = detail::crc_update(CrcBackend::Portable, kind, 0, big.data(), split);
            const std::uint32_t b = detail::crc_update(CrcBackend::Portable, kind, 0, big.data() + split, big.size() - split);
            CAPTURE(split);
            CHECK(detail::crc_combine(kind, a, b, big.size() - split) == big_whole);
        }
        // Combining with an empty part changes nothing; starting from nothing gives the part.
        CHECK(detail::crc_combine(kind, whole, 0, 0) == whole);
        CHECK(detail::crc_combine(kind, 0, whole, kLen) == whole);
    }
}

TEST_CASE("copy with checksum is exact and matches the reference at every length 0 to 4096 and over several blocks, every kernel and backend") {
    // Past four of the smallest blocks, so that the parallel path combines several.
    constexpr std::size_t kMax = 4 * Options::kMinBlockBytes + 100;
    std::vector<unsigned char> pattern(kMax);
    fill_pattern(pattern.data(), kMax, 77);
    std::vector<std::size_t> lengths(kMax + 1);
    for (std::size_t i = 0; i <= kMax; ++i) lengths[i] = i;
    const std::vector<std::uint32_t> ref_c = prefix_crcs(Checksum::crc32c, pattern.data(), lengths);
    const std::vector<std::uint32_t> ref_z = prefix_crcs(Checksum::crc32, pattern.data(), lengths);
    for (const std::string& kernel : runnable_kernels()) {
        for (CrcBackend b : backends()) {
            for (bool parallel : {false, true}) {
                Options o;
                o.kernel = kernel;
                o.checksum_impl = detail::backend_name(b);
                o.threads = 2;
                o.block_bytes = Options::kMinBlockBytes; // many blocks, so the parallel path combines
                o.inline_threshold = parallel ? 64 : 1 << 20;
                CopyEngine engine(o);
                for (std::size_t src_off : {0, 7}) {
                    for (std::size_t dst_off : {0, 33}) {
                        GuardedBuffer src(kMax, src_off);
                        std::memcpy(src.data(), pattern.data(), kMax);
                        std::size_t wrong_crc = 0, wrong_bytes = 0, first_wrong = kMax + 1;
                        for (std::size_t len = 0; len <= kMax; len += (len < 300 ? 1 : 13)) {
                            GuardedBuffer dst(len, dst_off);
                            const Checksum kind = len % 2 ? Checksum::crc32c : Checksum::crc32;
                            const std::uint32_t crc = engine.copy(dst.data(), src.data(), len, kind);
                            if (crc != (kind == Checksum::crc32c ? ref_c : ref_z)[len]) {
                                if (wrong_crc++ == 0) first_wrong = len;
                            }
                            if ((len && std::memcmp(dst.data(), src.data(), len) != 0) || !dst.canaries_intact())
                                ++wrong_bytes;
                        }
                        CAPTURE(kernel);
                        CAPTURE(detail::backend_name(b));
                        CAPTURE(parallel);
                        CAPTURE(src_off);
                        CAPTURE(dst_off);
                        CAPTURE(first_wrong);
                        CHECK(wrong_crc == 0);
                        CHECK(wrong_bytes == 0);
                    }
                }
            }
        }
    }
}

TEST_CASE("copy with checksum of random lengths up to 64 MiB at several alignments matches the reference") {
    constexpr std::size_t kMax = (std::size_t(64) << 20) / test::kSanitizedDivisor; // sanitized: 16 MiB
    std::mt19937_64 rng(2112);
    std::vector<std::size_t> lengths{kMax};
    for (int i = 0; i < 4; ++i) lengths.push_back(std::uniform_int_distribution<std::size_t>(4097, kMax)(rng));
    lengths.push_back(std::uniform_int_distribution<std::size_t>(300000, 4 << 20)(rng));
    std::sort(lengths.begin(), lengths.end());

    GuardedBuffer src(kMax + 64);
    fill_pattern(src.data(), src.size(), 3);
    // The references, of the source's bytes at each offset used below.
    const std::size_t src_offs[] = {0, 13};
    const std::size_t dst_offs[] = {0, 40};
    std::vector<std::vector<std::uint32_t>> ref[2];
    for (std::size_t k = 0; k < 2; ++k)
        for (std::size_t so : src_offs) ref[k].push_back(prefix_crcs(kKinds[k], src.data() + so, lengths));

    GuardedBuffer dst(kMax + 64 + 128);
    const auto kernels = runnable_kernels();
    std::size_t run = 0;
    for (const std::string& kernel : kernels) {
        for (CrcBackend b : backends()) {
            for (bool nontemporal : {false, true}) {
                Options o;
                o.kernel = kernel;
                o.checksum_impl = detail::backend_name(b);
                o.nontemporal_threshold = nontemporal ? 1 : std::numeric_limits<std::size_t>::max();
                CopyEngine engine(o);
                for (std::size_t si = 0; si < 2; ++si) {
                    for (std::size_t dst_off : dst_offs) {
                        // One length per combination (rotating), the longest always with ISA-L.
                        for (std::size_t li = 0; li < lengths.size(); ++li) {
                            if ((li + run) % 3 != 0 && li + 1 != lengths.size()) continue;
                            const std::size_t len = lengths[li];
                            const std::size_t k = (li + si) % 2;
                            std::memset(dst.data() + dst_off + len, kCanary, 128);
                            const std::uint32_t crc =
                                engine.copy(dst.data() + dst_off, src.data() + src_offs[si], len, kKinds[k]);
                            CAPTURE(kernel);
                            CAPTURE(detail::backend_name(b));
                            CAPTURE(nontemporal);
                            CAPTURE(len);
                            CAPTURE(src_offs[si]);
                            CAPTURE(dst_off);
                            CHECK(crc == ref[k][si][li]);
                            CHECK(std::memcmp(dst.data() + dst_off, src.data() + src_offs[si], len) == 0);
                            CHECK(all_canary(dst.data() + dst_off + len, 128));
                        }
                        ++run;
                    }
                }
            }
        }
    }
    CHECK(dst.canaries_intact());
}

TEST_CASE("block CRCs combine exactly at every block size the strategy can choose, across tiles") {
    // The strategy's blocks: Options::block_bytes (at least Options::kMinBlockBytes), shrunk toward 16 KiB for small
    // copies, with guided tails of 16 KiB or less; forced here one by one, with small tiles.
    const std::size_t bytes = (std::size_t(3) << 20) + 4321;
    GuardedBuffer src(bytes, 5);
    fill_pattern(src.data(), bytes, 11);
    const std::uint32_t ref[2] = {bitwise(Checksum::crc32c, src.data(), bytes), bitwise(Checksum::crc32, src.data(), bytes)};
    for (std::size_t block : {Options::kMinBlockBytes, std::size_t(16) << 10, std::size_t(64) << 10,
                              std::size_t(256) << 10, std::size_t(1) << 20, std::size_t(0)}) {
        for (std::size_t threads : {1, 2, 3}) {
            Options o;
            o.block_bytes = block;
            o.threads = threads;
            o.tile_bytes = std::size_t(1) << 20;
            o.inline_threshold = 64;
            CopyEngine engine(o);
            for (std::size_t k = 0; k < 2; ++k) {
                GuardedBuffer dst(bytes, 17);
                CAPTURE(block);
                CAPTURE(threads);
                CAPTURE(checksum_name(kKinds[k]));
                CHECK(engine.copy(dst.data(), src.data(), bytes, kKinds[k]) == ref[k]);
                CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
                CHECK(dst.canaries_intact());
                CHECK(engine.checksum(src.data(), bytes, kKinds[k]) == ref[k]);
            }
            CHECK(engine.stats().parallel_copies == 2);
        }
    }
}

TEST_CASE("the shift operators of many piece lengths, more than the cache holds, combine like the serial CRC") {
    // Lengths cycling through more values than CrcShifts keeps, so that entries are replaced and
    // found again; each combination checked against crc_shift and the serial CRC of the whole.
    const std::size_t lengths[] = {1, 4096, Options::kMinBlockBytes + 64, 16 << 10, 65536, 262144, 7, 4096, 1, 262144};
    std::size_t total = 0;
    for (std::size_t n : lengths) total += n;
    std::vector<unsigned char> data(total);
    fill_pattern(data.data(), total, 9);
    for (Checksum kind : kKinds) {
        detail::CrcShifts shifts(kind);
        std::uint32_t crc = 0;
        std::size_t at = 0;
        for (int pass = 0; pass < 3; ++pass) {
            for (std::size_t n : lengths) {
                CHECK(shifts.get(n) == detail::crc_shift(kind, n));
                if (pass == 0) {
                    const std::uint32_t piece = bitwise(kind, data.data() + at, n);
                    crc = detail::crc_combine_shifted(kind, crc, piece, shifts.get(n));
                    at += n;
                }
            }
        }
        CHECK(crc == bitwise(kind, data.data(), total));
    }
}

TEST_CASE("a batch gives one checksum per region, empty regions included, with canaries intact") {
    Options o;
    o.block_bytes = 4096;
    o.inline_threshold = 64;
    o.threads = 2;
    CopyEngine engine(o);
    const std::size_t sizes[] = {0, 1, 100, 0, 5000, 64, 0, 70000, 4096, 0};
    std::vector<GuardedBuffer> srcs, dsts;
    std::vector<Region> regions;
    for (std::size_t i = 0; i < std::size(sizes); ++i) {
        srcs.emplace_back(sizes[i], i % 7);
        dsts.emplace_back(sizes[i], (i * 13) % 64);
        fill_pattern(srcs.back().data(), sizes[i], static_cast<std::uint32_t>(i));
    }
    for (std::size_t i = 0; i < std::size(sizes); ++i)
        regions.push_back(Region{sizes[i] ? dsts[i].data() : nullptr, sizes[i] ? srcs[i].data() : nullptr, sizes[i]});
    for (Checksum kind : kKinds) {
        for (auto& d : dsts) std::memset(d.data(), 0, d.size());
        const std::vector<std::uint32_t> crcs = engine.copy_batch(regions, kind);
        REQUIRE(crcs.size() == std::size(sizes));
        for (std::size_t i = 0; i < std::size(sizes); ++i) {
            CAPTURE(i);
            CHECK(crcs[i] == bitwise(kind, srcs[i].data(), sizes[i]));
            CHECK(std::memcmp(dsts[i].data(), srcs[i].data(), sizes[i]) == 0);
            CHECK(dsts[i].canaries_intact());
        }
        // Asynchronously: the handle gives the same checksums.
        for (auto& d : dsts) std::memset(d.data(), 0, d.size());
        CopyHandle h = engine.copy_batch_async(regions, kind);
        CHECK(h.checksums() == crcs);
        CHECK_THROWS_AS(h.checksum(), Error); // several regions
        for (std::size_t i = 0; i < std::size(sizes); ++i) CHECK(std::memcmp(dsts[i].data(), srcs[i].data(), sizes[i]) == 0);
    }
    CHECK(engine.copy_batch(std::vector<Region>{}, Checksum::crc32c).empty());
    CHECK(engine.copy_batch(regions, Checksum::none) == std::vector<std::uint32_t>(std::size(sizes), 0));
}

TEST_CASE("a converting batch checksums the destination's bytes after conversion, every kernel and store kind") {
    // A checksummed conversion with non-temporal stores is staged through L1 (checksum_copy.hpp),
    // one with regular stores sums the destination: the bytes that reach the destination and the
    // bytes checksummed must still be the plain conversion's.
    const Conversion conversions[] = {Conversion::F32ToBF16, Conversion::BF16ToF32, Conversion::F32ToF16,
                                      Conversion::F16ToF32};
    for (const std::string& kernel : runnable_kernels()) {
        for (bool nontemporal : {false, true}) {
            Options o;
            o.kernel = kernel;
            o.block_bytes = 4096;
            o.inline_threshold = 64;
            o.nontemporal_threshold = nontemporal ? 1 : std::numeric_limits<std::size_t>::max();
            CopyEngine engine(o);
            for (Conversion c : conversions) {
                const std::size_t des = dst_element_size(c), ses = src_element_size(c);
                for (std::size_t count : {std::size_t(0), std::size_t(3), std::size_t(1000), std::size_t(100003)}) {
                    GuardedBuffer src(count * ses, 4);
                    fill_pattern(src.data(), count * ses, static_cast<std::uint32_t>(count));
                    GuardedBuffer dst(count * des, 2), plain(count * des, 2);
                    engine.copy_batch(std::vector<Region>{Region{plain.data(), src.data(), count}}, c);
                    for (Checksum kind : kKinds) {
                        std::memset(dst.data(), 0, dst.size());
                        const std::vector<std::uint32_t> crcs =
                            engine.copy_batch(std::vector<Region>{Region{dst.data(), src.data(), count}}, kind, c);
                        CAPTURE(kernel);
                        CAPTURE(nontemporal);
                        CAPTURE(static_cast<int>(c));
                        CAPTURE(count);
                        REQUIRE(crcs.size() == 1);
                        CHECK(std::memcmp(plain.data(), dst.data(), count * des) == 0);
                        CHECK(crcs[0] == bitwise(kind, plain.data(), count * des));
                        CHECK(dst.canaries_intact());
                    }
                }
            }
            CHECK((engine.stats().nontemporal_copies > 0) == nontemporal);
        }
    }
}

TEST_CASE("an asynchronous copy's handle yields its checksum once done") {
    CopyEngine engine;
    const std::size_t bytes = (std::size_t(8) << 20) + 3;
    GuardedBuffer src(bytes, 1), dst(bytes, 0);
    fill_pattern(src.data(), bytes, 8);
    CopyHandle h = engine.copy_async(dst.data(), src.data(), bytes, Checksum::crc32c);
    CHECK(h.checksum() == bitwise(Checksum::crc32c, src.data(), bytes));
    CHECK(h.checksum() == h.checksums().at(0)); // asked again: the same
    CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
    CHECK(dst.canaries_intact());
    CopyHandle small = engine.copy_async(dst.data(), src.data(), 100, Checksum::crc32);
    CHECK(small.checksum() == bitwise(Checksum::crc32, src.data(), 100));
    CopyHandle empty = engine.copy_async(nullptr, nullptr, 0, Checksum::crc32);
    CHECK(empty.checksum() == 0);
    CopyHandle plain = engine.copy_async(dst.data(), src.data(), bytes);
    CHECK_THROWS_WITH_AS(plain.checksum(), doctest::Contains("without a checksum"), Error);
    CopyHandle none;
    CHECK_THROWS_AS(none.checksum(), Error);
}

TEST_CASE("checksum verifies a buffer in parallel, counts no copy, and writes nothing") {
    Options o;
    o.inline_threshold = 4096;
    o.block_bytes = 64 << 10;
    CopyEngine engine(o);
    const std::size_t bytes = (std::size_t(5) << 20) + 999;
    GuardedBuffer buf(bytes, 3);
    fill_pattern(buf.data(), bytes, 4);
    std::vector<unsigned char> before(buf.data(), buf.data() + bytes);
    for (Checksum kind : kKinds) {
        CHECK(engine.checksum(buf.data(), bytes, kind) == bitwise(kind, buf.data(), bytes));
        CHECK(engine.checksum(buf.data(), 1000, kind) == bitwise(kind, buf.data(), 1000));
    }
    CHECK(engine.checksum(nullptr, 0, Checksum::crc32c) == 0);
    CHECK(engine.checksum(buf.data(), bytes, Checksum::none) == 0);
    CHECK(std::memcmp(before.data(), buf.data(), bytes) == 0);
    CHECK(buf.canaries_intact());
    CHECK(engine.stats().copies == 0);
    CHECK(engine.stats().bytes == 0);
    CHECK_THROWS_WITH_AS(engine.checksum(nullptr, 10, Checksum::crc32c), doctest::Contains("null pointer"), Error);
}

TEST_CASE("an unknown kind or a refused copy computes nothing and writes nothing") {
    CopyEngine engine;
    GuardedBuffer src(1000, 0), dst(1000, 0);
    fill_pattern(src.data(), 1000, 1);
    std::memset(dst.data(), kCanary, 1000);
    const auto bogus = static_cast<Checksum>(7);
    CHECK_THROWS_WITH_AS(engine.copy(dst.data(), src.data(), 1000, bogus), doctest::Contains("crc32c"), Error);
    CHECK_THROWS_AS(engine.copy_batch(std::vector<Region>{Region{dst.data(), src.data(), 1000}}, bogus), Error);
    CHECK_THROWS_AS(engine.copy_async(dst.data(), src.data(), 1000, bogus), Error);
    CHECK_THROWS_AS(engine.checksum(src.data(), 1000, bogus), Error);
    CHECK_THROWS_AS(checksum_update(bogus, 0, src.data(), 10), Error);
    // Overlapping, and a null source in the second region: nothing of the batch is written.
    CHECK_THROWS_AS(engine.copy(src.data() + 1, src.data(), 500, Checksum::crc32c), Error);
    CHECK_THROWS_WITH_AS(
        engine.copy_batch(std::vector<Region>{Region{dst.data(), src.data(), 500}, Region{dst.data() + 500, nullptr, 10}},
                          Checksum::crc32),
        doctest::Contains("region 1"), Error);
    CHECK(all_canary(dst.data(), 1000));
    CHECK(dst.canaries_intact());
    CHECK(engine.stats().copies == 0);
}

TEST_CASE("kinds parse from their names and an unknown name is an error naming the kinds") {
    CHECK(parse_checksum("crc32c") == Checksum::crc32c);
    CHECK(parse_checksum("crc32") == Checksum::crc32);
    CHECK(parse_checksum("none") == Checksum::none);
    CHECK(std::string(checksum_name(Checksum::crc32c)) == "crc32c");
    CHECK(std::string(checksum_name(Checksum::crc32)) == "crc32");
    CHECK_THROWS_WITH_AS(parse_checksum("md5"), doctest::Contains("\"crc32c\", \"crc32\""), Error);
    CHECK_THROWS_WITH_AS(parse_checksum("CRC32C"), doctest::Contains("CRC32C"), Error);
    CHECK_THROWS_AS(checksum_name(static_cast<Checksum>(3)), Error);
}

TEST_CASE("the checksum implementation can be forced, and an unknown one is an error") {
    Options o;
    o.checksum_impl = "portable";
    CopyEngine portable(o);
    CHECK(portable.options().checksum_impl == "portable");
    bool described = false;
    for (const auto& line : portable.describe()) described = described || line == "checksums: portable";
    CHECK(described);
    o.checksum_impl = "sse9";
    CHECK_THROWS_WITH_AS(CopyEngine{o}, doctest::Contains("\"isal\" and \"portable\""), Error);
    o.checksum_impl = "isal";
    if (detail::isal_available())
        CHECK(CopyEngine(o).options().checksum_impl == "isal");
    else
        CHECK_THROWS_AS(CopyEngine{o}, Error);
    CopyEngine by_default;
    CHECK(by_default.options().checksum_impl == (detail::isal_available() ? "isal" : "portable"));
    // $TILECOPY_CHECKSUM_IMPL when Options leaves it empty; Options wins over it.
    ::setenv("TILECOPY_CHECKSUM_IMPL", "portable", 1);
    CHECK(CopyEngine().options().checksum_impl == "portable");
    o.checksum_impl = detail::isal_available() ? "isal" : "portable";
    CHECK(CopyEngine(o).options().checksum_impl == o.checksum_impl);
    ::setenv("TILECOPY_CHECKSUM_IMPL", "crc-hw", 1);
    CHECK_THROWS_WITH_AS(CopyEngine(), doctest::Contains("$TILECOPY_CHECKSUM_IMPL"), Error);
    ::unsetenv("TILECOPY_CHECKSUM_IMPL");
}
