#include "crew.hpp"

#include "fork_guard.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

// ThreadSanitizer cannot see into libtbb (not instrumented): a helper task is built on the
// publishing thread and run on a worker through libtbb's queues, so without these the first
// accesses on the worker look like races. A release when the task is built, an acquire when it
// starts, say what libtbb guarantees. Compiled only under the sanitizer.
#if defined(__SANITIZE_THREAD__)
#define TILECOPY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TILECOPY_TSAN 1
#endif
#endif
#if defined(TILECOPY_TSAN)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#define TILECOPY_HANDOFF_RELEASE(addr) __tsan_release(addr)
#define TILECOPY_HANDOFF_ACQUIRE(addr) __tsan_acquire(addr)
#else
#define TILECOPY_HANDOFF_RELEASE(addr) ((void)(addr))
#define TILECOPY_HANDOFF_ACQUIRE(addr) ((void)(addr))
#endif

// TILECOPY_PLANT_CREW_RACE (defined only for tests/test_crew's planted build, never for the
// library): a job's completion is published without release/acquire, so the caller may read
// a helper's results unsynchronised. ThreadSanitizer must report it (tools/run-tests.sh).
#if defined(TILECOPY_PLANT_CREW_RACE)
#define TILECOPY_DONE_PUBLISH std::memory_order_relaxed
#define TILECOPY_DONE_OBSERVE std::memory_order_relaxed
#else
#define TILECOPY_DONE_PUBLISH std::memory_order_acq_rel
#define TILECOPY_DONE_OBSERVE std::memory_order_acquire
#endif

namespace tilecopy::detail {

// No PAUSE instruction in the spin loops, on purpose: under KVM (this project's machines) a
// vCPU that executes PAUSE in a loop triggers pause-loop exiting, and the hypervisor
// deschedules it as if it were waiting for a preempted lock holder. Measured here: a helper
// spinning with PAUSE vanished for milliseconds after its first job and took 1% of the
// blocks; spinning on plain loads it stayed and took ~45% (4 MiB copies 58 -> 85 GB/s).
// The spins are bounded (Options::linger_us), and so is the cost to an SMT sibling on bare metal.
void cpu_relax() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

namespace {

// Orders this thread's non-temporal stores before its later stores: the `done` count that
// tells the caller its blocks are written.
void fence_streaming_stores() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// The CPU the calling thread runs on, or -1 where that is unknown (glibc reads it from the
// thread's rseq area: a load, no system call).
int current_cpu() noexcept {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

} // namespace

void Job::reset(std::size_t blocks_in_job) noexcept {
    count = blocks_in_job;
    ends.store(std::uint64_t(blocks_in_job) << 32, std::memory_order_relaxed);
}

bool Job::exhausted() const noexcept {
    const std::uint64_t e = ends.load(std::memory_order_relaxed);
    return (e & 0xFFFFFFFFu) >= (e >> 32);
}

bool Job::finished() const noexcept { return done.load(TILECOPY_DONE_OBSERVE) == count; }

bool Job::work(bool from_back) noexcept {
    std::size_t ran = 0;
    bool stopped = false;
    std::uint64_t e = ends.load(std::memory_order_relaxed);
    for (;;) {
        const std::uint64_t front = e & 0xFFFFFFFFu;
        const std::uint64_t back = e >> 32;
        if (front >= back) break;
        if (gate && !gate->admit()) {
            if (!gate->stopped()) break;
            // Stopped: take every block left at once, so that nothing waits for them to be
            // skipped one by one; they count as done without running.
            if (!ends.compare_exchange_weak(e, (back << 32) | back, std::memory_order_relaxed)) continue;
            gate->dropped(back - front);
            done.fetch_add(back - front, TILECOPY_DONE_PUBLISH);
            stopped = true;
            break;
        }
        const std::uint64_t claimed = from_back ? e - (std::uint64_t(1) << 32) : e + 1;
        if (!ends.compare_exchange_weak(e, claimed, std::memory_order_relaxed)) continue;
        const std::size_t i = from_back ? back - 1 : front;
        if (from_back) helper_cpu.store(current_cpu(), std::memory_order_relaxed);
        fn(ctx, blocks[order ? order[i] : i]);
        ++ran;
        e = ends.load(std::memory_order_relaxed);
    }
    if (ran) {
        // One fence per thread and job, not per block: `done` is what the caller waits on
        // (and all it returns on); progress counters promise nothing about visibility.
        if (fence) fence_streaming_stores();
        done.fetch_add(ran, TILECOPY_DONE_PUBLISH);
    }
    return stopped;
}

// Yielding at once whenever a helper is still busy gave the CPU away to other processes' threads:
// with another process busy on both vCPUs, a 4 MiB copy whose helper finished its last block
// 40 us after the caller ran out of blocks returned 3.4 ms later, one time slice of the thread
// the caller yielded to. Spinning, the caller waits only for that block. A helper that claimed
// its block on the caller's CPU (woken there while the caller was preempted) cannot finish
// while the caller spins, so then the caller yields at once.
void Job::wait(std::chrono::microseconds patience) const noexcept {
    using clock = std::chrono::steady_clock;
    clock::time_point since{};
    for (unsigned spins = 1; !finished(); ++spins) {
        if ((spins & 255) == 0) {
            const int here = current_cpu();
            if (here >= 0 && helper_cpu.load(std::memory_order_relaxed) == here) {
                std::this_thread::yield();
                continue;
            }
            const clock::time_point now = clock::now();
            if (spins == 256)
                since = now;
            else if (now - since > patience)
                std::this_thread::yield(); // a helper was preempted inside its block
        }
        cpu_relax();
    }
}

// What helpers touch: it outlives the crew as long as a helper task (started or not) holds it.
struct Crew::Shared {
    explicit Shared(std::chrono::microseconds l, CrewPinning p) : linger(l), pinning(std::move(p)) {}

