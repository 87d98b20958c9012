// Block placement over a FakeTopology: policies, page-boundary splits, coverage.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "fake_topology.hpp"
#include "placement.hpp"
#include "plan.hpp"
#include "support.hpp"

using namespace tilecopy::detail;
using tilecopy::Conversion;
using tilecopy::NumaPolicy;
using tilecopy::Options;
using tilecopy::Region;
using tilecopy::test::FakeTopology;
using tilecopy::test::kPage;

namespace {

// Every element of every region covered by exactly one block; tiles partition the blocks.
void check_plan_is_sound(const Plan& plan) {
    std::vector<std::vector<unsigned char>> seen(plan.region_count);
    for (std::size_t r = 0; r < plan.region_count; ++r) seen[r].assign(plan.regions[r].count, 0);
    for (const Block& b : plan.blocks) {
        REQUIRE(b.first <= b.last);
        REQUIRE(b.last < plan.region_count);
        if (b.first == b.last) CHECK(b.begin < b.end);
        for (std::size_t r = b.first; r <= b.last; ++r) {
            const std::size_t from = r == b.first ? b.begin : 0;
            const std::size_t to = r == b.last ? b.end : plan.regions[r].count;
            for (std::size_t i = from; i < to; ++i) ++seen[r][i];
        }
    }
    std::size_t not_once = 0;
    for (const auto& region : seen)
        for (unsigned char count : region) not_once += count != 1;
    CHECK(not_once == 0);
    REQUIRE(!plan.tiles.empty());
    CHECK(plan.tiles.front().first_block == 0);
    CHECK(plan.tiles.back().end_block == plan.blocks.size());
    for (std::size_t t = 0; t < plan.tiles.size(); ++t) {
        CHECK(plan.tiles[t].first_block < plan.tiles[t].end_block);
        if (t + 1 < plan.tiles.size()) CHECK(plan.tiles[t].end_block == plan.tiles[t + 1].first_block);
    }
}

const char* dst_of(const Plan& plan, const Block& b) {
    return static_cast<const char*>(plan.regions[b.first].dst) + b.begin * dst_element_size(plan.conversion);
}

} // namespace

TEST_CASE("placement asks no page location with one node or with the policy off") {
    tilecopy::test::GuardedBuffer dst(1 << 20), src(1 << 20);
    const Region region{dst.data(), src.data(), dst.size()};
    for (unsigned nodes : {1u, 2u}) {
        FakeTopology fake(std::vector<unsigned>(nodes, 2));
        fake.own(dst.data(), dst.size(), int(nodes) - 1);
        Plan plan = make_plan(&region, 1, Conversion::None, PlanOptions{1 << 30, 256 << 10});
        place_blocks(plan, fake, nodes == 1 ? NumaPolicy::Auto : NumaPolicy::Off, 0);
        for (const Block& b : plan.blocks) CHECK(b.node == 0);
        CHECK(fake.queries.load() == 0);
    }
}

TEST_CASE("placement by policy: node, interleave, and auto by destination, then source, then in turn") {
    tilecopy::test::GuardedBuffer dst(1 << 20), src(1 << 20);
    const Region region{dst.data(), src.data(), dst.size()};
    auto plan_for = [&] { return make_plan(&region, 1, Conversion::None, PlanOptions{1 << 30, 128 << 10}); };
    FakeTopology fake({2, 2, 2});

    Plan plan = plan_for();
    REQUIRE(plan.blocks.size() == 8);
    place_blocks(plan, fake, NumaPolicy::Node, 2);
    for (const Block& b : plan.blocks) CHECK(b.node == 2);
    place_blocks(plan, fake, NumaPolicy::Node, 7); // out of range: clamped
    for (const Block& b : plan.blocks) CHECK(b.node == 2);
    place_blocks(plan, fake, NumaPolicy::Interleave, 0);
    for (std::size_t i = 0; i < plan.blocks.size(); ++i) CHECK(plan.blocks[i].node == int(i % 3));

    plan = plan_for(); // nothing known: in turn
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    for (std::size_t i = 0; i < plan.blocks.size(); ++i) CHECK(plan.blocks[i].node == int(i % 3));

    fake.own(src.data(), src.size(), 1); // the source alone known
    plan = plan_for();
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    for (const Block& b : plan.blocks) CHECK(b.node == 1);

    fake.own(dst.data(), dst.size(), 2); // the destination wins over the source
    plan = plan_for();
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    REQUIRE(plan.blocks.size() == 8);
    for (const Block& b : plan.blocks) CHECK(b.node == 2);
    check_plan_is_sound(plan);
}

