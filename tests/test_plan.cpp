#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "plan.hpp"

using namespace tilecopy;
using namespace tilecopy::detail;

namespace {

void* at(std::uintptr_t address) { return reinterpret_cast<void*>(address); }

// Walks the plan and checks its promises: every element of every region covered exactly once
// and in order, tiles partition the blocks, blocks stay within their size (plus one line),
// and cuts inside a region fall on 64-byte destination boundaries.
void check_plan(const std::vector<Region>& regions, Conversion conversion, const PlanOptions& options) {
    const Plan plan = make_plan(regions.data(), regions.size(), conversion, options);
    const std::size_t des = dst_element_size(conversion);
    const std::size_t wide = std::max(des, src_element_size(conversion));
    std::size_t total = 0;
    for (const auto& r : regions) total += r.count;
    REQUIRE(plan.total_count == total);
    CHECK(plan.total_dst_bytes == total * des);

    std::vector<std::vector<int>> seen(regions.size());
    for (std::size_t r = 0; r < regions.size(); ++r) seen[r].assign(regions[r].count, 0);
    std::size_t region = 0, offset = 0; // where the next block must start
    for (const Block& b : plan.blocks) {
        while (region < regions.size() && offset == regions[region].count) {
            ++region;
            offset = 0;
        }
        REQUIRE(b.first == region);
        REQUIRE(b.begin == offset);
        REQUIRE(b.last >= b.first);
        std::size_t elems = 0;
        for_each_piece(plan, b, [&](char* d, const char* s, std::size_t n) {
            while (offset == regions[region].count) {
                ++region;
                offset = 0;
            }
            const Region& cur = regions[region];
            REQUIRE(d == static_cast<char*>(cur.dst) + offset * des);
            REQUIRE(s == static_cast<const char*>(cur.src) + offset * src_element_size(conversion));
            for (std::size_t i = 0; i < n; ++i) ++seen[region][offset + i];
            offset += n;
            elems += n;
        });
        CHECK(elems > 0);
        CHECK(elems * wide <= std::max<std::size_t>(64, options.block_bytes) + 64 / des * wide);
        // A cut that ends a block inside a region lies on a destination line boundary.
        if (b.end < regions[b.last].count) {
            const auto end_address = reinterpret_cast<std::uintptr_t>(regions[b.last].dst) + b.end * des;
            CHECK(end_address % 64 == 0);
        }
    }
    std::size_t not_once = 0;
    for (std::size_t r = 0; r < regions.size(); ++r)
        for (std::size_t i = 0; i < regions[r].count; ++i) not_once += seen[r][i] != 1;
    CHECK(not_once == 0);

    std::size_t next = 0;
    for (const Tile& t : plan.tiles) {
        REQUIRE(t.first_block == next);
        REQUIRE(t.end_block > t.first_block);
        std::size_t tile_elems = 0;
        for (std::size_t i = t.first_block; i < t.end_block; ++i)
            for_each_piece(plan, plan.blocks[i], [&](char*, const char*, std::size_t n) { tile_elems += n; });
        CHECK(tile_elems * wide <= std::max<std::size_t>(64, options.tile_bytes) + 64 / des * wide);
        next = t.end_block;
    }
    CHECK(next == plan.blocks.size());
}

} // namespace

TEST_CASE("a plan of nothing has no blocks and no tiles") {
    const Plan plan = make_plan(nullptr, 0, Conversion::None, PlanOptions{});
    CHECK(plan.blocks.empty());
    CHECK(plan.tiles.empty());
    const std::vector<Region> empty{{at(0x1000), at(0x9000), 0}, {at(0x2000), at(0xa000), 0}};
    const Plan plan2 = make_plan(empty.data(), empty.size(), Conversion::None, PlanOptions{});
    CHECK(plan2.blocks.empty());
}