    const std::chrono::microseconds linger;
    const CrewPinning pinning;
    std::atomic<int> enqueued{0}; // helper tasks handed to oneTBB that have not left yet
    std::atomic<int> running{0};  // helpers that started and have not left yet
    std::atomic<bool> stopping{false};
    std::atomic<unsigned long> epoch{0};
    std::atomic<unsigned long> dismissals{0};
    std::atomic<std::uint64_t> pinned{0};
    std::atomic<std::uint64_t> pin_failures{0};
    std::atomic<std::uint64_t> recruited{0};
    std::mutex mutex;
    std::vector<Job*> jobs;

    Job* pick() noexcept;
    void help() noexcept;
};

namespace {

// A base, so that it acquires before any member of the task is built and releases after the
// last one is destroyed: libtbb recycles task memory in its own pool, so a new task may be built
// where a worker has just destroyed the last one.
struct HandoffMark {
    HandoffMark() noexcept { TILECOPY_HANDOFF_ACQUIRE(this); }
    HandoffMark(const HandoffMark&) noexcept { TILECOPY_HANDOFF_ACQUIRE(this); }
    HandoffMark& operator=(const HandoffMark&) = delete;
    ~HandoffMark() { TILECOPY_HANDOFF_RELEASE(this); }
};

// The task handed to oneTBB. Building it (the copy into libtbb's task object) releases,
// running it acquires; the same address (an empty base sits at the object's own) throughout.
struct HelperTask : HandoffMark {
    std::shared_ptr<Crew::Shared> shared;

    explicit HelperTask(std::shared_ptr<Crew::Shared> s) noexcept : shared(std::move(s)) {}
    HelperTask(const HelperTask& other) noexcept : HandoffMark(other), shared(other.shared) {
        TILECOPY_HANDOFF_RELEASE(this);
    }
    HelperTask(HelperTask&& other) noexcept : HandoffMark(other), shared(std::move(other.shared)) {
        TILECOPY_HANDOFF_RELEASE(this);
    }
    HelperTask& operator=(const HelperTask&) = delete;

