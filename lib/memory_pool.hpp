// The clone pool (Options::clone_pool_bytes): buffers released by the tensors of clone(),
// clone_batch() and empty_like() kept for the next such call of the same size and options, so
// that repeated clones (a checkpoint's staging, save after save) write into warm memory instead
// of pages the kernel must find, zero and map again. Bounded in bytes, oldest unmapped first;
// held buffers advised for huge pages are marked MADV_FREE, so the kernel may reclaim their
// pages under memory pressure (a reclaimed page faults back in as a zero page when the buffer is
// reused: still correct, as every byte a clone's tensors show is written before it is read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

#include <tilecopy/memory.hpp>

#include "adapter/adapter.hpp" // PoolKey

namespace tilecopy::detail {

class BufferPool {
public:
    explicit BufferPool(std::size_t limit_bytes) noexcept;
    ~BufferPool();
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // Whether a buffer for `key` may come from and go back to the pool: a pool of some size, not
    // in a forked child of the process that made it, and a placement that does not leave pages
    // to the copy's workers (Copier).
    bool accepts(const PoolKey& key) const noexcept;
    // The most recently released buffer for `key` (removed from the pool), or an empty one.
    HostBuffer take(const PoolKey& key) noexcept;
    // Keeps `buffer` (marked MADV_FREE when advised for huge pages), unmapping the oldest held ones as needed to stay within
    // the limit; or unmaps it when it cannot be kept. Never throws.
    void give(HostBuffer buffer, const PoolKey& key) noexcept;
    // Unmaps every held buffer; their bytes.
    std::size_t trim() noexcept;
    PoolStats stats() const noexcept;

private:
    struct Entry {
        PoolKey key;
        HostBuffer buffer;
    };
    const std::size_t limit_;
    const unsigned generation_; // fork generation at construction
    mutable std::mutex mutex_;
    std::list<Entry> entries_; // most recently released first
    PoolStats stats_;
};

// The pool of an engine with these memory settings.
std::shared_ptr<BufferPool> make_buffer_pool(std::size_t limit_bytes);

} // namespace tilecopy::detail