TEST_CASE("one region is covered exactly once, cut on destination lines, for every misalignment") {
    for (std::size_t misalign : {0, 1, 7, 31, 63}) {
        for (std::size_t bytes : {1, 63, 64, 65, 1000, 4096, 4097, 100000, 1 << 20}) {
            CAPTURE(misalign);
            CAPTURE(bytes);
            const std::vector<Region> r{{at(0x100000 + misalign), at(0x90000000 + 3), bytes}};
            check_plan(r, Conversion::None, PlanOptions{4096, 256});
            check_plan(r, Conversion::None, PlanOptions{1 << 20, 4096});
            check_plan(r, Conversion::None, PlanOptions{64, 64});
        }
    }
}

TEST_CASE("block sizes follow the option and tiles bound the blocks") {
    const std::vector<Region> r{{at(0x10000000), at(0x50000000), 10 << 20}};
    const Plan plan = make_plan(r.data(), 1, Conversion::None, PlanOptions{std::size_t(4) << 20, 256 << 10});
    CHECK(plan.blocks.size() == 40);
    CHECK(plan.tiles.size() == 3);
    CHECK(plan.tiles[0].end_block == 16);
    check_plan(r, Conversion::None, PlanOptions{std::size_t(4) << 20, 256 << 10});
}

TEST_CASE("many small regions are packed together into blocks") {
    std::vector<Region> regions;
    for (std::size_t i = 0; i < 1000; ++i)
        regions.push_back({at(0x10000000 + i * 8192 + (i % 64)), at(0x80000000 + i * 8192), 1000 + i % 37});
    const Plan plan = make_plan(regions.data(), regions.size(), Conversion::None, PlanOptions{1 << 30, 64 << 10});
    CHECK(plan.blocks.size() < 20);
    check_plan(regions, Conversion::None, PlanOptions{1 << 30, 64 << 10});
    check_plan(regions, Conversion::None, PlanOptions{100000, 4096});
}

TEST_CASE("regions of zero count between others are skipped") {
    const std::vector<Region> regions{{at(0x1000), at(0x90000), 0},
                                      {at(0x2000), at(0xa0000), 5000},
                                      {at(0x9000), at(0xb0000), 0},
                                      {at(0x20000), at(0xc0000), 70},
                                      {at(0x30000), at(0xd0000), 0}};
    check_plan(regions, Conversion::None, PlanOptions{1 << 20, 1024});
    check_plan(regions, Conversion::None, PlanOptions{2048, 64});
}

TEST_CASE("conversions are planned in elements with lines of the destination") {
    for (Conversion c : {Conversion::F32ToBF16, Conversion::BF16ToF32, Conversion::F32ToF16, Conversion::F16ToF32}) {
        CAPTURE(static_cast<int>(c));
        const std::size_t des = dst_element_size(c);
        for (std::size_t misalign_elems : {0, 1, 5, 15}) {
            const std::vector<Region> r{{at(0x100000 + misalign_elems * des), at(0x9000000), 123457}};
            check_plan(r, c, PlanOptions{1 << 20, 4096});
            check_plan(r, c, PlanOptions{8192, 128});
        }
    }
}

TEST_CASE("a destination that is not element-aligned is still covered exactly once") {
    const std::vector<Region> r{{at(0x100001), at(0x9000000), 100000}};
    const Plan plan = make_plan(r.data(), 1, Conversion::F32ToBF16, PlanOptions{1 << 20, 4096});
    std::size_t covered = 0;
    for (const Block& b : plan.blocks)
        for_each_piece(plan, b, [&](char*, const char*, std::size_t n) { covered += n; });
    CHECK(covered == 100000);
}

namespace {

std::vector<std::size_t> block_bytes_of(const Plan& plan) {
    std::vector<std::size_t> sizes;
    for (const Block& b : plan.blocks) {
        std::size_t n = 0;
        for_each_piece(plan, b, [&](char*, const char*, std::size_t c) { n += c; });
        sizes.push_back(n);
    }
    return sizes;
}

} // namespace

