// Asynchronous and batched raw copies: results, progress, waiting, errors, many submitters.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "engine.hpp"
#include "fake_topology.hpp"
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
        std::this_thread::yield(); // the copy's threads need the cores more than the watcher
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
                std::this_thread::yield();
            } // polling, then looking at once
        }
        still_held += owner.use_count() != 1 || captured.use_count() != 1;
    }
    CHECK(still_held == 0);
}

// Cancellation, limits and priority (docs/async.md). No test times anything: a copy is held at
// a known block by a token bucket that refills at 1 byte a second (its first block takes the
// full bucket, the next waits "forever"), or by a foreground scope that background work yields
// to, and every check reads counters.
namespace {

constexpr std::size_t kBlock = std::size_t(64) << 10;

// Every byte non-zero, so that a destination of zeros tells written bytes from untouched ones.
std::vector<unsigned char> nonzero_source(std::size_t bytes, std::uint32_t seed) {
    std::vector<unsigned char> src(bytes);
    fill_pattern(src.data(), bytes, seed);
    for (auto& b : src) b |= 1;
    return src;
}

std::size_t bytes_written(const std::vector<unsigned char>& dst, const std::vector<unsigned char>& src) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < dst.size(); ++i) {
        if (dst[i] == src[i]) ++n;
        else if (dst[i] != 0) return static_cast<std::size_t>(-1); // neither copied nor untouched
    }
    return n;
}

// An engine of `threads` threads over a fake one-node machine (or two nodes of one CPU each:
// an arena per node, the copy's own thread in none), 64 KiB blocks.
std::unique_ptr<CopyEngine> limits_engine(unsigned threads, bool two_nodes = false) {
    Options o;
    o.block_bytes = kBlock;
    o.pin_threads = false;
    const std::vector<unsigned> nodes = two_nodes ? std::vector<unsigned>{1, 1} : std::vector<unsigned>{threads};
    return std::make_unique<CopyEngine>(o, std::make_shared<tilecopy::test::FakeTopology>(nodes));
}

detail::CopyControl::Counts counts_of(const CopyHandle& h) {
    return detail::HandleAccess::state(h)->control.counts();
}