    void operator()() const noexcept {
        TILECOPY_HANDOFF_ACQUIRE(const_cast<HelperTask*>(this));
        shared->help();
    }
};

} // namespace

Crew::Crew(tbb::task_arena& arena, int helpers, std::chrono::microseconds linger, CrewPinning pinning)
    : arena_(arena), max_helpers_(helpers), shared_(std::make_shared<Shared>(linger, std::move(pinning))) {}

Crew::~Crew() { stop(); }

void Crew::stop() noexcept {
    Shared& sh = *shared_;
    // seq_cst on both sides: either a starting helper sees `stopping`, or this sees it running.
    sh.stopping.store(true, std::memory_order_seq_cst);
    while (sh.running.load(std::memory_order_seq_cst) > 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    // Helpers still only enqueued are not waited for: oneTBB may run them much later, or
    // never (a forked child); they find `stopping` and leave without touching anything else.
}

std::chrono::microseconds Crew::linger() const noexcept { return shared_->linger; }

int Crew::running() const noexcept { return shared_->running.load(std::memory_order_relaxed); }

std::uint64_t Crew::recruited() const noexcept { return shared_->recruited.load(std::memory_order_relaxed); }
std::uint64_t Crew::pinned() const noexcept { return shared_->pinned.load(std::memory_order_relaxed); }
std::uint64_t Crew::pin_failures() const noexcept { return shared_->pin_failures.load(std::memory_order_relaxed); }

void Crew::publish(Job& job) noexcept {
    if (max_helpers_ == 0) return;
    Shared& sh = *shared_;
    {
        std::lock_guard<std::mutex> lock(sh.mutex);
        try {
            sh.jobs.push_back(&job);
        } catch (...) {
            return; // no room to list it: the submitting thread runs the job alone
        }
    }
    recruit();
}

void Crew::nudge() noexcept {
    if (max_helpers_ > 0) recruit();
}

void Crew::dismiss() noexcept {
    if (max_helpers_ > 0) shared_->dismissals.fetch_add(1, std::memory_order_acq_rel);
}

void Crew::recruit() noexcept {
    Shared& sh = *shared_;
    sh.epoch.fetch_add(1, std::memory_order_acq_rel);
    int h = sh.enqueued.load(std::memory_order_acquire);
    while (h < max_helpers_) {
        if (sh.enqueued.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel)) {
            note_workers_started();
            try {
                arena_.enqueue(HelperTask(shared_));
                sh.recruited.fetch_add(1, std::memory_order_relaxed);
            } catch (...) {
                sh.enqueued.fetch_sub(1, std::memory_order_acq_rel); // no helper then; the caller copes
                return;
            }
            ++h;
        }
    }
}

void Crew::retire(Job& job) noexcept {
    if (max_helpers_ == 0) return;
    {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        auto& jobs = shared_->jobs;
        jobs.erase(std::remove(jobs.begin(), jobs.end(), &job), jobs.end());
    }
    while (job.users.load(std::memory_order_acquire) > 0) cpu_relax();
}

Job* Crew::Shared::pick() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    for (Job* job : jobs) {
        if (!job->exhausted() && (!job->gate || (job->gate->admit() && job->gate->join()))) {
            job->users.fetch_add(1, std::memory_order_acq_rel);
            return job;
        }
    }
    return nullptr;
}

namespace {

// Binds the calling worker for as long as it helps, and restores its binding afterwards.
class ScopedPin {
public:
    ScopedPin(const CrewPinning& pinning, std::atomic<std::uint64_t>& pinned, std::atomic<std::uint64_t>& failed) noexcept
        : topology_(pinning.topology.get()) {
        if (!topology_) return;
        try {
            bound_ = topology_->bind_thread(pinning.cpus, previous_);
        } catch (...) {
            bound_ = false;
        }
        (bound_ ? pinned : failed).fetch_add(1, std::memory_order_relaxed);
    }
    ~ScopedPin() {
        if (bound_) topology_->restore_thread(previous_);
    }
    ScopedPin(const ScopedPin&) = delete;
    ScopedPin& operator=(const ScopedPin&) = delete;

private:
    Topology* topology_;
    bool bound_ = false;
    std::string previous_;
};

} // namespace

void Crew::Shared::help() noexcept {
    using clock = std::chrono::steady_clock;
    running.fetch_add(1, std::memory_order_seq_cst);
    if (stopping.load(std::memory_order_seq_cst)) {
        enqueued.fetch_sub(1, std::memory_order_acq_rel);
        running.fetch_sub(1, std::memory_order_seq_cst);
        return;
    }
    {
        ScopedPin pin(pinning, pinned, pin_failures);
        bool cut_short = false;
        // Dismissals after this (read before the last job is let go, so that its own thread's
        // dismiss, which waits for that, is never missed) end the linger.
        unsigned long dismissed = dismissals.load(std::memory_order_acquire);
        for (;;) {
            const unsigned long seen = epoch.load(std::memory_order_acquire);
            if (Job* job = pick()) {
                cut_short = job->work(/*from_back=*/true);
                if (job->gate) job->gate->leave();
                dismissed = dismissals.load(std::memory_order_acquire);
                job->users.fetch_sub(1, std::memory_order_acq_rel);
                continue;
            }
            // The last job was cancelled: no tile of it comes next, and spinning would keep a
            // core from the thread that ends it (measured: a cancelled copy on two threads
            // finished ~2 ms, the linger, after the cancel; 0.1 ms without it).
            if (cut_short) break;
            // Nothing to take: linger for a new job, then leave (at once when dismissed).
            // Yielding between looks lets a thread waiting for this CPU run first: a helper woken
            // on the vCPU of a caller that was then preempted kept that caller off it for the
            // whole linger (measured: 4 MiB copies 2.4 ms instead of 0.25 ms, one in ten with
            // another process busy). With nothing else runnable, a yield returns at once.
            const auto until = clock::now() + linger;
            bool fresh = false;
            for (unsigned spins = 0; !fresh; ++spins) {
                fresh = epoch.load(std::memory_order_acquire) != seen;
                if (!fresh && (spins & 255) == 255) {
                    if (clock::now() > until || stopping.load(std::memory_order_acquire) ||
                        dismissals.load(std::memory_order_acquire) != dismissed)
                        break;
                    std::this_thread::yield();
                }
                cpu_relax();
            }
            if (!fresh) break;
        }
        // A job published after our last look but before we left may have counted on us;
        // its own thread runs it to the end regardless, so leaving is always safe.
        enqueued.fetch_sub(1, std::memory_order_acq_rel);
    } // the thread's binding is restored here, before it stops counting as running
    running.fetch_sub(1, std::memory_order_seq_cst);
}

} // namespace tilecopy::detail