TEST_CASE("a guided plan cuts blocks finer toward the middle of each tile, where the threads meet") {
    const std::vector<Region> r{{at(0x10000000), at(0x50000000), std::size_t(8) << 20}};
    const PlanOptions guided{std::size_t(4) << 20, 256 << 10, 16 << 10, 2};
    check_plan(r, Conversion::None, guided);
    const Plan plan = make_plan(r.data(), 1, Conversion::None, guided);
    REQUIRE(plan.tiles.size() == 2);
    const auto sizes = block_bytes_of(plan);
    for (const Tile& t : plan.tiles) {
        // Full blocks at both ends, the smallest (16 KiB) in the middle, and never below it.
        CHECK(sizes[t.first_block] == (256 << 10));
        CHECK(sizes[t.end_block - 1] == (256 << 10));
        std::size_t smallest = SIZE_MAX, at_middle = 0, offset = 0;
        for (std::size_t i = t.first_block; i < t.end_block; ++i) {
            smallest = std::min(smallest, sizes[i]);
            if (offset <= (std::size_t(2) << 20) && offset + sizes[i] > (std::size_t(2) << 20)) at_middle = sizes[i];
            offset += sizes[i];
        }
        CHECK(smallest == (16 << 10));
        CHECK(at_middle == (16 << 10));
        // Sizes fall toward the middle, then rise: each half is monotonic.
        std::size_t half = t.first_block;
        while (half + 1 < t.end_block && sizes[half + 1] <= sizes[half]) ++half;
        for (std::size_t i = half + 1; i + 1 < t.end_block; ++i) CHECK(sizes[i + 1] >= sizes[i]);
    }
    // A uniform plan of the same copy has 32 blocks; the guided tail costs only a few more.
    CHECK(plan.blocks.size() > 32);
    CHECK(plan.blocks.size() < 32 + 2 * 16);
}

TEST_CASE("a guided plan for one thread, or without a tail size, is the uniform plan") {
    const std::vector<Region> r{{at(0x10000000), at(0x50000000), (std::size_t(3) << 20) + 5}};
    for (const PlanOptions& o : {PlanOptions{1 << 30, 256 << 10, 16 << 10, 1}, PlanOptions{1 << 30, 256 << 10, 0, 4}}) {
        const auto sizes = block_bytes_of(make_plan(r.data(), 1, Conversion::None, o));
        const auto uniform = block_bytes_of(make_plan(r.data(), 1, Conversion::None, PlanOptions{1 << 30, 256 << 10}));
        CHECK(sizes == uniform);
    }
}

TEST_CASE("guided plans cover every element once for every misalignment, conversion and thread count") {
    for (std::size_t threads : {2, 3, 16}) {
        for (std::size_t misalign : {0, 1, 63}) {
            for (std::size_t bytes : {1, 4097, 100000, (1 << 20) + 3, (5 << 20) + 7}) {
                CAPTURE(threads);
                CAPTURE(misalign);
                CAPTURE(bytes);
                const std::vector<Region> r{{at(0x100000 + misalign), at(0x90000000 + 3), bytes}};
                check_plan(r, Conversion::None, PlanOptions{1 << 20, 64 << 10, 4096, threads});
                check_plan(r, Conversion::None, PlanOptions{1 << 30, 256 << 10, 16 << 10, threads});
            }
            const std::vector<Region> c{{at(0x100000 + misalign * 2), at(0x9000000), 300001}};
            check_plan(c, Conversion::F32ToBF16, PlanOptions{1 << 20, 64 << 10, 4096, threads});
        }
    }
    std::vector<Region> many;
    for (std::size_t i = 0; i < 500; ++i) many.push_back({at(0x10000000 + i * 8192 + i % 64), at(0x80000000 + i * 8192), 3000 + i});
    check_plan(many, Conversion::None, PlanOptions{1 << 20, 64 << 10, 4096, 2});
}
