#include "async.hpp"

#include "fork_guard.hpp"

#include <tilecopy/copy_handle.hpp>

namespace tilecopy {

namespace detail {

void AsyncState::finish(std::exception_ptr e) noexcept {
    {
        std::lock_guard<std::mutex> lock(mutex);
        error = std::move(e);
        finished.store(true, std::memory_order_release);
    }
    cv.notify_all();
    // Drop the work (and whatever its captures hold) now rather than with the last handle.
    work = nullptr;
    keep_alive.reset();
}

void AsyncState::wait_finished() noexcept {
    if (finished.load(std::memory_order_acquire)) return;
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [this] { return finished.load(std::memory_order_acquire); });
}

AsyncExecutor::~AsyncExecutor() {
    Shared& sh = *shared_;
    if (generation_ != fork_generation()) {
        (void)shared_.release(); // a forked child: nothing of it may be touched
        return;
    }
    {
        std::lock_guard<std::mutex> lock(sh.mutex);
        sh.stopping = true;
    }
    sh.cv.notify_all();
    if (sh.thread.joinable()) sh.thread.join();
}

void AsyncExecutor::submit(std::shared_ptr<AsyncState> job) {
    Shared& sh = *shared_;
    {
        std::lock_guard<std::mutex> lock(sh.mutex);
        if (!sh.thread.joinable()) {
            sh.thread = std::thread([&sh] { loop(sh); });
            generation_ = fork_generation();
        }
        sh.queue.push_back(std::move(job));
    }
    sh.cv.notify_one();
}

void AsyncExecutor::loop(Shared& sh) noexcept {
    std::unique_lock<std::mutex> lock(sh.mutex);
    for (;;) {
        sh.cv.wait(lock, [&sh] { return sh.stopping || !sh.queue.empty(); });
        if (sh.queue.empty()) return; // stopping, and nothing left to run
        auto job = std::move(sh.queue.front());
        sh.queue.pop_front();
        lock.unlock();
        std::exception_ptr error;
        try {
            job->work(*job);
        } catch (...) {
            error = std::current_exception();
        }
        job->finish(std::move(error));
        job.reset();
        lock.lock();
    }
}

} // namespace detail

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
    if (state_->error) std::rethrow_exception(state_->error);
}

bool CopyHandle::done() const noexcept {
    return !state_ || state_->finished.load(std::memory_order_acquire);
}

std::uint64_t CopyHandle::bytes_copied() const noexcept {
    return state_ ? state_->copied.load(std::memory_order_relaxed) : 0;
}

std::uint64_t CopyHandle::bytes_total() const noexcept { return state_ ? state_->total : 0; }

} // namespace tilecopy