std::string error_of(CopyHandle& h) {
    try {
        h.wait();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Holds an engine's bulk lane until released: copies submitted meanwhile stay queued.
struct LaneBlocker {
    std::atomic<bool> release{false};
    CopyHandle handle;
    explicit LaneBlocker(CopyEngine& engine) {
        handle = detail::internals(engine).submit(
            [this](detail::AsyncState&) {
                while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            },
            std::uint64_t(1) << 30, nullptr);
    }
    ~LaneBlocker() {
        release = true;
        handle.wait();
    }
};

} // namespace

TEST_CASE("a token bucket never releases more than its capacity plus its rate over the time passed") {
    using namespace std::chrono;
    const auto t0 = detail::SteadyClock::time_point(seconds(100));
    detail::TokenBucket bucket(1000, 100, t0); // 1000 bytes/s, 100 bytes held
    CHECK(bucket.take(100, t0) == t0);         // starts full
    CHECK(bucket.take(50, t0) == t0 + milliseconds(50));
    CHECK(bucket.take(50, t0 + milliseconds(10)) == t0 + milliseconds(100)); // queued behind the debt
    // Idle for a long time: the bucket fills to its capacity, no more.
    CHECK(bucket.take(100, t0 + seconds(10)) == t0 + seconds(10));
    CHECK(bucket.take(1, t0 + seconds(10)) == t0 + seconds(10) + milliseconds(1));
    CHECK(bucket.taken() == 301);
    CHECK(bucket.worst_excess() <= 1e-6);
}

TEST_CASE("a token bucket lets a taker that comes late catch up, up to its capacity") {
    using namespace std::chrono;
    const auto t0 = detail::SteadyClock::time_point(seconds(100));
    detail::TokenBucket bucket(1000, 100, t0, 10); // 1000 bytes/s, holds 100, starts with 10
    CHECK(bucket.take(10, t0) == t0);
    CHECK(bucket.take(10, t0) == t0 + milliseconds(10));
    // Its thread comes 50 ms after its time (preempted): the bytes of those 50 ms are there.
    CHECK(bucket.take(50, t0 + milliseconds(60)) == t0 + milliseconds(60));
    // 200 ms late: only the capacity's worth is there.
    CHECK(bucket.take(100, t0 + milliseconds(260)) == t0 + milliseconds(260));
    CHECK(bucket.take(1, t0 + milliseconds(260)) == t0 + milliseconds(261));
    CHECK(bucket.worst_excess() <= 1e-6);
}

TEST_CASE("cancelling a queued copy finishes it at once with nothing written, and it never runs") {
    auto engine = limits_engine(2);
    const std::size_t bytes = 1 << 20;
    const auto src = nonzero_source(bytes, 1);
    std::vector<unsigned char> dst(bytes, 0);
    CopyHandle h;
    {
        LaneBlocker blocker(*engine);
        h = engine->copy_async(dst.data(), src.data(), bytes);
        CHECK_FALSE(h.done());
        h.cancel();
        CHECK(h.done()); // finished by the cancel, while the lane is still held
        CHECK(error_of(h) == "tilecopy: cancelled after 0 of 1048576 bytes");
        CHECK(h.finished_at() >= h.started_at());
        CHECK(h.started_at() != std::chrono::system_clock::time_point{});
        CHECK(h.bytes_per_second() == 0);
        h.cancel(); // again: nothing
    }
    // The lane ran on past it: a copy queued behind the blocker and the cancelled one runs.
    std::vector<unsigned char> after(bytes, 0);
    engine->copy_async(after.data(), src.data(), bytes).wait();
    CHECK(after == src);
    CHECK(bytes_written(dst, src) == 0);
    CHECK(h.bytes_copied() == 0);
}

TEST_CASE("cancelling a running copy stops it at a block boundary with exact progress") {
    struct Case {
        unsigned threads;
        bool two_nodes;
    };
    for (const Case c : {Case{1, false}, Case{2, false}, Case{2, true}}) {
        const unsigned threads = c.threads;
        CAPTURE(threads);
        CAPTURE(c.two_nodes);
        auto engine = limits_engine(2, c.two_nodes);
        const std::size_t bytes = 16 * kBlock;
        const auto src = nonzero_source(bytes, threads);
        std::vector<unsigned char> dst(bytes, 0);
        AsyncOptions limits;
        limits.threads = threads;
        limits.bytes_per_second = 1; // one block from the full bucket, then a wait of days
        CopyHandle h = engine->copy_async(dst.data(), src.data(), bytes, limits);
        // The first block to take its bytes empties the bucket; every later one waits.
        while (h.bytes_copied() == 0) std::this_thread::yield();
        CHECK_FALSE(h.done());
        std::thread other([&h] { h.cancel(); }); // from another thread
        other.join();
        const std::uint64_t n = h.bytes_copied();
        CHECK(error_of(h) == "tilecopy: cancelled after " + std::to_string(n) + " of 1048576 bytes");
        CHECK(n <= kBlock + 64); // one block (blocks may pass their size by less than a line)
        CHECK(bytes_written(dst, src) == n); // that block, and nothing else
        if (threads == 1) CHECK(std::memcmp(dst.data(), src.data(), n) == 0);
        CHECK(h.done());
        CHECK(h.finished_at() >= h.started_at());
        const auto k = counts_of(h);
        CHECK(k.most_threads <= threads);
        // The threads waiting for tokens skip the blocks they had claimed; no other block is
        // claimed: the rest are dropped at once.
        CHECK(k.skipped_blocks <= threads);
        CHECK(k.late_blocks <= threads);
        CHECK(k.dropped_blocks > 0);
    }
}

TEST_CASE("a running copy cancelled on any path finishes at most one block a thread after the cancel") {
    struct Case {
        std::size_t threads;
        bool background, two_nodes;
    };
    const std::size_t bytes = 256 * kBlock;
    const auto src = nonzero_source(bytes, 7);
    for (const Case c : {Case{1, false, false}, Case{2, false, false}, Case{2, true, false}, Case{2, true, true}}) {
        CAPTURE(c.threads);
        CAPTURE(c.background);
        CAPTURE(c.two_nodes);
        auto engine = limits_engine(2, c.two_nodes);
        AsyncOptions limits;
        limits.threads = c.threads;
        if (c.background) limits.priority = Priority::Background;
        // Cancelled as soon as it has copied something; a copy that finished first is tried again.
        for (int attempt = 0; attempt < 20; ++attempt) {
            std::vector<unsigned char> dst(bytes, 0);
            CopyHandle h = engine->copy_async(dst.data(), src.data(), bytes, limits);
            while (h.bytes_copied() == 0 && !h.done()) std::this_thread::yield();
            h.cancel();
            if (error_of(h).empty()) continue;
            const std::uint64_t n = h.bytes_copied();
            CHECK(bytes_written(dst, src) == n);
            const auto k = counts_of(h);
            CHECK(k.late_blocks <= c.threads);    // the blocks in flight when the cancel came
            CHECK(k.skipped_blocks <= c.threads); // claimed, not started
            CHECK(k.dropped_blocks > 0);         // never claimed: no thread went through them
            break;
        }
    }
}

TEST_CASE("no run of a cancelled copy's work starts, small or large") {
    auto engine = limits_engine(2);
    detail::Engine& internals = detail::internals(*engine);
    const std::size_t small = 4096, large = 64 * kBlock;
    const auto src = nonzero_source(large, 10);
    std::vector<unsigned char> dst(large, 0);
    // Work of two runs (as a tensor batch's groups are): the first copies, then the copy is
    // cancelled, and the second (inline-sized, then planned) must not start.
    for (std::size_t second : {small, large - small}) {
        CAPTURE(second);
        std::fill(dst.begin(), dst.end(), 0);
        CopyHandle h = internals.submit(
            [&](detail::AsyncState& state) {
                const Region first{dst.data(), src.data(), small};
                internals.run(&first, 1, Conversion::None, &state.copied);
                state.control.cancel();
                const Region rest{dst.data() + small, src.data() + small, second};
                internals.run(&rest, 1, Conversion::None, &state.copied);
            },
            small + second, nullptr);
        CHECK(error_of(h) == "tilecopy: cancelled after 4096 of " + std::to_string(small + second) + " bytes");
        CHECK(bytes_written(dst, src) == small);
    }
}

TEST_CASE("a helper that finds its copy cancelled leaves at once instead of lingering") {
    Options o;
    o.block_bytes = kBlock;
    o.pin_threads = false;
    o.linger_us = 10'000'000; // the most: ten seconds
    CopyEngine engine(o, std::make_shared<tilecopy::test::FakeTopology>(std::vector<unsigned>{2}));
    const detail::Scheduler& scheduler = detail::internals(engine).scheduler();
    const std::size_t bytes = 512 * kBlock;
    const auto src = nonzero_source(bytes, 9);
    std::vector<unsigned char> dst(bytes, 0);
    for (int attempt = 0; attempt < 20; ++attempt) {
        CopyHandle h = engine.copy_async(dst.data(), src.data(), bytes);
        // Cancelled once a helper has joined it.
        while (counts_of(h).most_threads < 2 && !h.done()) std::this_thread::yield();
        h.cancel();
        if (error_of(h).empty()) continue; // finished first: again
        // It leaves after its last block, not after the linger: half of it is a bound that only a
        // lingering helper reaches (no figure of speed is asserted).
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (scheduler.helpers_lingering() && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        CHECK_FALSE(scheduler.helpers_lingering());
        CHECK(counts_of(h).late_blocks <= 2);
        return;
    }
}

TEST_CASE("an asynchronous copy limited to one thread hands no block to the helpers and wakes none") {
    auto engine = limits_engine(2);
    const detail::Scheduler& scheduler = detail::internals(*engine).scheduler();
    const std::size_t bytes = 64 * kBlock;
    const auto src = nonzero_source(bytes, 8);
    std::vector<unsigned char> dst(bytes, 0);
    AsyncOptions one;
    one.threads = 1;
    for (Priority p : {Priority::Foreground, Priority::Background}) {
        one.priority = p;
        engine->copy_async(dst.data(), src.data(), bytes, one).wait();
        CHECK(dst == src);
    }
    CHECK(scheduler.helpers_recruited() == 0);
    engine->copy_async(dst.data(), src.data(), bytes).wait(); // two threads: a helper is called
    CHECK(scheduler.helpers_recruited() > 0);
}

TEST_CASE("cancelling a finished copy does nothing; a handle reports when it ran and its rate") {
    auto engine = limits_engine(2);
    const std::size_t bytes = 2 << 20;
    const auto src = nonzero_source(bytes, 3);
    std::vector<unsigned char> dst(bytes, 0);
    CopyHandle h = engine->copy_async(dst.data(), src.data(), bytes);
    h.wait();
    h.cancel();
    h.wait(); // no error
    CHECK(h.bytes_copied() == bytes);
    CHECK(dst == src);
    CHECK(h.started_at() != std::chrono::system_clock::time_point{});
    CHECK(h.finished_at() >= h.started_at());
    CHECK(h.seconds() > 0);
    CHECK(h.seconds() == h.seconds()); // fixed once finished
    CHECK(h.bytes_per_second() == doctest::Approx(double(bytes) / h.seconds()));

    CopyHandle none;
    none.cancel();
    CHECK(none.seconds() == 0);
    CHECK(none.bytes_per_second() == 0);
    CHECK(none.started_at() == std::chrono::system_clock::time_point{});
}

TEST_CASE("an asynchronous copy uses at most its threads, and a throttled one takes every byte from its bucket") {
    auto engine = limits_engine(2);
    const std::size_t bytes = 64 * kBlock;
    const auto src = nonzero_source(bytes, 4);
    for (std::size_t threads : {std::size_t(1), std::size_t(2), AsyncOptions::kAllThreads}) {
        CAPTURE(threads);
        std::vector<unsigned char> dst(bytes, 0);
        AsyncOptions limits;
        limits.threads = threads;
        CopyHandle h = engine->copy_async(dst.data(), src.data(), bytes, limits);
        h.wait();
        CHECK(dst == src);
        CHECK(counts_of(h).most_threads <= std::min<std::size_t>(threads, 2));
        CHECK(counts_of(h).tokens_taken == 0); // no bucket
    }
    // 16 MiB/s over 1 MiB: the bucket starts with one block (more than a millisecond's bytes), 1/16
    // of it, and holds ten milliseconds' bytes; the rest comes as it refills.
    std::vector<unsigned char> dst(bytes / 4, 0);
    AsyncOptions limits;
    limits.bytes_per_second = 16 << 20;
    CopyHandle h = engine->copy_async(dst.data(), src.data(), bytes / 4, limits);
    h.wait();
    CHECK(std::memcmp(dst.data(), src.data(), bytes / 4) == 0);
    const auto c = counts_of(h);
    CHECK(c.tokens_taken == bytes / 4);
    CHECK(c.worst_excess <= 1.0);
    CHECK(c.bucket_bytes == double((16 << 20) / 100));
    // Synchronous copies are never throttled: an engine default applies to asynchronous ones.
    Options o;
    o.block_bytes = kBlock;
    o.async.bytes_per_second = 1;
    o.async.threads = 1;
    CopyEngine slow(o, std::make_shared<tilecopy::test::FakeTopology>(std::vector<unsigned>{2}));
    CHECK(slow.options().async.bytes_per_second == 1);
    CHECK(slow.options().async.threads == 1);
    CHECK(slow.options().async.priority == Priority::Foreground);
    std::vector<unsigned char> sync_dst(bytes, 0);
    slow.copy(sync_dst.data(), src.data(), bytes);
    CHECK(sync_dst == src);
    AsyncOptions unlimited;
    unlimited.bytes_per_second = AsyncOptions::kUnlimited;
    std::vector<unsigned char> async_dst(bytes, 0);
    slow.copy_async(async_dst.data(), src.data(), bytes, unlimited).wait();
    CHECK(async_dst == src);
}

namespace {

void background_yields_to_foreground(bool two_nodes) {
    CAPTURE(two_nodes);
    auto engine = limits_engine(2, two_nodes);
    detail::Engine& internals = detail::internals(*engine);
    const std::size_t bytes = 32 * kBlock;
    const auto src = nonzero_source(bytes, 5);
    std::vector<unsigned char> bg_dst(bytes, 0), fg_dst(bytes, 0), sync_dst(bytes, 0);
    AsyncOptions background;
    background.priority = Priority::Background;
    CopyHandle bg;
    {
        // Foreground work on the arenas from here on: the background copy must not take a block.
        detail::ForegroundCount::Scope foreground(&internals.foreground());
        bg = engine->copy_async(bg_dst.data(), src.data(), bytes, background);
        CHECK_FALSE(bg.wait_for(std::chrono::milliseconds(20)));
        // Foreground copies, asynchronous (their own lane, not behind the background one) and
        // synchronous, run to the end meanwhile.
        engine->copy_async(fg_dst.data(), src.data(), bytes).wait();
        engine->copy(sync_dst.data(), src.data(), bytes);
        CHECK(fg_dst == src);
        CHECK(sync_dst == src);
        CHECK(bg.bytes_copied() == 0);
        CHECK_FALSE(bg.done());
    }
    bg.wait(); // resumed once the foreground work ended
    CHECK(bg_dst == src);
    CHECK(counts_of(bg).yields >= 1);

    // Cancelled while it waits for the foreground: it stops at once, nothing written.
    std::vector<unsigned char> dst2(bytes, 0);
    detail::ForegroundCount::Scope foreground(&internals.foreground());
    CopyHandle h = engine->copy_async(dst2.data(), src.data(), bytes, background);
    while (counts_of(h).yields == 0) std::this_thread::yield();
    h.cancel();
    CHECK(error_of(h) == "tilecopy: cancelled after 0 of 2097152 bytes");
    CHECK(bytes_written(dst2, src) == 0);
}

} // namespace

TEST_CASE("a background copy yields to foreground work and resumes after it") {
    background_yields_to_foreground(false);
    background_yields_to_foreground(true); // an arena per node: every crew is called back
}

TEST_CASE("the engine's asynchronous defaults come from Options or TILECOPY_ASYNC_* and are described") {
    Options o;
    o.async.priority = Priority::Background;
    CopyEngine engine(o, std::make_shared<tilecopy::test::FakeTopology>(std::vector<unsigned>{2}));
    CHECK(engine.options().async.threads == 2);
    CHECK(engine.options().async.bytes_per_second == AsyncOptions::kUnlimited);
    CHECK(engine.options().async.priority == Priority::Background);
    const EngineInfo info = engine.info();
    REQUIRE(find_tunable(info, "async_priority") != nullptr);
    CHECK(find_tunable(info, "async_priority")->value == 1);
    CHECK(find_tunable(info, "async_threads")->variable == "TILECOPY_ASYNC_THREADS");
    bool described = false;
    for (const auto& line : engine.describe())
        described = described || line.find("async copies use at most: 2 thread(s)") != std::string::npos;
    CHECK(described);

    setenv("TILECOPY_ASYNC_BYTES_PER_SECOND", "1G", 1);
    setenv("TILECOPY_ASYNC_THREADS", "1", 1);
    CopyEngine from_env(Options{}, std::make_shared<tilecopy::test::FakeTopology>(std::vector<unsigned>{2}));
    CHECK(from_env.options().async.bytes_per_second == std::uint64_t(1) << 30);
    CHECK(from_env.options().async.threads == 1);
    setenv("TILECOPY_ASYNC_PRIORITY", "later", 1);
    CHECK_THROWS_WITH_AS(CopyEngine(Options{}), doctest::Contains("TILECOPY_ASYNC_PRIORITY"), Error);
    unsetenv("TILECOPY_ASYNC_PRIORITY");
    unsetenv("TILECOPY_ASYNC_BYTES_PER_SECOND");
    unsetenv("TILECOPY_ASYNC_THREADS");
    CHECK(priority_name(parse_priority("background")) == std::string("background"));
    CHECK_THROWS_AS(parse_priority("soon"), Error);
}
