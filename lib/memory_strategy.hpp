// The strategy's memory decisions: whether a buffer or a fresh destination is advised to use
// transparent huge pages, and how population is cut into blocks. Pure, as strategy.hpp: the
// kernel's settings come in as text (topology_memory.cpp reads them), sizes are compared here
// and nowhere else.
#pragma once

#include <cstddef>
#include <string>

#include <tilecopy/memory.hpp>
#include <tilecopy/options.hpp>

#include "strategy.hpp"

namespace tilecopy::detail {

constexpr std::size_t kHugePageBytes = std::size_t(2) << 20;

// The kernel's transparent-huge-page settings: the bracketed word of
// /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise", "never") and of .../defrag
// ("always", "defer", "defer+madvise", "madvise", "never"); empty where not readable (no THP).
struct ThpMode {
    std::string enabled;
    std::string defrag;
};
// The bracketed word of a sysfs setting ("always [madvise] never" -> "madvise"); empty if none.
std::string bracketed(const std::string& sysfs_text);
// Bytes of free memory in blocks of 2 MiB or more, from /proc/buddyinfo's text: what the kernel
// can hand out as huge pages without compacting. 0 when the text says nothing.
std::size_t free_huge_bytes_of(const std::string& buddyinfo_text, std::size_t page_bytes);

// Advised regions wait for direct compaction when no free 2 MiB block is left (defrag always,
// madvise or defer+madvise); under defer or never the advice never stalls a fault.
bool advice_compacts(const ThpMode& mode) noexcept;

// A huge-page policy with its origin: Options field, else $variable, else the fallback.
struct HugePagesTunable {
    HugePages value = HugePages::Auto;
    Origin origin = Origin::Fallback;
    std::string source;
};
// Throws tilecopy::Error naming the variable for a bad value (env_text null: unset).
HugePagesTunable resolve_huge_pages(HugePages option, const char* option_name, const char* env_text,
                                    const char* variable, HugePages fallback, std::string fallback_reason);

struct MemoryStrategy {
    HugePagesTunable huge_pages;         // allocate()'s policy (AllocOptions::huge_pages Default)
    HugePagesTunable fresh_destinations; // advice on copies into never-touched destinations
    Tunable clone_pool_bytes;            // the pool of released tensor buffers (0: none)
    ThpMode thp;
    bool fresh_may_advise = false; // fresh_destinations is not never and the THP mode is not never
};

// Resolves both policies (Options, then $TILECOPY_HUGEPAGES / $TILECOPY_FRESH_HUGEPAGES, then the
// fallbacks) over the kernel's mode, and the clone pool's size (Options::clone_pool_bytes, then
// $TILECOPY_CLONE_POOL_BYTES, then an eighth of `memory_bytes`, the machine's memory). Throws
// tilecopy::Error for a bad variable.
MemoryStrategy resolve_memory_strategy(const Options& options, const ThpMode& thp, const char* env_huge_pages,
                                       const char* env_fresh, const char* env_clone_pool = nullptr,
                                       std::size_t memory_bytes = 0);

// What one buffer (or fresh destination) gets: advice on `advise_bytes` bytes of its 2 MiB
// aligned interior (0: none), and why.
struct HugePageDecision {
    std::size_t advise_bytes = 0;
    std::string reason;
};
// `interior_bytes`: the bytes from the buffer's first 2 MiB boundary on; `free_huge_bytes`: asked
// only where needed, what the kernel holds in free 2 MiB blocks now (free_huge_bytes). Auto
// advises where the mode allows it and the interior holds a huge page; where advice compacts it
// advises only as much as is free, so that no fault waits for compaction (a policy that asks is
// never slower than one that does not). Always advises the whole interior, whatever its size,
// unless the mode is never.
using FreeHugeBytesFn = std::size_t (*)() noexcept;
HugePageDecision decide_huge_pages(HugePages policy, const ThpMode& thp, std::size_t interior_bytes,
                                   FreeHugeBytesFn free_huge_bytes);

// Whether a copy's destination region is worth looking for never-touched huge-page blocks in:
// the policy may advise, the kernel may grant, and its interior holds a whole 2 MiB block. Under
// THP never a copy pays nothing for the option, not even the mincore.
inline bool fresh_advice_candidate(const MemoryStrategy& s, std::size_t dst_region_bytes) noexcept {
    return dst_region_bytes >= 2 * kHugePageBytes && s.fresh_may_advise;
}

// The size of one populate block: a 2 MiB multiple, about eight per thread so that a slow
// thread holds little, and at least 2 MiB (a populate call costs ~1 us).
std::size_t populate_block_bytes(std::size_t bytes, std::size_t threads) noexcept;

// describe()'s lines: the kernel's mode and what each policy does under it.
std::vector<std::string> describe_memory(const MemoryStrategy& s);
// The policies' one-line account, e.g. "auto (fallback: ...): advises buffers >= 2 MiB ...".
std::string huge_pages_plan(const MemoryStrategy& s);

} // namespace tilecopy::detail
