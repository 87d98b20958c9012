// Raw batches whose regions overlap each other are refused: a destination overlapping another
// region's destination or source (regions run in parallel), naming both indices, with nothing
// written. Sources may overlap. Checked against a brute-force reference on random batches.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "support.hpp"

using namespace tilecopy;
using tilecopy::test::fill_pattern;
using tilecopy::test::GuardedBuffer;

namespace {

// Runs the batch in all three forms; each must throw tilecopy::Error naming `first` and
// `second`, and leave the arena as it was.
void expect_refused(CopyEngine& engine, GuardedBuffer& arena, const std::vector<Region>& regions,
                    Conversion conversion, std::size_t first, std::size_t second) {
    const std::vector<unsigned char> before(arena.data(), arena.data() + arena.size());
    const std::string needle = "regions " + std::to_string(first) + " and " + std::to_string(second) + " overlap";
    CHECK_THROWS_WITH_AS(engine.copy_batch(regions, conversion), doctest::Contains(needle.c_str()), Error);
    CHECK_THROWS_WITH_AS(engine.copy_regions(regions.data(), regions.size(), conversion),
                         doctest::Contains(needle.c_str()), Error);
    CHECK_THROWS_WITH_AS(engine.copy_batch_async(regions, conversion), doctest::Contains(needle.c_str()), Error);
    CHECK(std::memcmp(arena.data(), before.data(), before.size()) == 0);
    CHECK(arena.canaries_intact());
}

// Ten 1000-byte regions: sources in the arena's first half, destinations in its second.
std::vector<Region> ten_regions(GuardedBuffer& arena) {
    std::vector<Region> regions;
    for (int i = 0; i < 10; ++i) regions.push_back({arena.data() + 20000 + i * 1000, arena.data() + i * 1000, 1000});
    return regions;
}

} // namespace

TEST_CASE("a batch whose destinations overlap each other is refused naming both regions") {
    CopyEngine engine;
    GuardedBuffer arena(40000);
    fill_pattern(arena.data(), arena.size(), 3);
    auto regions = ten_regions(arena);
    regions[7].dst = static_cast<unsigned char*>(regions[3].dst) + 999; // one shared byte
    expect_refused(engine, arena, regions, Conversion::None, 3, 7);
    regions[7].dst = regions[3].dst; // the same destination twice
    expect_refused(engine, arena, regions, Conversion::None, 3, 7);
}

TEST_CASE("a batch where one region's destination overlaps another's source is refused") {
    CopyEngine engine;
    GuardedBuffer arena(40000);
    fill_pattern(arena.data(), arena.size(), 4);
    auto regions = ten_regions(arena);
    regions[5].dst = static_cast<unsigned char*>(const_cast<void*>(regions[2].src)) + 500;
    expect_refused(engine, arena, regions, Conversion::None, 2, 5);
    regions = ten_regions(arena);
    regions[1].src = static_cast<unsigned char*>(regions[8].dst) + 10; // the source lies later
    expect_refused(engine, arena, regions, Conversion::None, 1, 8);
}

TEST_CASE("regions that share sources or touch without overlapping are copied exactly") {
    CopyEngine engine;
    GuardedBuffer arena(40000);
    fill_pattern(arena.data(), arena.size(), 5);
    std::vector<unsigned char> expected(arena.data(), arena.data() + arena.size());
    std::vector<Region> regions;
    for (int i = 0; i < 10; ++i) { // every region reads the same source; destinations touch
        regions.push_back({arena.data() + 20000 + i * 1000, arena.data() + 100, 1000});
        std::memcpy(expected.data() + 20000 + i * 1000, expected.data() + 100, 1000);
    }
    regions.push_back({arena.data() + 19000, arena.data() + 30000 - 1000, 0}); // empty: never overlaps
    engine.copy_batch(regions);
    CHECK(std::memcmp(arena.data(), expected.data(), expected.size()) == 0);
    CHECK(arena.canaries_intact());
}