TEST_CASE("a block whose destination changes node is split exactly at that page boundary") {
    for (Conversion conversion : {Conversion::None, Conversion::F32ToBF16, Conversion::BF16ToF32}) {
        CAPTURE(static_cast<int>(conversion));
        const std::size_t des = dst_element_size(conversion), ses = src_element_size(conversion);
        const std::size_t count = (1 << 20) / des;
        tilecopy::test::GuardedBuffer dst(count * des), src(count * ses);
        const Region region{dst.data(), src.data(), count};
        FakeTopology fake({1, 1});
        // Pages 0..99 on node 0, the rest on node 1: page 100 lies inside a block.
        const unsigned char* boundary = dst.data() + 100 * kPage;
        fake.own(dst.data(), 100 * kPage, 0);
        fake.own(boundary, dst.size() - 100 * kPage, 1);
        const std::size_t block_bytes = 256 << 10;
        Plan plan = make_plan(&region, 1, conversion, PlanOptions{512 << 10, block_bytes});
        const std::size_t blocks_before = plan.blocks.size();
        const std::size_t tiles_before = plan.tiles.size();
        place_blocks(plan, fake, NumaPolicy::Auto, 0);

        CHECK(plan.blocks.size() == blocks_before + 1);
        CHECK(plan.tiles.size() == tiles_before);
        check_plan_is_sound(plan);
        std::size_t splits_at_boundary = 0;
        for (const Block& b : plan.blocks) {
            const char* start = dst_of(plan, b);
            CHECK(b.node == fake.owner(start));
            const char* last_byte = start + (b.end - b.begin) * des - 1;
            CHECK(fake.owner(last_byte) == b.node); // no block spans both nodes
            if (start == reinterpret_cast<const char*>(boundary)) ++splits_at_boundary;
        }
        CHECK(splits_at_boundary == 1);
        // Tiles still cover 512 KiB (of the wider side) each: no block crosses a tile edge.
        const std::size_t tile_elems = (512 << 10) / std::max(des, ses);
        for (std::size_t t = 0; t < plan.tiles.size(); ++t)
            for (std::size_t i = plan.tiles[t].first_block; i < plan.tiles[t].end_block; ++i) {
                CHECK(plan.blocks[i].begin >= t * tile_elems);
                CHECK(plan.blocks[i].end <= (t + 1) * tile_elems);
            }
    }
}

TEST_CASE("splitting stays on element edges for a misaligned destination and is bounded for interleaved pages") {
    // bf16 destination one byte past a page: a page boundary falls inside an element.
    const std::size_t count = 300000;
    tilecopy::test::GuardedBuffer dst(count * 2, 1), src(count * 4);
    const Region region{dst.data(), src.data(), count};
    FakeTopology fake({1, 1, 1});
    // Owners change on every page (numactl --interleave over three nodes).
    for (std::size_t page = 0; page * kPage < dst.size() + kPage; ++page)
        fake.own(dst.data() - 1 + page * kPage, kPage, int(page % 3));
    Plan plan = make_plan(&region, 1, Conversion::F32ToBF16, PlanOptions{1 << 30, 256 << 10});
    const std::size_t blocks_before = plan.blocks.size();
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    check_plan_is_sound(plan);
    CHECK(plan.blocks.size() > blocks_before);
    CHECK(plan.blocks.size() < dst.size() / kPage / 2); // not one block per page
    for (const Block& b : plan.blocks) CHECK(b.node == fake.owner(dst_of(plan, b)));
}

