// tilecopy::CopyHandle: the caller's side of an asynchronous copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <tilecopy/export.hpp>

namespace tilecopy {

namespace detail {
struct AsyncState;
struct HandleAccess;
} // namespace detail

// Returned by CopyEngine::copy_async and copy_batch_async. Destroying (or assigning over) a
// handle whose copy has not finished waits for it. A default-constructed handle is done.
//
// fork(): a handle whose copy was still running when the process forked never blocks in the
// child. The copy runs on in the parent only; in the child done() and wait_for() answer true at
// once, the destructor returns at once, and wait() throws tilecopy::Error saying so (the
// child's destination is whatever the parent had written when it forked).
class TILECOPY_API CopyHandle {
public:
    CopyHandle() noexcept;
    explicit CopyHandle(std::shared_ptr<detail::AsyncState> state) noexcept;
    CopyHandle(CopyHandle&& other) noexcept;
    CopyHandle& operator=(CopyHandle&& other) noexcept;
    CopyHandle(const CopyHandle&) = delete;
    CopyHandle& operator=(const CopyHandle&) = delete;
    ~CopyHandle();

    // Blocks until the copy has finished; rethrows the error that stopped it, if any
    // (every call rethrows the same error).
    void wait();
    // Blocks until the copy has finished or `timeout` has passed (a duration in any unit
    // that converts exactly to nanoseconds: std::chrono::milliseconds(5), 2s ...); true when
    // it has finished, successfully or not: wait() then returns (or throws) at once. A zero or
    // negative timeout only looks, like done(). Never throws the copy's error.
    bool wait_for(std::chrono::nanoseconds timeout);
    // Never blocks: true once the copy has finished (successfully or not).
    bool done() const noexcept;
    // Progress, readable from any thread while the copy runs: destination bytes written so
    // far (rises block by block) and in all.
    std::uint64_t bytes_copied() const noexcept;
    std::uint64_t bytes_total() const noexcept;

    // Stops the copy at the next block boundary, from any thread: blocks already claimed finish,
    // no other starts. wait() then throws tilecopy::Error("... cancelled after N of M bytes"),
    // where N = bytes_copied() counts the finished blocks exactly; the destination holds those
    // blocks' bytes and is untouched elsewhere (partly written: which blocks ran is not said). A
    // copy still queued never runs (wait() returns at once: 0 of M bytes). Does nothing once the
    // copy has finished (its outcome stands: a copy whose last block ran before the cancel was
    // seen succeeds), on a default-constructed handle, or in a forked child for a copy of the
    // parent's (which runs on there).
    void cancel() noexcept;

    // Progress in time: when the copy left the queue and when it finished, on the system clock
    // (a copy cancelled in the queue starts and finishes at its cancel); the clock's epoch (a
    // default time_point) until then.
    std::chrono::system_clock::time_point started_at() const noexcept;
    std::chrono::system_clock::time_point finished_at() const noexcept;
    // Seconds from start to finish, or to now while it runs (0 before it starts), measured on
    // the steady clock; and bytes_copied() / seconds(), the rate achieved (0 before any time
    // has passed).
    double seconds() const noexcept;
    double bytes_per_second() const noexcept;
    // A checksummed copy's result (copy_async / copy_batch_async with a Checksum): waits as
    // wait() does (rethrowing its error), then gives the checksum of the bytes copied, one per
    // region for checksums(). checksum() of a batch of several regions, or of a copy started
    // without a checksum, throws tilecopy::Error.
    std::uint32_t checksum();
    std::vector<std::uint32_t> checksums();

private:
    friend struct detail::HandleAccess; // tests and benchmarks read the copy's limits' counts
    std::shared_ptr<detail::AsyncState> state_;
};

} // namespace tilecopy
