#include "async.hpp"

#include "fork_guard.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <limits>

#include <tilecopy/async_runner.hpp>
#include <tilecopy/copy_handle.hpp>
#include <tilecopy/error.hpp>

namespace tilecopy {

namespace {

std::atomic<AsyncJobRunner> job_runner{nullptr};

std::exception_ptr thread_exited_error() {
    return std::make_exception_ptr(
        Error("tilecopy: the thread running this asynchronous copy was unwound (cancelled, or exited as "
              "Python's finalization makes threads do) before the copy finished"));
}

std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void stamp_start(detail::AsyncState& state) noexcept {
    const auto system = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    state.started_system_ns.store(system.count(), std::memory_order_relaxed);
    state.started_ns.store(std::max<std::int64_t>(1, steady_ns()), std::memory_order_release);
}

// Only finished blocks count, so the numbers are exact: the destination holds those bytes, and
// whatever blocks had not started were left as they were.
Error cancelled_error(const detail::AsyncState& state) {
    return Error("tilecopy: cancelled after " + std::to_string(state.copied.load(std::memory_order_relaxed)) + " of " +
                 std::to_string(state.total) + " bytes");
}

} // namespace

void set_async_job_runner(AsyncJobRunner runner) noexcept { job_runner.store(runner, std::memory_order_release); }

namespace detail {

// A forced unwind carries no exception object: a handler for abi::__forced_unwind binds its
// reference to null, which is how the ABI catches one; UBSan's null check would report each, so
// it is off in the two functions that have such a handler.
#define TILECOPY_CATCHES_FORCED_UNWIND __attribute__((no_sanitize("null")))

TILECOPY_CATCHES_FORCED_UNWIND void AsyncState::run() {
    int queued = Queued;
    if (!phase.compare_exchange_strong(queued, Running, std::memory_order_acq_rel)) return; // dropped by cancel()
    stamp_start(*this);
    std::exception_ptr e;
    try {
        const CopyControl::Scope limits(&control);
        if (control.cancelled()) {
            control.skip();
            throw cancelled_error(*this);
        }
        if (const AsyncJobRunner runner = job_runner.load(std::memory_order_acquire))
            runner([](void* self) { static_cast<AsyncState*>(self)->work(*static_cast<AsyncState*>(self)); }, this);
        else
            work(*this);
    } catch (abi::__forced_unwind&) {
        // pthread_exit or cancellation: swallowing it aborts the process ("exception not
        // rethrown"); the waiters learn that the copy stopped.
        finish(thread_exited_error());
        throw;
    } catch (...) {
        e = std::current_exception();
    }
    if (!e && control.stopped_short()) e = std::make_exception_ptr(cancelled_error(*this));
    finish(std::move(e));
}

void AsyncState::cancel() noexcept {
    if (finished.load(std::memory_order_acquire) || orphaned()) return;
    control.cancel();
    int queued = Queued;
    if (phase.compare_exchange_strong(queued, Dropped, std::memory_order_acq_rel)) {
        stamp_start(*this);
        finish(std::make_exception_ptr(cancelled_error(*this)));
    }
}

void AsyncState::finish(std::exception_ptr e) noexcept {
    // Release first, then publish: a waiter that returns from wait() may rely on the engine
    // holding no reference to its tensors (their deleters must not run here afterwards).
    work = nullptr;
    keep_alive.reset();
    finished_ns.store(std::max<std::int64_t>(1, steady_ns()), std::memory_order_release);
    {
        std::lock_guard<std::mutex> lock(mutex);
        error = std::move(e);
        finished.store(true, std::memory_order_release);
    }
    cv.notify_all();
}

bool AsyncState::orphaned() const noexcept {
    return generation != fork_generation() && !finished.load(std::memory_order_acquire);
}

void AsyncState::wait_finished() noexcept {
    if (finished.load(std::memory_order_acquire) || orphaned()) return;
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [this] { return finished.load(std::memory_order_acquire); });
}

bool AsyncState::wait_finished_until(std::chrono::steady_clock::time_point deadline) noexcept {
    if (finished.load(std::memory_order_acquire) || orphaned()) return true;
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_until(lock, deadline, [this] { return finished.load(std::memory_order_acquire); });
}

AsyncExecutor::~AsyncExecutor() {
    for (auto& lane : lanes_) {
        Shared& sh = *lane;
        if (sh.thread.joinable() && sh.generation != fork_generation()) {
            // A forked child: the thread and whatever it held stayed in the parent. Its queued
            // jobs are the parent's to run; nothing of the lane may be touched here.
            (void)lane.release();
            continue;
        }
        {
            std::lock_guard<std::mutex> lock(sh.mutex);
            sh.stopping = true;
        }
        sh.cv.notify_all();
        if (sh.thread.joinable()) sh.thread.join();
    }
}

void AsyncExecutor::submit(std::shared_ptr<AsyncState> job, Lane lane) {
    Shared& sh = *lanes_[static_cast<unsigned>(lane)];
    {
        std::lock_guard<std::mutex> lock(sh.mutex);
        if (!sh.thread.joinable()) {
            sh.thread = std::thread([&sh] { loop(sh); });
            sh.generation = fork_generation();
        }
        if (!sh.exited) {
            sh.queue.push_back(std::move(job));
            job = nullptr;
        }
    }
    if (job)
        job->finish(thread_exited_error());
    else
        sh.cv.notify_one();
}

TILECOPY_CATCHES_FORCED_UNWIND void AsyncExecutor::loop(Shared& sh) {
    std::unique_lock<std::mutex> lock(sh.mutex);
    for (;;) {
        sh.cv.wait(lock, [&sh] { return sh.stopping || !sh.queue.empty(); });
        if (sh.queue.empty()) return; // stopping, and nothing left to run
        auto job = std::move(sh.queue.front());
        sh.queue.pop_front();
        lock.unlock();
        try {
            job->run();
        } catch (abi::__forced_unwind&) {
            // The thread goes (see AsyncState::run); what is queued behind will never run here,
            // so its waiters must not wait for it.
            lock.lock();
            sh.exited = true;
            std::deque<std::shared_ptr<AsyncState>> orphans;
            orphans.swap(sh.queue);
            lock.unlock();
            for (auto& orphan : orphans) orphan->finish(thread_exited_error());
            throw;
        }
        job.reset();
        lock.lock();
    }
}

} // namespace detail

