// Host memory that the engine allocates and populates: CopyEngine::allocate() and
// CopyEngine::prefault() (<tilecopy/copy_engine.hpp>). The buffers are anonymous mappings; a
// HostBuffer frees its mapping itself, so it may outlive the engine that made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <tilecopy/export.hpp>

namespace tilecopy {

// Whether a buffer asks the kernel for transparent huge pages (madvise(MADV_HUGEPAGE)).
enum class HugePages : std::uint8_t {
    Default, // the engine's choice: Options::huge_pages, else $TILECOPY_HUGEPAGES, else Auto
    Auto,    // advise when the kernel's THP mode allows it and the buffer is >= 2 MiB
    Always,  // advise whatever the size (the kernel's mode may still refuse)
    Never,   // never advise
};
// "default", "auto", "always" or "never".
TILECOPY_API const char* huge_pages_name(HugePages policy) noexcept;
// "auto", "always" or "never"; throws tilecopy::Error otherwise.
TILECOPY_API HugePages parse_huge_pages(const std::string& text);

// Which NUMA node a buffer's pages land on.
enum class Placement : std::uint8_t {
    Default,    // first touch: wherever the threads that populate it run
    Node,       // AllocOptions::node (an index into CopyEngine::info().nodes)
    Interleave, // pages spread over the nodes in turn
    Copier,     // local to the arena that copies each block: left to the first copy's workers
                // (nothing is populated by allocate(), whatever AllocOptions::populate says)
};

// When a buffer's pages are made present.
enum class Populate : std::uint8_t {
    Now,       // before allocate() returns, in parallel by the arenas of the nodes that own them
    FirstCopy, // by the first copy into it (its workers take the faults)
};

struct AllocOptions {
    HugePages huge_pages = HugePages::Default;
    Placement placement = Placement::Default;
    int node = -1; // with Placement::Node
    Populate populate = Populate::Now;
};

// The clone pool (Options::clone_pool_bytes): what it holds and what it did since the engine was made.
struct PoolStats {
    std::size_t limit_bytes = 0;    // Options::clone_pool_bytes as resolved (0: no pool)
    std::size_t held_bytes = 0;     // released buffers held now, in bytes (their sizes)
    std::size_t held_buffers = 0;   // and how many
    std::uint64_t reused = 0;       // allocations for tensors served by a held buffer
    std::uint64_t kept = 0;         // released buffers taken into the pool
    std::uint64_t marked_free = 0;  // of those, marked MADV_FREE (advised for huge pages)
    std::uint64_t unmapped = 0;     // released buffers unmapped: no pool, larger than it, or a forked child
    std::uint64_t evicted = 0;      // held buffers unmapped to make room (oldest first) or by trim_pool()
};

// An owning, movable handle to an anonymous mapping of at least size() bytes, 2 MiB aligned
// when it is 2 MiB or larger (page aligned otherwise). Its destructor unmaps the memory and
// needs no engine. A default-constructed (or moved-from) buffer holds nothing: data() is null.
class TILECOPY_API HostBuffer {
public:
    HostBuffer() noexcept = default;
    HostBuffer(HostBuffer&& other) noexcept;
    HostBuffer& operator=(HostBuffer&& other) noexcept;
    HostBuffer(const HostBuffer&) = delete;
    HostBuffer& operator=(const HostBuffer&) = delete;
    ~HostBuffer();

    void* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    // Whether madvise(MADV_HUGEPAGE) was applied to it (the kernel decides what it grants).
    bool huge_pages_advised() const noexcept { return huge_advised_; }
    // Whether the NUMA binding its Placement asked for (Node, Interleave) was applied; false for
    // Default and Copier, and where the topology is not this machine's (nothing to bind to).
    bool bound() const noexcept { return bound_; }

    // For the library: adopts a mapping made by the engine (mapping and mapping_bytes are what
    // munmap must be given; data lies inside it).
    static HostBuffer adopt(void* mapping, std::size_t mapping_bytes, void* data, std::size_t size,
                            bool huge_advised, bool bound = false) noexcept;

private:
    void reset() noexcept;

    void* mapping_ = nullptr;
    std::size_t mapping_bytes_ = 0;
    void* data_ = nullptr;
    std::size_t size_ = 0;
    bool huge_advised_ = false;
    bool bound_ = false;
};

} // namespace tilecopy