TEST_CASE("auto placement asks for a sample of pages in a few bulk calls, and finds a change between samples exactly") {
    const std::size_t size = 16 << 20;
    tilecopy::test::GuardedBuffer dst(size), src(size);
    const Region region{dst.data(), src.data(), size};
    FakeTopology fake({1, 1});
    fake.own(dst.data(), size, 1);
    auto plan_for = [&] { return make_plan(&region, 1, Conversion::None, PlanOptions{1 << 30, 64 << 10}); };
    Plan plan = plan_for();
    const std::size_t blocks = plan.blocks.size();
    REQUIRE(blocks == 256);
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    check_plan_is_sound(plan);
    CHECK(plan.blocks.size() == blocks);
    for (const Block& b : plan.blocks) CHECK(b.node == 1);
    // One system call per page was ~2 us; a bulk call is one system call for all its pages,
    // and about 65 pages per run of blocks are asked, not two per block.
    CHECK(fake.queries.load() == 0);
    CHECK(fake.bulk_queries.load() <= 6);
    CHECK(fake.pages_asked.load() <= 70);

    // Destination untouched: the sources decide, still by sample.
    fake.owners.clear();
    fake.own(src.data(), size, 0);
    fake.bulk_queries = 0;
    fake.pages_asked = 0;
    plan = plan_for();
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    for (const Block& b : plan.blocks) CHECK(b.node == 0);
    CHECK(fake.queries.load() == 0);
    CHECK(fake.bulk_queries.load() <= 6);
    CHECK(fake.pages_asked.load() <= 140);

    // First half on node 1, second half never touched (its source on node 0): a cut where the
    // destination's owner becomes unknown, and the sources of the rest, by sample too.
    fake.owners.clear();
    fake.own(dst.data(), size / 2 + 5 * kPage, 1);
    fake.own(src.data(), size, 0);
    fake.bulk_queries = 0;
    fake.pages_asked = 0;
    plan = plan_for();
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    check_plan_is_sound(plan);
    CHECK(plan.blocks.size() == blocks + 1);
    for (const Block& b : plan.blocks) CHECK(b.node == (dst_of(plan, b) < reinterpret_cast<const char*>(dst.data()) + size / 2 + 5 * kPage ? 1 : 0));
    CHECK(fake.queries.load() == 0);
    CHECK(fake.bulk_queries.load() <= 6);
    CHECK(fake.pages_asked.load() <= 200);

    // The owner changes inside block 130 (page 2085), between two sampled blocks: the blocks
    // between the samples are asked too, and block 130 is cut at that page.
    for (std::size_t page_index : {std::size_t(2085), std::size_t(3001)}) {
        CAPTURE(page_index);
        fake.owners.clear();
        fake.own(dst.data(), page_index * kPage, 1);
        fake.own(dst.data() + page_index * kPage, size - page_index * kPage, 0);
        plan = plan_for();
        place_blocks(plan, fake, NumaPolicy::Auto, 0);
        check_plan_is_sound(plan);
        CHECK(plan.blocks.size() == blocks + 1);
        std::size_t cuts = 0;
        for (const Block& b : plan.blocks) {
            const char* start = dst_of(plan, b);
            CHECK(b.node == fake.owner(start));
            CHECK(fake.owner(start + (b.end - b.begin) - 1) == b.node);
            cuts += start == reinterpret_cast<const char*>(dst.data()) + page_index * kPage;
        }
        CHECK(cuts == 1);
    }
}