TEST_CASE("overlap across regions is measured in each side's element size with a conversion") {
    CopyEngine engine;
    GuardedBuffer arena(80000);
    fill_pattern(arena.data(), arena.size(), 6);
    // float32 -> bfloat16: 100 elements read 400 bytes and write 200.
    std::vector<Region> regions{{arena.data() + 40000, arena.data(), 100}, {arena.data() + 40200, arena.data() + 400, 100}};
    const std::vector<unsigned char> before(arena.data(), arena.data() + arena.size());
    engine.copy_batch(regions, Conversion::F32ToBF16); // destinations touch: accepted
    CHECK(std::memcmp(arena.data(), before.data(), 40000) == 0);
    regions[1].dst = arena.data() + 40198;
    expect_refused(engine, arena, regions, Conversion::F32ToBF16, 0, 1);
    // The second destination inside the first region's 400 source bytes, not past its 200th.
    regions[1].dst = arena.data() + 300;
    regions[1].src = arena.data() + 1000;
    expect_refused(engine, arena, regions, Conversion::F32ToBF16, 0, 1);
}

TEST_CASE("random batches are refused exactly when a brute-force check finds an overlap") {
    CopyEngine engine;
    std::mt19937 rng(12345);
    GuardedBuffer arena(4096);
    std::size_t refused = 0, accepted = 0;
    for (int round = 0; round < 3000; ++round) {
        const std::size_t n = 2 + rng() % 6;
        const auto conversion = static_cast<Conversion>(rng() % 5);
        const std::size_t des = dst_element_size(conversion), ses = src_element_size(conversion);
        std::vector<Region> regions;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t count = rng() % 40;
            regions.push_back({arena.data() + rng() % 3800, arena.data() + rng() % 3800, count});
        }
        auto overlap = [](std::uintptr_t a, std::size_t an, std::uintptr_t b, std::size_t bn) {
            return an && bn && a < b + bn && b < a + an;
        };
        auto at = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };
        bool self = false, cross = false;
        std::vector<std::pair<std::size_t, std::size_t>> pairs;
        for (std::size_t i = 0; i < n; ++i) {
            const Region& a = regions[i];
            self = self || overlap(at(a.dst), a.count * des, at(a.src), a.count * ses);
            for (std::size_t j = i + 1; j < n; ++j) {
                const Region& b = regions[j];
                if (overlap(at(a.dst), a.count * des, at(b.dst), b.count * des) ||
                    overlap(at(a.dst), a.count * des, at(b.src), b.count * ses) ||
                    overlap(at(b.dst), b.count * des, at(a.src), a.count * ses)) {
                    cross = true;
                    pairs.emplace_back(i, j);
                }
            }
        }
        if (self) continue; // refused per region (tested elsewhere)
        std::string error;
        try {
            engine.copy_batch(regions, conversion);
        } catch (const Error& e) {
            error = e.what();
        }
        CAPTURE(round);
        CAPTURE(error);
        REQUIRE(error.empty() != cross);
        if (cross) {
            ++refused;
            bool named = false;
            for (const auto& [i, j] : pairs)
                named = named || error.find("regions " + std::to_string(i) + " and " + std::to_string(j) + " overlap") !=
                                     std::string::npos;
            CHECK(named);
        } else {
            ++accepted;
        }
    }
    CHECK(refused > 100);
    CHECK(accepted > 100);
}

TEST_CASE("a batch of 10000 regions with one overlapping pair far apart is refused, and without it copied") {
    CopyEngine engine;
    const std::size_t n = 10000, each = 100;
    std::vector<unsigned char> src(n * each);
    GuardedBuffer dst(n * each);
    fill_pattern(src.data(), src.size(), 9);
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(7)); // destinations in no particular order
    std::vector<Region> regions;
    for (std::size_t i = 0; i < n; ++i) regions.push_back({dst.data() + order[i] * each, src.data() + i * each, each});
    const Region saved = regions[9000];
    std::size_t neighbour = 0; // the region whose destination lies just before region 9000's
    for (std::size_t i = 0; i < n; ++i)
        if (order[i] + 1 == order[9000]) neighbour = i;
    regions[9000].dst = dst.data() + order[neighbour] * each + each - 1;
    expect_refused(engine, dst, regions, Conversion::None, std::min<std::size_t>(neighbour, 9000),
                   std::max<std::size_t>(neighbour, 9000));
    regions[9000] = saved;
    engine.copy_batch(regions);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += std::memcmp(dst.data() + order[i] * each, src.data() + i * each, each) != 0;
    CHECK(bad == 0);
    CHECK(dst.canaries_intact());
}
