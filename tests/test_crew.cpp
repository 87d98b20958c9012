// The crew on its own: every block runs once whoever takes it, helpers hand their results to
// the caller through the job (ThreadSanitizer checks this test: tools/run-tests.sh builds it
// once more with a race planted in the crew and expects a report), and a crew whose helpers
// oneTBB never starts is destroyed at once.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <tbb/task_arena.h>

#if defined(__linux__)
#include <sched.h>
#endif

#include "crew.hpp"

using namespace tilecopy::detail;

namespace {

struct Results {
    std::vector<int> runs;            // plain ints: the job's completion must publish them
    std::vector<std::thread::id> who; // which thread ran each block
};

void run_block(void* ctx, const Block& block) noexcept {
    auto& r = *static_cast<Results*>(ctx);
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
    while (std::chrono::steady_clock::now() < until) cpu_relax(); // long enough for a helper to arrive
    ++r.runs[block.first];
    r.who[block.first] = std::this_thread::get_id();
}

// Runs `count` blocks through the crew as the scheduler does; returns how many a helper ran.
std::size_t run_job(Crew& crew, std::size_t count, Results& results) {
    std::vector<Block> blocks(count);
    for (std::size_t i = 0; i < count; ++i) blocks[i].first = i;
    results.runs.assign(count, 0);
    results.who.assign(count, std::thread::id());
    Job job;
    job.blocks = blocks.data();
    job.reset(count);
    job.fn = run_block;
    job.ctx = &results;
    crew.publish(job);
    job.work(/*from_back=*/false);
    while (!job.finished()) std::this_thread::yield();
    std::size_t by_helpers = 0;
    for (std::size_t i = 0; i < count; ++i) by_helpers += results.who[i] != std::this_thread::get_id();
    crew.retire(job);
    return by_helpers;
}

} // namespace

TEST_CASE("every block of a published job runs exactly once, and helpers take some of them") {
    tbb::task_arena arena(1, 0);
    Crew crew(arena, 1, std::chrono::milliseconds(5), CrewPinning{});
    std::size_t by_helpers = 0;
    // Until a helper took a block (a loaded machine may not run the worker for a while).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int round = 0; round < 20 || (by_helpers == 0 && std::chrono::steady_clock::now() < give_up); ++round) {
        Results results;
        by_helpers += run_job(crew, 64, results);
        std::size_t wrong = 0;
        for (int n : results.runs) wrong += n != 1;
        REQUIRE(wrong == 0);
    }
    CHECK(by_helpers > 0);
}

TEST_CASE("a crew whose helpers oneTBB never starts runs jobs on the caller and is destroyed at once") {
    // The arena's one worker slot is held by a task that waits until the crew is gone, so the
    // crew's helper stays queued, as in a forked child of a process that had used oneTBB
    // (whose workers do not exist there).
    tbb::task_arena arena(1, 0);
    // Static, so that no plain write initialises them: the blocker reaches them through libtbb,
    // which ThreadSanitizer cannot see into.
    static std::atomic<bool> holding{false}, release{false}, left{false};
    holding = release = left = false;
    arena.enqueue([] {
        holding = true;
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        left = true;
    });
    while (!holding.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto start = std::chrono::steady_clock::now();
    {
        Crew crew(arena, 1, std::chrono::seconds(1), CrewPinning{});
        Results results;
        CHECK(run_job(crew, 16, results) == 0);
        for (int n : results.runs) CHECK(n == 1);
    } // waits for no helper: the queued one finds the crew stopped when it runs
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    release = true;
    while (!left.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

#if defined(__linux__)
TEST_CASE("the job's thread waits out a helper's block on its own CPU, and a claim records the helper's CPU") {
    // Both threads bound to one CPU: the helper's block can only finish while the waiting
    // thread is off that CPU. With an hour's patience, the helper's finishing ends the wait.
    cpu_set_t mine;
    REQUIRE(sched_getaffinity(0, sizeof mine, &mine) == 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &mine)) ++cpu;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);

    struct Ctx {
        const Job* job = nullptr;
        std::atomic<bool> claimed{false};
        int recorded = -2, ran_on = -2;
        int runs = 0;
    } ctx;
    auto block_fn = [](void* p, const Block&) noexcept {
        auto& c = *static_cast<Ctx*>(p);
        c.recorded = c.job->helper_cpu.load();
        c.ran_on = sched_getcpu();
        c.claimed = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2)); // the waiting thread gets here first
        ++c.runs;
    };
    std::vector<Block> blocks(1);
    Job job;
    job.blocks = blocks.data();
    job.reset(1);
    job.fn = block_fn;
    job.ctx = &ctx;
    ctx.job = &job;
    std::thread helper([&] {
        cpu_set_t same;
        CPU_ZERO(&same);
        CPU_SET(cpu, &same);
        sched_setaffinity(0, sizeof same, &same);
        job.work(/*from_back=*/true);
    });
    while (!ctx.claimed.load()) std::this_thread::yield();
    job.wait(std::chrono::hours(1));
    helper.join();
    REQUIRE(sched_setaffinity(0, sizeof mine, &mine) == 0);
    CHECK(ctx.runs == 1);
    CHECK(ctx.recorded == ctx.ran_on);
    CHECK(ctx.recorded == cpu);
}
#endif
