// The engine end to end: every supported kernel forced in turn, inline and parallel paths,
// regular and non-temporal stores, tiles and blocks crossed, canaries, bad input, threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "dispatch.hpp"
#include "support.hpp"

using namespace tilecopy;
using tilecopy::test::fill_pattern;
using tilecopy::test::GuardedBuffer;

namespace {

std::vector<std::string> runnable_kernels() {
    std::vector<std::string> names;
    for (const auto* k : detail::compiled_kernels()) {
        std::string missing;
        if (detail::cpu_supports(*k, &missing))
            names.emplace_back(k->name);
        else
            MESSAGE("kernel " << k->name << " is compiled but this CPU cannot run it: " << missing);
    }
    return names;
}

// Copies `bytes` from a source misaligned by `src_off` to a destination misaligned by
// `dst_off` and checks the result byte for byte and the canaries around it.
void check_copy(CopyEngine& engine, std::size_t bytes, std::size_t src_off, std::size_t dst_off, std::uint32_t seed) {
    GuardedBuffer src(bytes, src_off);
    GuardedBuffer dst(bytes, dst_off);
    fill_pattern(src.data(), bytes, seed);
    engine.copy(dst.data(), src.data(), bytes);
    CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
    CHECK(dst.canaries_intact());
}

} // namespace

TEST_CASE("every supported kernel copies exactly across blocks and tiles, inline and in parallel") {
    const auto kernels = runnable_kernels();
    REQUIRE(!kernels.empty());
    for (const auto& name : kernels) {
        for (bool nontemporal : {false, true}) {
            Options o;
            o.kernel = name;
            o.tile_bytes = 64 << 10; // many tiles at cheap sizes
            o.block_bytes = 4096;
            o.inline_threshold = 8192;
            o.nontemporal_threshold = nontemporal ? 1 : std::numeric_limits<std::size_t>::max();
            CopyEngine engine(o);
            CAPTURE(name);
            CAPTURE(nontemporal);
            CHECK(std::string(engine.kernel()) == name);
            for (std::size_t bytes : {1, 63, 64, 65, 4095, 8191, 8192, 8193, 65535, 65536, 65537, 200003, 1 << 20}) {
                for (std::size_t src_off : {0, 1, 33, 63}) {
                    for (std::size_t dst_off : {0, 5, 32, 63}) {
                        CAPTURE(bytes);
                        CAPTURE(src_off);
                        CAPTURE(dst_off);
                        check_copy(engine, bytes, src_off, dst_off, static_cast<std::uint32_t>(bytes + src_off));
                    }
                }
            }
            const Stats s = engine.stats();
            CHECK(s.inline_copies > 0);
            CHECK(s.parallel_copies > 0);
            CHECK(s.copies == s.inline_copies + s.parallel_copies);
            CHECK((s.nontemporal_copies > 0) == nontemporal);
            CHECK(std::string(engine.kernel()) == name); // one kernel per engine: the stats are its
        }
    }
}

TEST_CASE("every supported kernel copies many small regions packed into blocks exactly with streaming stores") {
    // Blocks of 16 KiB pack several regions each, so a thread runs many unfenced kernel calls
    // per block and fences once per job; the gaps between regions must keep their canary.
    constexpr std::size_t kRegions = 300, kGap = 64;
    constexpr std::size_t kMaxRegion = 5000, kBytes = kRegions * (kMaxRegion + kGap);
    std::vector<std::size_t> sizes;
    for (std::size_t i = 0; i < kRegions; ++i) sizes.push_back(1 + (i * 977) % kMaxRegion);
    for (const auto& name : runnable_kernels()) {
        Options o;
        o.kernel = name;
        o.block_bytes = 16 << 10;
        o.inline_threshold = 4096;
        o.nontemporal_threshold = 1;
        CopyEngine engine(o);
        CAPTURE(name);
        GuardedBuffer src(kBytes), dst(kBytes);
        fill_pattern(src.data(), kBytes, 7);
        std::memset(dst.data(), test::kCanary, kBytes);
        std::vector<Region> regions;
        for (std::size_t i = 0, at = 0; i < kRegions; at += sizes[i] + kGap, ++i)
            regions.push_back(Region{dst.data() + at + i % 64, src.data() + at, sizes[i]});
        engine.copy_regions(regions.data(), regions.size());
        std::size_t wrong = 0;
        for (std::size_t i = 0, at = 0; i < kRegions; at += sizes[i] + kGap, ++i) {
            const unsigned char* d = dst.data() + at;
            const std::size_t off = i % 64;
            wrong += std::memcmp(d + off, src.data() + at, sizes[i]) != 0;
            for (std::size_t k = 0; k < off; ++k) wrong += d[k] != test::kCanary;
            for (std::size_t k = off + sizes[i]; k < sizes[i] + kGap; ++k) wrong += d[k] != test::kCanary;
        }
        CHECK(wrong == 0);
        CHECK(dst.canaries_intact());
        CHECK(engine.stats().parallel_copies == 1);
        CHECK(engine.stats().nontemporal_copies == 1);
    }
}

