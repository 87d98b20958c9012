// The AsyncJobRunner (tilecopy/async_runner.hpp): every asynchronous copy runs through it, and a
// thread unwound inside a job (pthread_exit, as CPython's finalization does to threads that ask
// for the GIL) neither aborts the process nor leaves a waiter waiting. Its own executable: the
// runner is process-wide.
#include <doctest/doctest.h>

#include <pthread.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <tilecopy/tilecopy.hpp>

#include "support.hpp"

using namespace tilecopy;
using tilecopy::test::fill_pattern;
using tilecopy::test::GuardedBuffer;

namespace {

std::atomic<int> jobs_run{0};
std::atomic<bool> exit_next{false}; // the next job on a thread other than main's calls pthread_exit
std::atomic<bool> exiting_entered{false};
std::atomic<bool> exiting_released{false};
std::thread::id main_thread;

void counting_runner(void (*job)(void*), void* arg) {
    if (std::this_thread::get_id() != main_thread && exit_next.exchange(false)) {
        exiting_entered = true;
        while (!exiting_released) std::this_thread::yield();
        pthread_exit(nullptr);
    }
    jobs_run.fetch_add(1);
    job(arg);
}

struct RunnerGuard {
    RunnerGuard() {
        main_thread = std::this_thread::get_id();
        set_async_job_runner(&counting_runner);
    }
    ~RunnerGuard() { set_async_job_runner(nullptr); }
};

bool all_zero(const GuardedBuffer& b) {
    for (std::size_t i = 0; i < b.size(); ++i)
        if (b.data()[i] != 0) return false;
    return true;
}

} // namespace

TEST_CASE("a job runner runs every asynchronous copy, those run at submission and those on the lanes") {
    RunnerGuard runner;
    CopyEngine engine;
    const int before = jobs_run.load();
    for (std::size_t bytes : {std::size_t(100), std::size_t(1) << 20, (std::size_t(32) << 20) + 3}) {
        std::vector<unsigned char> src(bytes);
        fill_pattern(src.data(), bytes, static_cast<std::uint32_t>(bytes));
        GuardedBuffer dst(bytes);
        engine.copy_async(dst.data(), src.data(), bytes).wait();
        CHECK(std::memcmp(dst.data(), src.data(), bytes) == 0);
        CHECK(dst.canaries_intact());
    }
    CHECK(jobs_run.load() - before == 3);
}

TEST_CASE("a submitter thread unwound inside a copy fails that copy and every later one on its lane, "
          "without aborting") {
    RunnerGuard runner;
    CopyEngine engine;
    const std::size_t bytes = std::size_t(1) << 20; // above what runs at submission
    std::vector<unsigned char> src(bytes);
    fill_pattern(src.data(), bytes, 9);
    GuardedBuffer first(bytes), queued(bytes), later(bytes);

    exit_next = true;
    CopyHandle a = engine.copy_async(first.data(), src.data(), bytes);
    while (!exiting_entered) std::this_thread::yield();
    CopyHandle b = engine.copy_async(queued.data(), src.data(), bytes); // queued behind a
    exiting_released = true;
    CHECK_THROWS_WITH_AS(a.wait(), doctest::Contains("was unwound"), Error);
    CHECK_THROWS_WITH_AS(b.wait(), doctest::Contains("was unwound"), Error);
    CopyHandle c = engine.copy_async(later.data(), src.data(), bytes); // the lane has no thread now
    CHECK(c.wait_for(std::chrono::seconds(60)));
    CHECK_THROWS_AS(c.wait(), Error);
    for (const GuardedBuffer* dst : {&first, &queued, &later}) {
        CHECK(all_zero(*dst));
        CHECK(dst->canaries_intact());
    }
    // Copies the lane never saw, and those run at submission, still work.
    engine.copy_async(first.data(), src.data(), 1000).wait();
    CHECK(std::memcmp(first.data(), src.data(), 1000) == 0);
}
