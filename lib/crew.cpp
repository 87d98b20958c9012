#include "crew.hpp"

#include "fork_guard.hpp"

#include <algorithm>
#include <chrono>
#include <thread>


namespace tilecopy::detail {


// No PAUSE instruction in the spin loops, on purpose: under KVM (this project's machines) a
// vCPU that executes PAUSE in a loop triggers pause-loop exiting, and the hypervisor
// deschedules it as if it were waiting for a preempted lock holder. Measured here: a helper
// spinning with PAUSE vanished for milliseconds after its first job and took 1% of the
// blocks; spinning on plain loads it stayed and took ~45% (4 MiB copies 58 -> 85 GB/s).
// The spins are bounded (Options::linger_us), and so is the cost to an SMT sibling on bare metal.
void cpu_relax() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

void Job::reset(std::size_t blocks_in_job) noexcept {
    count = blocks_in_job;
    ends.store(std::uint64_t(blocks_in_job) << 32, std::memory_order_relaxed);
}

bool Job::exhausted() const noexcept {
    const std::uint64_t e = ends.load(std::memory_order_relaxed);
    return (e & 0xFFFFFFFFu) >= (e >> 32);
}

void Job::work(bool from_back) noexcept {
    std::size_t ran = 0;
    std::uint64_t e = ends.load(std::memory_order_relaxed);
    for (;;) {
        const std::uint64_t front = e & 0xFFFFFFFFu;
        const std::uint64_t back = e >> 32;
        if (front >= back) break;
        const std::uint64_t claimed = from_back ? e - (std::uint64_t(1) << 32) : e + 1;
        if (!ends.compare_exchange_weak(e, claimed, std::memory_order_relaxed)) continue;
        const std::size_t i = from_back ? back - 1 : front;
        fn(ctx, blocks[order ? order[i] : i]);
        ++ran;
        e = ends.load(std::memory_order_relaxed);
    }
    if (ran) done.fetch_add(ran, std::memory_order_acq_rel);
}

Crew::~Crew() {
    // Lingering helpers leave at once when told; they reference this crew until they have.
    stopping_.store(true, std::memory_order_release);
    while (helpers_.load(std::memory_order_acquire) > 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

void Crew::publish(Job& job) noexcept {
    if (max_helpers_ == 0) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            jobs_.push_back(&job);
        } catch (...) {
            return; // no room to list it: the submitting thread runs the job alone
        }
    }
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    int h = helpers_.load(std::memory_order_acquire);
    while (h < max_helpers_) {
        if (helpers_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel)) {
            note_workers_started();
            try {
                arena_.enqueue([this] { help(); });
            } catch (...) {
                helpers_.fetch_sub(1, std::memory_order_acq_rel); // no helper then; the caller copes
                return;
            }
            ++h;
        }
    }
}

void Crew::retire(Job& job) noexcept {
    if (max_helpers_ == 0) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), &job), jobs_.end());
    }
    while (job.users.load(std::memory_order_acquire) > 0) cpu_relax();
}

Job* Crew::pick() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (Job* job : jobs_) {
        if (!job->exhausted()) {
            job->users.fetch_add(1, std::memory_order_acq_rel);
            return job;
        }
    }
    return nullptr;
}

void Crew::help() noexcept {
    using clock = std::chrono::steady_clock;
    for (;;) {
        const unsigned long seen = epoch_.load(std::memory_order_acquire);
        if (Job* job = pick()) {
            job->work(/*from_back=*/true);
            job->users.fetch_sub(1, std::memory_order_acq_rel);
            continue;
        }
        // Nothing to take: linger for a new job, then leave.
        const auto until = clock::now() + linger_;
        bool fresh = false;
        for (unsigned spins = 0; !fresh; ++spins) {
            fresh = epoch_.load(std::memory_order_acquire) != seen;
            if (!fresh && (spins & 255) == 255 && (clock::now() > until || stopping_.load(std::memory_order_acquire)))
                break;
            cpu_relax();
        }
        if (!fresh) {
            helpers_.fetch_sub(1, std::memory_order_acq_rel);
            // A job published after our last look but before we left may have counted on us;
            // its own thread runs it to the end regardless, so leaving is always safe.
            return;
        }
    }
}

} // namespace tilecopy::detail