namespace {

[[noreturn]] void throw_orphaned(const detail::AsyncState& state) {
    throw Error("tilecopy: this asynchronous copy (" + std::to_string(state.total) +
                " bytes) was still running in the parent process when it called fork(); it ran on in the "
                "parent, and this child's destination is a snapshot taken mid-copy (" +
                std::to_string(state.copied.load(std::memory_order_relaxed)) + " bytes were copied by then)");
}

} // namespace

CopyHandle::CopyHandle() noexcept = default;
CopyHandle::CopyHandle(std::shared_ptr<detail::AsyncState> state) noexcept : state_(std::move(state)) {}
CopyHandle::CopyHandle(CopyHandle&& other) noexcept = default;

CopyHandle& CopyHandle::operator=(CopyHandle&& other) noexcept {
    if (this != &other) {
        if (state_) state_->wait_finished();
        state_ = std::move(other.state_);
    }
    return *this;
}

CopyHandle::~CopyHandle() {
    if (state_) state_->wait_finished();
}

void CopyHandle::wait() {
    if (!state_) return;
    state_->wait_finished();
    if (state_->orphaned()) throw_orphaned(*state_);
    if (state_->error) std::rethrow_exception(state_->error);
}

bool CopyHandle::wait_for(std::chrono::nanoseconds timeout) {
    if (!state_) return true;
    using clock = std::chrono::steady_clock;
    const auto now = clock::now();
    if (timeout <= std::chrono::nanoseconds::zero()) return done();
    if (timeout >= clock::time_point::max() - now) {
        state_->wait_finished();
        return true;
    }
    return state_->wait_finished_until(now + std::chrono::duration_cast<clock::duration>(timeout));
}

bool CopyHandle::done() const noexcept {
    return !state_ || state_->finished.load(std::memory_order_acquire) || state_->orphaned();
}

std::uint64_t CopyHandle::bytes_copied() const noexcept {
    return state_ ? state_->copied.load(std::memory_order_relaxed) : 0;
}

std::uint64_t CopyHandle::bytes_total() const noexcept { return state_ ? state_->total : 0; }

void CopyHandle::cancel() noexcept {
    if (state_) state_->cancel();
}

std::chrono::system_clock::time_point CopyHandle::started_at() const noexcept {
    if (!state_ || state_->started_ns.load(std::memory_order_acquire) == 0) return {};
    return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::nanoseconds(state_->started_system_ns.load(std::memory_order_relaxed))));
}

std::chrono::system_clock::time_point CopyHandle::finished_at() const noexcept {
    const std::int64_t end = state_ ? state_->finished_ns.load(std::memory_order_acquire) : 0;
    if (end == 0 || state_->started_ns.load(std::memory_order_acquire) == 0) return {};
    return started_at() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::nanoseconds(end - state_->started_ns.load(std::memory_order_acquire)));
}

double CopyHandle::seconds() const noexcept {
    const std::int64_t start = state_ ? state_->started_ns.load(std::memory_order_acquire) : 0;
    if (start == 0) return 0;
    std::int64_t end = state_->finished_ns.load(std::memory_order_acquire);
    if (end == 0) end = steady_ns();
    return static_cast<double>(std::max<std::int64_t>(0, end - start)) * 1e-9;
}

double CopyHandle::bytes_per_second() const noexcept {
    const double s = seconds();
    return s > 0 ? static_cast<double>(bytes_copied()) / s : 0;
}

} // namespace tilecopy