TEST_CASE("the default engine copies large buffers exactly, with the store kind its thresholds choose") {
    // Which store kind the defaults pick depends on the machine (its profile, or the cache sizes
    // its hwloc reports: 8 MiB to 508 MiB on hosts of one kind), so this checks exactness and
    // that the engine followed its own resolved threshold, never a host's number.
    CopyEngine engine;
    const std::size_t sizes[] = {std::size_t(3) << 20, (std::size_t(40) << 20) + 13};
    std::uint64_t expected_nt = 0, expected_parallel = 0;
    for (std::size_t bytes : sizes) {
        check_copy(engine, bytes, 3, 0, 7);
        expected_nt += bytes >= engine.options().nontemporal_threshold;
        expected_parallel += bytes >= engine.options().inline_threshold;
    }
    CHECK(engine.stats().parallel_copies == expected_parallel);
    CHECK(engine.stats().nontemporal_copies == expected_nt);
}

TEST_CASE("the non-temporal threshold set in Options decides the store kind of each copy") {
    Options o;
    o.inline_threshold = 64 << 10;
    o.nontemporal_threshold = std::size_t(32) << 20;
    CopyEngine engine(o);
    check_copy(engine, std::size_t(3) << 20, 3, 0, 7);
    CHECK(engine.stats().nontemporal_copies == 0);
    check_copy(engine, (std::size_t(40) << 20) + 13, 3, 0, 7);
    CHECK(engine.stats().nontemporal_copies == 1);
    CHECK(engine.stats().parallel_copies == 2);
}

TEST_CASE("copies whose destination is 1-63 bytes past the source modulo 4 KiB are exact on every path") {
    // The caller's small path leaves them to the library, which copies them with the kernel
    // (not rep movsb); every kernel forced, small and large sizes, raw copies and a batch.
    constexpr std::size_t kPage = 4096, kSpan = 256 * 1024;
    std::vector<unsigned char> region(2 * kSpan + 2 * kPage);
    const auto base = (reinterpret_cast<std::uintptr_t>(region.data()) + kPage - 1) & ~std::uintptr_t(kPage - 1);
    unsigned char* src = reinterpret_cast<unsigned char*>(base) + 64;
    fill_pattern(src, kSpan - 2 * kPage, 7);
    for (const char* kernel : {"", "scalar"}) {
        Options o;
        o.kernel = kernel;
        CopyEngine engine(o);
        for (std::size_t dist : {3, 40, 64}) {
            unsigned char* dst = reinterpret_cast<unsigned char*>(base) + kSpan + 64 + dist;
            for (std::size_t n : {std::size_t(100), std::size_t(4096), std::size_t(20000), std::size_t(150000)}) {
                INFO("kernel '", kernel, "', (dst - src) mod 4 KiB = ", dist, ", size ", n);
                std::memset(dst - 32, 0xA5, n + 64);
                engine.copy(dst, src, n);
                CHECK(std::memcmp(dst, src, n) == 0);
                const std::vector<unsigned char> canary(32, 0xA5);
                CHECK(std::memcmp(dst - 32, canary.data(), 32) == 0);
                CHECK(std::memcmp(dst + n, canary.data(), 32) == 0);
                std::memset(dst - 32, 0xA5, n + 64);
                engine.copy_batch({Region{dst, src, n / 2}, Region{dst + n / 2, src + n / 2, n - n / 2}});
                CHECK(std::memcmp(dst, src, n) == 0);
                CHECK(std::memcmp(dst + n, canary.data(), 32) == 0);
            }
        }
    }
}