TEST_CASE("an owner change exactly at a block edge splits nothing; several changes in a block cut it at each") {
    tilecopy::test::GuardedBuffer dst(1 << 20), src(1 << 20);
    const Region region{dst.data(), src.data(), dst.size()};
    FakeTopology fake({1, 1, 1});
    auto plan_for = [&] { return make_plan(&region, 1, Conversion::None, PlanOptions{1 << 30, 256 << 10}); };

    fake.own(dst.data(), 256 << 10, 0); // exactly the first block
    fake.own(dst.data() + (256 << 10), dst.size() - (256 << 10), 1);
    Plan plan = plan_for();
    REQUIRE(plan.blocks.size() == 4);
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    REQUIRE(plan.blocks.size() == 4);
    const int expected[] = {0, 1, 1, 1};
    for (std::size_t i = 0; i < 4; ++i) CHECK(plan.blocks[i].node == expected[i]);

    // Second block: pages 64-73 on node 2, 74-83 on 0, 84-93 on 2, 94-127 unknown (source on
    // 0); the first block on 0, the last two on 1 (so the first and last pages, the only samples, differ).
    fake.owners.clear();
    fake.own(dst.data(), 256 << 10, 0);
    fake.own(dst.data() + (256 << 10), dst.size() - (256 << 10), 1);
    fake.own(dst.data() + 74 * kPage, 10 * kPage, 0);
    fake.own(dst.data() + 64 * kPage, 10 * kPage, 2);
    fake.own(dst.data() + 84 * kPage, 10 * kPage, 2);
    for (std::size_t page = 94; page < 128; ++page) fake.owners.erase(reinterpret_cast<std::uintptr_t>(dst.data()) + page * kPage);
    fake.own(src.data(), src.size(), 0);
    plan = plan_for();
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    check_plan_is_sound(plan);
    REQUIRE(plan.blocks.size() == 7);
    const std::size_t starts[] = {0, 64, 74, 84, 94, 128, 192};
    const int nodes[] = {0, 2, 0, 2, 0, 1, 1};
    for (std::size_t i = 0; i < 7; ++i) {
        CAPTURE(i);
        CHECK(plan.blocks[i].begin == starts[i] * kPage);
        CHECK(plan.blocks[i].node == nodes[i]);
    }
}

TEST_CASE("a block packing several small regions is placed by its first region") {
    std::vector<tilecopy::test::GuardedBuffer> dsts, srcs;
    std::vector<Region> regions;
    for (int i = 0; i < 40; ++i) {
        dsts.emplace_back(3000);
        srcs.emplace_back(3000);
    }
    for (int i = 0; i < 40; ++i) regions.push_back(Region{dsts[i].data(), srcs[i].data(), 3000});
    FakeTopology fake({1, 1});
    fake.own(dsts[0].data(), 3000, 1);
    for (int i = 1; i < 40; ++i) fake.own(dsts[i].data(), 3000, 0);
    Plan plan = make_plan(regions.data(), regions.size(), Conversion::None, PlanOptions{1 << 30, 64 << 10});
    place_blocks(plan, fake, NumaPolicy::Auto, 0);
    check_plan_is_sound(plan);
    REQUIRE(plan.blocks.size() >= 2);
    CHECK(plan.blocks[0].first != plan.blocks[0].last);
    for (const Block& b : plan.blocks) CHECK(b.node == fake.owner(dst_of(plan, b)));
}

TEST_CASE("a copy whose destination is split between two nodes is byte-exact") {
    auto fake = std::make_shared<FakeTopology>(std::vector<unsigned>{1, 1});
    const std::size_t size = (2 << 20) + 77;
    tilecopy::test::GuardedBuffer src(size), dst(size, 64);
    fake->own(dst.data(), 77 * kPage, 1);
    fake->own(dst.data() + 77 * kPage, size - 77 * kPage, 0);
    Options options;
    options.block_bytes = 256 << 10;
    tilecopy::CopyEngine engine(options, fake);
    tilecopy::test::fill_pattern(src.data(), size, 99);
    engine.copy(dst.data(), src.data(), size);
    CHECK(std::memcmp(dst.data(), src.data(), size) == 0);
    CHECK(dst.canaries_intact());
    CHECK(fake->bulk_queries.load() > 0);
}
