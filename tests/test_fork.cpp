// fork(): engines made before a fork work in the child (serially) and never hang; a child
// that makes its own engine works too; handles whose copies were running at fork() never block
// in the child. Each child has an alarm, so a hang fails the test.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <tbb/parallel_for.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tilecopy/tilecopy.hpp>

#include "engine.hpp"
#include "fresh_process.hpp"
#include "support.hpp"

using namespace tilecopy;

namespace {

bool copies_exactly(CopyEngine& engine, std::size_t bytes) {
    std::vector<unsigned char> src(bytes), dst(bytes + 2, 0xA5);
    tilecopy::test::fill_pattern(src.data(), bytes, static_cast<std::uint32_t>(bytes));
    engine.copy(dst.data() + 1, src.data(), bytes);
    if (std::memcmp(dst.data() + 1, src.data(), bytes) != 0 || dst[0] != 0xA5 || dst[bytes + 1] != 0xA5) return false;
    std::vector<unsigned char> dst2(bytes);
    CopyHandle h = engine.copy_async(dst2.data(), src.data(), bytes);
    h.wait();
    return h.done() && std::memcmp(dst2.data(), src.data(), bytes) == 0;
}

// Runs `child` in a forked process (exit status 0 on success, killed by an alarm after 60 s)
// and returns the child's wait status.
template <typename Fn>
int in_child(Fn&& child) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(60);
        std::exit(child() ? 0 : 1); // exit(), not _exit(): static engines are destroyed too
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return status;
}

// A job that holds the engine's bulk lane until `release`: copies submitted after it stay queued.
CopyHandle hold_bulk_lane(CopyEngine& engine, std::atomic<bool>& release) {
    return detail::internals(engine).submit(
        [&release](detail::AsyncState&) {
            while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        },
        std::uint64_t(1) << 30, nullptr);
}

} // namespace

TEST_CASE("an engine used before fork() copies in the child and the child exits") {
    CopyEngine engine;
    // Wake the workers and the submitter thread in the parent first.
    REQUIRE(copies_exactly(engine, 8 << 20));
    REQUIRE(copies_exactly(default_engine(), 8 << 20));
    const int status = in_child([&] {
        return copies_exactly(engine, 8 << 20) && copies_exactly(engine, 1000) && copies_exactly(default_engine(), 3 << 20);
    });
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    // The parent's engine is unaffected.
    CHECK(copies_exactly(engine, 8 << 20));
}

TEST_CASE("a child process can make and destroy its own engines") {
    CopyEngine parent_engine;
    REQUIRE(copies_exactly(parent_engine, 8 << 20));
    const int status = in_child([] {
        bool ok = true;
        for (int i = 0; i < 3; ++i) { // made, used and destroyed again and again
            CopyEngine engine;
            ok = ok && copies_exactly(engine, 8 << 20) && copies_exactly(engine, 100);
            bool says_so = false;
            for (const auto& line : engine.describe()) says_so = says_so || line.find("forked child") != std::string::npos;
            ok = ok && says_so;
        }
        // A grandchild too.
        const pid_t pid = fork();
        if (pid == 0) {
            alarm(60);
            CopyEngine engine;
            std::exit(copies_exactly(engine, 4 << 20) ? 0 : 1);
        }
        int status = 0;
        ok = ok && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        return ok;
    });
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a handle whose copy was running at fork() never blocks in the child, and queued copies run once") {
    auto engine = std::make_unique<CopyEngine>();
    std::atomic<bool> release{false};
    // A job that holds the bulk lane until the parent releases it: at fork() it is running,
    // and the copy submitted after it is queued.
    CopyHandle running = hold_bulk_lane(*engine, release);
    const std::size_t bytes = std::size_t(8) << 20;
    std::vector<unsigned char> src(bytes), dst(bytes, 0);
    tilecopy::test::fill_pattern(src.data(), bytes, 77);
    CopyHandle queued = engine->copy_async(dst.data(), src.data(), bytes);
    REQUIRE_FALSE(running.done());
    REQUIRE_FALSE(queued.done());

    const int status = in_child([&] {
        bool ok = running.done() && queued.done(); // at once: nothing will finish them here
        const auto start = std::chrono::steady_clock::now();
        ok = ok && running.wait_for(std::chrono::hours(1)) && queued.wait_for(std::chrono::hours(1));
        ok = ok && std::chrono::steady_clock::now() - start < std::chrono::seconds(10);
        for (CopyHandle* h : {&running, &queued}) {
            try {
                h->wait();
                ok = false;
            } catch (const Error& e) {
                ok = ok && std::string(e.what()).find("parent") != std::string::npos &&
                     std::string(e.what()).find("fork") != std::string::npos;
            }
        }
        running = CopyHandle(); // assigning over and destroying return at once
        { CopyHandle gone = std::move(queued); }
        engine.reset(); // the engine too
        // The queued copy was the parent's: the child never ran it.
        for (unsigned char b : dst) ok = ok && b == 0;
        // An engine made here works.
        CopyEngine fresh;
        return ok && copies_exactly(fresh, 4 << 20);
    });
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    release = true;
    queued.wait();
    running.wait();
    CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
    CHECK(copies_exactly(*engine, 8 << 20));
}