TEST_CASE("zero bytes is a no-op, even with null pointers") {
    CopyEngine engine;
    engine.copy(nullptr, nullptr, 0);
    unsigned char a = 1, b = 2;
    engine.copy(&a, &b, 0);
    CHECK(a == 1);
    CHECK(engine.stats().copies == 0);
}

TEST_CASE("null pointers and overlapping ranges are rejected with nothing written") {
    CopyEngine engine;
    GuardedBuffer buf(4096);
    fill_pattern(buf.data(), 4096, 1);
    std::vector<unsigned char> before(buf.data(), buf.data() + 4096);

    CHECK_THROWS_WITH_AS(engine.copy(nullptr, buf.data(), 16), doctest::Contains("null destination"), Error);
    CHECK_THROWS_WITH_AS(engine.copy(buf.data(), nullptr, 16), doctest::Contains("null source"), Error);
    CHECK_THROWS_WITH_AS(engine.copy(buf.data() + 100, buf.data(), 200), doctest::Contains("overlap"), Error);
    CHECK_THROWS_WITH_AS(engine.copy(buf.data(), buf.data() + 100, 200), doctest::Contains("overlap"), Error);
    CHECK_THROWS_WITH_AS(engine.copy(buf.data(), buf.data(), 1), doctest::Contains("overlap"), Error);
    // Past the end of the address space.
    CHECK_THROWS_AS(engine.copy(buf.data(), reinterpret_cast<void*>(~std::uintptr_t(0) - 8), 64), Error);

    CHECK(std::memcmp(before.data(), buf.data(), 4096) == 0);
    CHECK(buf.canaries_intact());
    CHECK(engine.stats().copies == 0);

    // Adjacent ranges do not overlap.
    engine.copy(buf.data(), buf.data() + 2048, 2048);
    CHECK(std::memcmp(buf.data(), before.data() + 2048, 2048) == 0);
}

TEST_CASE("the error message names the pointers and sizes at fault") {
    CopyEngine engine;
    std::vector<unsigned char> b(64);
    try {
        engine.copy(b.data() + 8, b.data(), 32);
        FAIL("no exception");
    } catch (const std::exception& e) { // tilecopy::Error is a standard exception
        const std::string msg = e.what();
        CHECK(msg.find("+32") != std::string::npos);
        CHECK(msg.find("0x") != std::string::npos);
    }
}

TEST_CASE("copy_regions checks every region before writing any") {
    CopyEngine engine;
    GuardedBuffer a(1000), b(1000), src(2000);
    fill_pattern(src.data(), 2000, 9);
    std::vector<Region> regions{{a.data(), src.data(), 1000}, {b.data(), b.data() + 10, 100}};
    CHECK_THROWS_WITH_AS(engine.copy_regions(regions.data(), regions.size()), doctest::Contains("region 1"), Error);
    for (std::size_t i = 0; i < 1000; ++i) REQUIRE(a.data()[i] == 0);

    regions[1] = {b.data(), src.data() + 1000, 1000};
    engine.copy_regions(regions.data(), regions.size());
    CHECK(std::memcmp(a.data(), src.data(), 1000) == 0);
    CHECK(std::memcmp(b.data(), src.data() + 1000, 1000) == 0);
    CHECK(a.canaries_intact());
    CHECK(b.canaries_intact());
    CHECK_THROWS_AS(engine.copy_regions(nullptr, 3), Error);
    engine.copy_regions(nullptr, 0);
}

