// The clone pool (memory_pool.hpp) and the engine's door to it for the torch adapter.
#include "memory_pool.hpp"

#include <sys/mman.h>

#include <utility>

#include "adapter/adapter.hpp"
#include "engine.hpp"
#include "fork_guard.hpp"

namespace tilecopy::detail {

BufferPool::BufferPool(std::size_t limit_bytes) noexcept : limit_(limit_bytes), generation_(fork_generation()) {
    stats_.limit_bytes = limit_bytes;
}

// Single owner by then: the engine dropped its pointer and no release holds one.
BufferPool::~BufferPool() = default;

bool BufferPool::accepts(const PoolKey& key) const noexcept {
    return limit_ > 0 && key.bytes > 0 && key.bytes <= limit_ && key.placement != Placement::Copier &&
           fork_generation() == generation_;
}

HostBuffer BufferPool::take(const PoolKey& key) noexcept {
    if (!accepts(key)) return HostBuffer();
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (!(it->key == key)) continue;
        HostBuffer b = std::move(it->buffer);
        entries_.erase(it);
        stats_.held_bytes -= key.bytes;
        --stats_.held_buffers;
        ++stats_.reused;
        return b;
    }
    return HostBuffer();
}

void BufferPool::give(HostBuffer buffer, const PoolKey& key) noexcept {
    if (!buffer.data()) return;
    if (!accepts(key)) {
        // A forked child must not take the lock (a parent's thread may have held it at fork).
        if (fork_generation() == generation_) {
            std::lock_guard<std::mutex> lock(mutex_);
            ++stats_.unmapped;
        }
        return; // `buffer` unmaps itself
    }
    // A buffer advised for huge pages is marked MADV_FREE: the kernel may take its pages back
    // rather than swap or kill for memory, and the mark costs one entry per 2 MiB (~50 us for
    // 64 MiB, the next copy into it at warm speed). On small pages the mark walks every 4 KiB
    // entry and the next copy sets each one's dirty bit again: 1.6-1.8x the time of a copy into
    // warm memory, measured (docs/memory.md), so such buffers are kept as they are. Ignored
    // where the kernel lacks MADV_FREE (before 4.5): the buffer is still kept.
    const bool mark = buffer.huge_pages_advised() && ::madvise(buffer.data(), buffer.size(), MADV_FREE) == 0;
    std::list<Entry> evicted;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            entries_.push_front(Entry{key, std::move(buffer)});
        } catch (...) {
            ++stats_.unmapped;
            return;
        }
        stats_.held_bytes += key.bytes;
        ++stats_.held_buffers;
        ++stats_.kept;
        if (mark) ++stats_.marked_free;
        while (stats_.held_bytes > limit_) {
            stats_.held_bytes -= entries_.back().key.bytes;
            --stats_.held_buffers;
            ++stats_.evicted;
            evicted.splice(evicted.begin(), entries_, std::prev(entries_.end()));
        }
    }
    // `evicted` unmaps its buffers here, outside the lock.
}

std::size_t BufferPool::trim() noexcept {
    std::list<Entry> evicted;
    std::size_t bytes = 0;
    if (fork_generation() != generation_) return 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        bytes = stats_.held_bytes;
        stats_.evicted += stats_.held_buffers;
        stats_.held_bytes = 0;
        stats_.held_buffers = 0;
        evicted.swap(entries_);
    }
    return bytes;
}

PoolStats BufferPool::stats() const noexcept {
    if (fork_generation() != generation_) {
        PoolStats none;
        none.limit_bytes = limit_;
        return none;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

std::shared_ptr<BufferPool> make_buffer_pool(std::size_t limit_bytes) {
    return std::make_shared<BufferPool>(limit_bytes);
}

namespace adapter {

TensorBuffer allocate_for_tensors(CopyEngine& engine, std::size_t bytes, const AllocOptions& options) {
    Engine& e = internals(engine);
    TensorBuffer out;
    PoolKey key;
    key.bytes = bytes;
    key.huge_pages = options.huge_pages == HugePages::Default ? e.memory().huge_pages.value : options.huge_pages;
    key.placement = options.placement;
    key.node = options.placement == Placement::Node ? options.node : -1;
    const std::shared_ptr<BufferPool>& pool = e.clone_pool();
    out.pool = pool; // give() unmaps what it may not keep, and counts it
    out.key = key;
    out.buffer = pool->take(key);
    if (!out.buffer.data()) out.buffer = engine.allocate(bytes, options);
    return out;
}

void release_for_tensors(TensorBuffer&& b) noexcept {
    if (const std::shared_ptr<BufferPool> pool = b.pool.lock()) pool->give(std::move(b.buffer), b.key);
    b.buffer = HostBuffer(); // no pool (or it went with its engine): unmapped now
}

} // namespace adapter
} // namespace tilecopy::detail

namespace tilecopy {

PoolStats CopyEngine::pool_stats() const { return detail::internals(*this).clone_pool()->stats(); }

std::size_t CopyEngine::trim_pool() { return detail::internals(*this).clone_pool()->trim(); }

} // namespace tilecopy
