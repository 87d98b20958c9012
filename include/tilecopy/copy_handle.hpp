// tilecopy::CopyHandle: the caller's side of an asynchronous copy.
#pragma once

#include <cstdint>
#include <memory>

#include <tilecopy/export.hpp>

namespace tilecopy {

namespace detail {
struct AsyncState;
}

// Returned by CopyEngine::copy_async and copy_batch_async. Destroying (or assigning over) a
// handle whose copy has not finished waits for it. A default-constructed handle is done.
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
    // Never blocks.
    bool done() const noexcept;
    // Progress, readable from any thread while the copy runs: destination bytes written so
    // far (rises block by block) and in all.
    std::uint64_t bytes_copied() const noexcept;
    std::uint64_t bytes_total() const noexcept;

private:
    std::shared_ptr<detail::AsyncState> state_;
};

} // namespace tilecopy