TEST_CASE("invalid options are rejected with the option named") {
    Options o;
    o.kernel = "sse9";
    CHECK_THROWS_WITH_AS(CopyEngine{o}, doctest::Contains("sse9"), Error);
    o = Options{};
    o.block_bytes = 10;
    CHECK_THROWS_WITH_AS(CopyEngine{o}, doctest::Contains("block_bytes"), Error);
    o = Options{};
    o.tile_bytes = 0;
    CHECK_THROWS_WITH_AS(CopyEngine{o}, doctest::Contains("tile_bytes"), Error);
    o = Options{};
    o.numa = NumaPolicy::Node;
    o.numa_node = 99;
    CHECK_THROWS_WITH_AS(CopyEngine{o}, doctest::Contains("numa_node 99"), Error);
}

TEST_CASE("describe names the kernel, thresholds and arenas") {
    CopyEngine engine;
    const auto lines = engine.describe();
    auto has = [&](const char* prefix) {
        for (const auto& l : lines)
            if (l.rfind(prefix, 0) == 0) return true;
        return false;
    };
    CHECK(has("kernel: "));
    CHECK(has("inline below: "));
    CHECK(has("non-temporal stores from: "));
    CHECK(has("topology: "));
    CHECK(has("arena 0: "));
    for (const auto& l : lines) MESSAGE(l);
}

TEST_CASE("eight threads copying through one engine at once all get exact results") {
    Options o;
    o.block_bytes = 16 << 10;
    o.inline_threshold = 32 << 10;
    CopyEngine engine(o);
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 30; ++i) {
                const std::size_t bytes = (std::size_t(1) << (10 + (i + t) % 12)) + std::size_t(t) * 3;
                std::vector<unsigned char> src(bytes), dst(bytes + 64, 0xA5);
                fill_pattern(src.data(), bytes, std::uint32_t(t * 100 + i));
                engine.copy(dst.data() + 1, src.data(), bytes);
                if (std::memcmp(dst.data() + 1, src.data(), bytes) != 0 || dst[0] != 0xA5 || dst[bytes + 1] != 0xA5)
                    ++bad;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(bad.load() == 0);
    CHECK(engine.stats().copies == 8 * 30);
}

TEST_CASE("helpers that never linger, or linger long, still give exact copies") {
    for (std::size_t linger : {std::size_t(0), std::size_t(50000)}) {
        Options o;
        o.linger_us = linger;
        o.block_bytes = 64 << 10;
        CopyEngine engine(o);
        for (int i = 0; i < 5; ++i) check_copy(engine, (std::size_t(2) << 20) + 17 * i, 1, 2, std::uint32_t(i));
        bool described = false;
        for (const auto& line : engine.describe())
            described = described || line == "helpers linger: " + std::to_string(linger) +
                                                 " us after their last block (option Options::linger_us)";
        CHECK(described);
        CHECK(engine.stats().parallel_copies == 5);
    } // destroying an engine whose helpers linger 50 ms tells them to leave
}

TEST_CASE("a copy smaller than one block per thread is split evenly and still exact") {
    Options o;
    o.inline_threshold = 64 << 10;
    CopyEngine engine(o); // default blocks: 256 KiB
    for (std::size_t bytes : {std::size_t(64) << 10, (std::size_t(100) << 10) + 3, (std::size_t(256) << 10) - 1,
                              std::size_t(256) << 10, (std::size_t(511) << 10) + 7})
        for (std::size_t off : {0, 3, 61}) check_copy(engine, bytes, off, 64 - off, std::uint32_t(bytes));
    CHECK(engine.stats().parallel_copies == 15);
}

