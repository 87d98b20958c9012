// Engine options. A zero size means "the default": $TILECOPY_* in the environment, else the
// machine profile written by tilecopy-tune, else a fallback derived from this machine (README,
// "Options and environment"). CopyEngine::describe() says where each value came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <tilecopy/export.hpp>
#include <tilecopy/memory.hpp>

namespace tilecopy {

enum class NumaPolicy {
    Auto,       // each block runs on the node holding its destination pages, else its source's
    Interleave, // blocks spread over the nodes in turn
    Node,       // every block on Options::numa_node
    Off,        // one arena over all cores
};

// "auto", "interleave", "node" or "off".
TILECOPY_API const char* numa_policy_name(NumaPolicy policy) noexcept;
// "auto", "interleave", "off" or "node:N" (N stored in `node`); throws tilecopy::Error otherwise.
TILECOPY_API NumaPolicy parse_numa_policy(const std::string& text, int& node);

// Whom an asynchronous copy yields to (docs/async.md). A background copy gives its threads to
// foreground work at the next block boundary: a synchronous copy or a foreground asynchronous
// copy that runs on the arenas; it resumes when that work is done.
enum class Priority : std::uint8_t {
    Default,    // the engine's (Options::async, else $TILECOPY_ASYNC_PRIORITY, else foreground)
    Foreground,
    Background,
};

// "default", "foreground" or "background".
TILECOPY_API const char* priority_name(Priority priority) noexcept;
// "foreground" or "background"; throws tilecopy::Error otherwise.
TILECOPY_API Priority parse_priority(const std::string& text);

// Limits of one asynchronous copy (CopyEngine::copy_async and copy_batch_async overloads), and
// as Options::async the engine's defaults for every asynchronous copy. Synchronous copies are
// never limited. A zero or Default field means "the default": per call the engine's, in Options
// $TILECOPY_ASYNC_THREADS / _BYTES_PER_SECOND / _PRIORITY, else no limit and foreground.
struct AsyncOptions {
    static constexpr std::size_t kAllThreads = static_cast<std::size_t>(-1);
    static constexpr std::uint64_t kUnlimited = static_cast<std::uint64_t>(-1);

    // At most this many of the engine's threads work on the copy at once, the one that runs it
    // included (more than the engine has: all of them; kAllThreads lifts an engine default).
    std::size_t threads = 0;
    // At most this many destination bytes per second, from a token bucket that a block takes its
    // bytes from before it is copied (starting with one block or 1 ms of bytes, whichever is
    // more, and holding up to one block or 10 ms of bytes). Per copy. kUnlimited lifts an engine
    // default.
    std::uint64_t bytes_per_second = 0;
    Priority priority = Priority::Default;
};

struct Options {
    // The default of linger_us (which 0 cannot mark: 0 means "give cores back at once").
    static constexpr std::size_t kDefaultLinger = static_cast<std::size_t>(-1);
    // The default of clone_pool_bytes (which 0 cannot mark: 0 turns the pool off).
    static constexpr std::size_t kDefaultClonePool = static_cast<std::size_t>(-1);

