// Asynchronous and batched raw copies: results, progress, waiting, errors, many submitters.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "engine.hpp"
#include "support.hpp"

using namespace tilecopy;
using tilecopy::test::fill_pattern;
using tilecopy::test::GuardedBuffer;

TEST_CASE("an asynchronous copy returns a handle whose progress rises to the total") {
    CopyEngine engine;
    const std::size_t bytes = (std::size_t(256) << 20) / test::kSanitizedDivisor + 77;
    std::vector<unsigned char> src(bytes), dst(bytes);
    fill_pattern(src.data(), bytes, 3);
    CopyHandle h = engine.copy_async(dst.data(), src.data(), bytes);
    CHECK(h.bytes_total() == bytes);
    std::uint64_t last = 0;
    bool monotonic = true;
    while (!h.done()) {
        const auto now = h.bytes_copied();
        monotonic = monotonic && now >= last;
        last = now;
    }
    h.wait();
    CHECK(monotonic);
    CHECK(h.bytes_copied() == bytes);
    CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
    h.wait(); // waiting again is fine
}

TEST_CASE("a small synchronous copy during a large asynchronous one finishes first") {
    CopyEngine engine;
    const std::size_t big = (std::size_t(1) << 30) / test::kSanitizedDivisor;
    std::unique_ptr<unsigned char[]> src(new unsigned char[big]), dst(new unsigned char[big]);
    std::memset(src.get(), 0x5A, big);
    std::memset(dst.get(), 0, big);
    CopyHandle h = engine.copy_async(dst.get(), src.get(), big);
    GuardedBuffer small_src(4096), small_dst(4096);
    fill_pattern(small_src.data(), 4096, 11);
    engine.copy(small_dst.data(), small_src.data(), 4096);
    const bool big_still_running = !h.done();
    CHECK(std::memcmp(small_dst.data(), small_src.data(), 4096) == 0);
    CHECK(small_dst.canaries_intact());
    h.wait();
    CHECK(big_still_running);
    CHECK(dst[0] == 0x5A);
    CHECK(dst[big - 1] == 0x5A);
    CHECK(std::memcmp(dst.get(), src.get(), big) == 0);
}

TEST_CASE("destroying an unfinished handle waits for its copy") {
    CopyEngine engine;
    const std::size_t bytes = std::size_t(64) << 20;
    std::vector<unsigned char> src(bytes, 0x33), dst(bytes, 0);
    { CopyHandle h = engine.copy_async(dst.data(), src.data(), bytes); }
    CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);

    CopyHandle a = engine.copy_async(dst.data(), src.data(), bytes);
    a = CopyHandle(); // assigning over an unfinished handle waits too
    CHECK(a.done());
}

TEST_CASE("destroying the engine waits for its asynchronous copies") {
    const std::size_t bytes = std::size_t(32) << 20;
    std::vector<unsigned char> src(bytes), dst1(bytes, 0), dst2(bytes, 0);
    fill_pattern(src.data(), bytes, 5);
    CopyHandle h1, h2;
    {
        CopyEngine engine;
        h1 = engine.copy_async(dst1.data(), src.data(), bytes);
        h2 = engine.copy_async(dst2.data(), src.data(), bytes);
    }
    CHECK(h1.done());
    CHECK(h2.done());
    CHECK(std::memcmp(dst1.data(), src.data(), bytes) == 0);
    CHECK(std::memcmp(dst2.data(), src.data(), bytes) == 0);
}

TEST_CASE("an invalid region anywhere in a batch is rejected at once and nothing is written") {
    CopyEngine engine;
    std::vector<GuardedBuffer> dsts;
    std::vector<unsigned char> src(1000 * 100);
    fill_pattern(src.data(), src.size(), 1);
    for (int i = 0; i < 100; ++i) dsts.emplace_back(1000);
    std::vector<Region> regions;
    for (int i = 0; i < 100; ++i) regions.push_back({dsts[i].data(), src.data() + i * 1000, 1000});
    regions[57].src = nullptr;
    CHECK_THROWS_WITH_AS(engine.copy_batch(regions), doctest::Contains("region 57"), Error);
    CHECK_THROWS_WITH_AS(engine.copy_batch_async(regions), doctest::Contains("region 57"), Error);
    regions[57].src = dsts[57].data() + 10; // overlap
    CHECK_THROWS_WITH_AS(engine.copy_batch_async(regions), doctest::Contains("overlap"), Error);
    std::size_t nonzero = 0;
    for (auto& d : dsts)
        for (std::size_t i = 0; i < 1000; ++i) nonzero += d.data()[i] != 0;
    CHECK(nonzero == 0);
    CHECK_THROWS_AS(engine.copy_async(nullptr, src.data(), 10), Error);
}

TEST_CASE("a batch of many small regions is one exact copy, synchronous or not") {
    Options o;
    o.inline_threshold = 256 << 10; // 10 MB in all: parallel on any machine
    CopyEngine engine(o);
    const std::size_t n = 10000, each = 1000;
    std::vector<unsigned char> src(n * each), dst1(n * (each + 24), 0xA5), dst2(n * (each + 24), 0xA5);
    fill_pattern(src.data(), src.size(), 8);
    std::vector<Region> r1, r2;
    for (std::size_t i = 0; i < n; ++i) {
        r1.push_back({dst1.data() + i * (each + 24) + 12, src.data() + i * each, each});
        r2.push_back({dst2.data() + i * (each + 24) + 12, src.data() + i * each, each});
    }
    const auto parallel_before = engine.stats().parallel_copies;
    engine.copy_batch(r1);
    CHECK(engine.stats().parallel_copies == parallel_before + 1); // one schedule for the batch
    CopyHandle h = engine.copy_batch_async(r2);
    h.wait();
    CHECK(h.bytes_copied() == n * each);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
        for (auto* d : {&dst1, &dst2}) {
            const unsigned char* p = d->data() + i * (each + 24);
            bad += std::memcmp(p + 12, src.data() + i * each, each) != 0;
            for (int k = 0; k < 12; ++k) bad += p[k] != 0xA5 || p[12 + each + k] != 0xA5;
        }
    }
    CHECK(bad == 0);
}