TEST_CASE("an engine made in the child of a process that ran oneTBB itself is destroyed without hanging") {
    const char* name = "an engine made in the child of a process that ran oneTBB itself is destroyed without hanging";
    if (!tilecopy::test::in_fresh_process(name)) {
        // A fresh process: tilecopy has started no worker in it, so the fork guard stays quiet.
        CHECK(tilecopy::test::passed_fresh(tilecopy::test::run_fresh(name)));
        return;
    }
    std::atomic<int> ran{0};
    tbb::parallel_for(0, 64, [&ran](int) {
        ran.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    const int status = in_child([] {
        bool ok = true;
        for (int i = 0; i < 3; ++i) {
            Options options;
            options.linger_us = 100000; // helpers that never start must not be waited for either
            CopyEngine engine(options);
            // Synchronous copies: their helper tasks go to oneTBB, whose workers are not here.
            for (std::size_t bytes : {std::size_t(8) << 20, std::size_t(100)}) {
                std::vector<unsigned char> src(bytes), dst(bytes + 2, 0xA5);
                tilecopy::test::fill_pattern(src.data(), bytes, 9);
                engine.copy(dst.data() + 1, src.data(), bytes);
                ok = ok && std::memcmp(dst.data() + 1, src.data(), bytes) == 0 && dst[0] == 0xA5 && dst[bytes + 1] == 0xA5;
            }
        }
        return ok;
    });
    tilecopy::test::finish_fresh(ran.load() == 64 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_CASE("cancelling in a forked child does nothing to the parent's copies") {
    auto engine = std::make_unique<CopyEngine>();
    std::atomic<bool> release{false};
    CopyHandle running = hold_bulk_lane(*engine, release);
    const std::size_t bytes = std::size_t(4) << 20;
    std::vector<unsigned char> src(bytes), dst(bytes, 0);
    tilecopy::test::fill_pattern(src.data(), bytes, 78);
    CopyHandle queued = engine->copy_async(dst.data(), src.data(), bytes);
    REQUIRE_FALSE(queued.done());

    const int status = in_child([&] {
        running.cancel(); // returns at once: neither lock nor thread of the parent's is touched
        queued.cancel();
        bool ok = true;
        try {
            queued.wait();
            ok = false;
        } catch (const Error& e) {
            ok = std::string(e.what()).find("parent") != std::string::npos; // orphaned, not cancelled
        }
        // A copy of the child's own runs (and finishes) at once; cancelling it then does nothing.
        std::vector<unsigned char> mine(bytes, 0);
        CopyHandle h = engine->copy_async(mine.data(), src.data(), bytes);
        h.cancel();
        h.wait();
        return ok && mine == src;
    });
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    release = true;
    running.wait();
    queued.wait(); // the parent's copy ran whole
    CHECK(queued.bytes_copied() == bytes);
    CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
}