TEST_CASE("a copy while the helpers sleep runs on the caller; the next within the linger uses them") {
    Options o;
    o.inline_threshold = 4 << 10;
    o.idle_inline_threshold = std::size_t(64) << 20;
    o.linger_us = 10'000'000; // "within the linger" for the rest of the test
    CopyEngine engine(o);
    check_copy(engine, (std::size_t(1) << 20) + 5, 3, 1, 1); // no helper awake, no copy before
    CHECK(engine.stats().inline_copies == 1);
    CHECK(engine.stats().parallel_copies == 0);
    check_copy(engine, (std::size_t(1) << 20) + 5, 3, 1, 2); // within the linger of the last
    CHECK(engine.stats().parallel_copies == 1);
    check_copy(engine, 2 << 10, 0, 0, 3); // below the inline threshold: inline whatever the helpers do
    CHECK(engine.stats().inline_copies == 2);

    o.linger_us = 0; // helpers leave at once, and no copy is ever within the linger of another
    CopyEngine alone(o);
    for (int i = 0; i < 3; ++i) check_copy(alone, std::size_t(1) << 20, 1, 2, std::uint32_t(i));
    CHECK(alone.stats().inline_copies == 3);
    o.idle_inline_threshold = 1; // never: the inline threshold alone decides
    CopyEngine never(o);
    check_copy(never, std::size_t(1) << 20, 1, 2, 4);
    CHECK(never.stats().parallel_copies == 1);
}

TEST_CASE("the string copy stops at the non-temporal and inline thresholds") {
    Options o;
    o.string_copy_threshold = std::numeric_limits<std::size_t>::max();
    o.nontemporal_threshold = 8192;
    o.inline_threshold = 64 * 1024;
    o.idle_inline_threshold = 64 * 1024;
    CopyEngine engine(o);
    check_copy(engine, 100, 0, 0, 1);
    CHECK(engine.stats().nontemporal_copies == 0);
    check_copy(engine, 8192, 3, 5, 2); // non-temporal, so the kernel's, not the string copy
    CHECK(engine.stats().nontemporal_copies == 1);
    CHECK(engine.stats().inline_copies == 2);
    check_copy(engine, 64 * 1024, 0, 0, 3); // past the inline threshold: the helpers'
    CHECK(engine.stats().parallel_copies == 1);
    CHECK(engine.stats().copies == 3);
    CHECK(engine.stats().bytes == 100 + 8192 + 64 * 1024);
}

TEST_CASE("inline copies by the string copy are exact at every size and alignment") {
    for (std::size_t below : {std::size_t(1), std::numeric_limits<std::size_t>::max()}) {
        Options o;
        o.string_copy_threshold = below; // 1: the kernel always; SIZE_MAX: the string copy always
        CopyEngine engine(o);
        CHECK(engine.options().string_copy_threshold == below);
        for (std::size_t bytes : {std::size_t(1), std::size_t(63), std::size_t(4096 + 5), std::size_t(100000)})
            for (std::size_t off : {0, 1, 33}) check_copy(engine, bytes, off, (off * 7) % 64, std::uint32_t(bytes + off));
        CHECK(engine.stats().inline_copies == 12);
    }
}

TEST_CASE("small copies count once whichever thread makes them, and a rejected one counts nothing") {
    CopyEngine engine; // the first thread to copy runs its small copies in the caller
    const std::size_t below = engine.options().string_copy_threshold;
    REQUIRE(below > 200);
    for (int i = 0; i < 3; ++i) check_copy(engine, 100, 1, 2, std::uint32_t(i));
    std::thread other([&engine] {
        for (int i = 0; i < 2; ++i) check_copy(engine, 200, 3, 0, std::uint32_t(10 + i)); // through the library
    });
    other.join();
    check_copy(engine, 50, 0, 0, 20);
    std::vector<unsigned char> buf(300, 7);
    CHECK_THROWS_AS(engine.copy(buf.data() + 10, buf.data(), 100), Error);
    CHECK_THROWS_AS(engine.copy(nullptr, buf.data(), 100), Error);
    CHECK(std::all_of(buf.begin(), buf.end(), [](unsigned char c) { return c == 7; }));
    const Stats s = engine.stats();
    CHECK(s.copies == 6);
    CHECK(s.inline_copies == 6);
    CHECK(s.parallel_copies == 0);
    CHECK(s.bytes == 3 * 100 + 2 * 200 + 50);
}