    // Threads in all, over every NUMA arena, the caller's thread counted as one. 0: default
    // (every CPU this process may use). More than the allowed CPUs is capped to them:
    // CopyEngine::options() reports the number in use.
    std::size_t threads = 0;
    // A copy is split into tiles of this many bytes, each tile into blocks.
    std::size_t tile_bytes = std::size_t(1) << 30;
    // Block size in bytes. 0: default (derived from the per-core L2 size); else at least
    // kMinBlockBytes, so that a plan's block list stays small (one entry per block).
    std::size_t block_bytes = 0;
    static constexpr std::size_t kMinBlockBytes = std::size_t(4) << 10;
    // Copies of fewer bytes run on the caller's thread with no task. 0: default (256 KiB).
    std::size_t inline_threshold = 0;
    // Copies of at least inline_threshold but fewer bytes than this also run on the caller's
    // thread while the helpers are asleep (none lingering, and no copy of inline_threshold or
    // more in the last linger_us): waking one costs more than it would copy. 0: default (the
    // profile, else 1 MiB); 1: never (helpers are always used from inline_threshold on).
    std::size_t idle_inline_threshold = 0;
    // Inline copies of fewer bytes use the CPU's string copy (`rep movsb` on x86-64) rather than
    // the vector kernel: it touches no kernel page and writes whole lines without reading them,
    // which wins after idleness, when caches and TLBs are cold. 0: default (the profile, else
    // 32 KiB; 1 when a kernel is forced, so that every copy goes through it); 1: never. Below
    // the least of this, inline_threshold and nontemporal_threshold, CopyEngine::copy runs in
    // the caller without entering the library (<tilecopy/copy_engine.hpp>).
    std::size_t string_copy_threshold = 0;
    // Copies of at least this many bytes use non-temporal stores. 0: default (the profile, else
    // half the reported LLC size, bounded to 16-64 MiB); SIZE_MAX: never.
    std::size_t nontemporal_threshold = 0;
    // Asynchronous copies of at most this many bytes run at once on the submitting thread.
    // 0: default (16 KiB).
    std::size_t async_inline_bytes = 0;
    // Asynchronous copies of fewer bytes go to the small lane, never queued behind a large
    // copy. 0: default (the inline threshold).
    std::size_t async_small_bytes = 0;
    // Tensor copies whose contiguous runs are shorter than this (in bytes of the narrower
    // element type) go to torch's copy_. 0: default (4 KiB).
    std::size_t min_run_bytes = 0;
    // Force a kernel: "scalar", "avx2" or "avx512". Empty: $TILECOPY_KERNEL, else the best
    // one this CPU and OS support.
    std::string kernel;
    // Force the checksum implementation: "isal" (Intel ISA-L, when the build has it) or
    // "portable" (slicing-by-8). Empty: $TILECOPY_CHECKSUM_IMPL, else ISA-L when built with it.
    std::string checksum_impl;
    NumaPolicy numa = NumaPolicy::Auto;
    int numa_node = -1; // with NumaPolicy::Node: an index into the topology's nodes
    bool pin_threads = true;
    // How long an arena's helper threads keep spinning for the next copy after their last
    // block, in microseconds. Waking a sleeping thread costs 0.03-2 ms on a VM, so copies that
    // follow each other within this time all get every core; 0 gives cores back at once.
    // libgomp's threads spin for a similar time (GOMP_SPINCOUNT). kDefaultLinger: default (2000).
    std::size_t linger_us = kDefaultLinger;
    // Transparent huge pages for CopyEngine::allocate() (AllocOptions::huge_pages Default).
    // Default: $TILECOPY_HUGEPAGES ("auto", "always", "never"), else auto (docs/memory.md).
    HugePages huge_pages = HugePages::Default;
    // Huge-page advice on the 2 MiB blocks of a copy's destination that were never touched
    // (mincore shows none of their pages), given before copying into them: auto advises as far as
    // the kernel's free 2 MiB blocks go, always whatever is free, never not at all. The advice
    // stays on that part of the mapping after the copy. Default: $TILECOPY_FRESH_HUGEPAGES, else
    // auto (docs/memory.md, "Copies into fresh destinations").
    HugePages fresh_destinations = HugePages::Default;
    // Memory of tensors made by clone(), clone_batch() and empty_like() (and their async forms)
    // goes, when the last of them dies, into this engine's pool of released buffers, up to this
    // many bytes in all (the oldest unmapped first), those on huge pages marked MADV_FREE so that
    // the kernel may take them back under memory pressure; a later such call of the same size and AllocOptions takes it
    // back warm: no fault, no zeroing. 0: no pool (the memory is unmapped at once).
    // kDefaultClonePool: $TILECOPY_CLONE_POOL_BYTES ("1G", "0"), else an eighth of the machine's
    // memory (docs/memory.md, "The clone pool"). CopyEngine::pool_stats() counts what it did.
    std::size_t clone_pool_bytes = kDefaultClonePool;
    // Reproduce another machine: an hwloc synthetic description ("pack:2 [numa] core:1 pu:1")
    // or an hwloc XML file. Empty: $HWLOC_SYNTHETIC / $HWLOC_XMLFILE, else this machine.
    std::string topology_synthetic;
    std::string topology_xml;
    // Defaults of every asynchronous copy (a call's AsyncOptions override them field by field).
    AsyncOptions async;
};

} // namespace tilecopy