TEST_CASE("eight threads submitting asynchronous copies and batches at once all get exact results") {
    CopyEngine engine;
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                const std::size_t bytes = (std::size_t(1) << (12 + (i + t) % 10)) + 5;
                std::vector<unsigned char> src(bytes), a(bytes), b(2 * bytes);
                fill_pattern(src.data(), bytes, std::uint32_t(t * 31 + i));
                CopyHandle h1 = engine.copy_async(a.data(), src.data(), bytes);
                std::vector<Region> regions{{b.data(), src.data(), bytes}, {b.data() + bytes, src.data(), bytes}};
                CopyHandle h2 = engine.copy_batch_async(regions);
                h1.wait();
                h2.wait();
                if (std::memcmp(a.data(), src.data(), bytes) || std::memcmp(b.data(), src.data(), bytes) ||
                    std::memcmp(b.data() + bytes, src.data(), bytes))
                    ++bad;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(bad.load() == 0);
}

TEST_CASE("an empty asynchronous copy is done at once") {
    CopyEngine engine;
    CopyHandle h = engine.copy_async(nullptr, nullptr, 0);
    h.wait();
    CHECK(h.done());
    CHECK(h.bytes_total() == 0);
    CopyHandle none;
    CHECK(none.done());
    none.wait();
}

namespace {

// Submits a job that holds the engine's bulk lane until `release` is set.
CopyHandle held_job(CopyEngine& engine, std::atomic<bool>& release) {
    return detail::internals(engine).submit(
        [&release](detail::AsyncState&) {
            while (!release.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
        },
        std::uint64_t(1) << 30, nullptr);
}

} // namespace

TEST_CASE("wait_for returns false while the copy runs and true once it has finished") {
    CopyEngine engine;
    std::atomic<bool> release{false};
    CopyHandle h = held_job(engine, release);
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(h.wait_for(std::chrono::milliseconds(20)));
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(20));
    CHECK_FALSE(h.wait_for(std::chrono::nanoseconds(0)));
    CHECK_FALSE(h.wait_for(std::chrono::milliseconds(-5)));
    CHECK_FALSE(h.done());
    release = true;
    CHECK(h.wait_for(std::chrono::nanoseconds::max())); // no overflow past the clock's range
    CHECK(h.wait_for(std::chrono::hours(24 * 365 * 100)));
    CHECK(h.done());
    CHECK(h.wait_for(std::chrono::nanoseconds(0)));
    h.wait();
    CopyHandle none;
    CHECK(none.wait_for(std::chrono::seconds(1)));
}

TEST_CASE("wait_for reports a failed copy as finished without throwing, and wait rethrows its error") {
    CopyEngine engine;
    CopyHandle h = detail::internals(engine).submit([](detail::AsyncState&) { throw Error("tilecopy: planted failure"); },
                                             std::uint64_t(1) << 30, nullptr);
    bool finished = false;
    CHECK_NOTHROW(finished = h.wait_for(std::chrono::seconds(30)));
    CHECK(finished);
    CHECK_THROWS_WITH_AS(h.wait(), "tilecopy: planted failure", Error);
}

TEST_CASE("a small asynchronous copy does not queue behind a large one") {
    Options options;
    options.inline_threshold = std::size_t(1) << 20; // 4 KiB runs at once, 100 KiB on the small lane
    CopyEngine engine(options);
    std::atomic<bool> release{false};
    CopyHandle large = held_job(engine, release); // the bulk lane is busy until released
    for (std::size_t bytes : {std::size_t(4096), std::size_t(100) << 10}) {
        CAPTURE(bytes);
        GuardedBuffer src(bytes), dst(bytes);
        fill_pattern(src.data(), bytes, 21);
        CopyHandle small = engine.copy_async(dst.data(), src.data(), bytes);
        CHECK(small.wait_for(std::chrono::seconds(30)));
        CHECK_FALSE(large.done());
        small.wait();
        CHECK(small.bytes_copied() == bytes);
        CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
        CHECK(dst.canaries_intact());
    }
    release = true;
    large.wait();
}

TEST_CASE("wait() returns only after the engine has dropped its references to the copy's owners") {
    CopyEngine engine;
    const std::size_t sizes[] = {std::size_t(64) << 10, std::size_t(1) << 20}; // the small lane, the bulk lane
    std::vector<unsigned char> src(sizes[1]), dst(sizes[1]);
    fill_pattern(src.data(), src.size(), 4);
    std::size_t still_held = 0;
    for (int round = 0; round < 2000; ++round) {
        const std::size_t bytes = sizes[round % 2];
        auto owner = std::make_shared<int>(round);     // held by the handle's keep_alive
        auto captured = std::make_shared<int>(round);  // held by the work's captures
        CopyHandle h = detail::internals(engine).submit(
            [&, bytes, captured](detail::AsyncState& state) {
                engine.copy(dst.data(), src.data(), bytes);
                state.copied.fetch_add(bytes);
            },
            bytes, owner);
        if (round % 4 < 2) {
            h.wait();
        } else {
            while (!h.done()) {
            } // polling, then looking at once
        }
        still_held += owner.use_count() != 1 || captured.use_count() != 1;
    }
    CHECK(still_held == 0);
}
