// What an engine sees and does (CopyEngine::info()): the machine as it was found, the arenas and
// their pinning, the kernel, and every tunable with its value and where that value came from.
// Tools and bindings show this struct; they need no private header.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <tilecopy/options.hpp>

namespace tilecopy {

struct NumaNodeInfo {
    unsigned os_index = 0;     // the OS's (or synthetic description's) node number
    std::vector<unsigned> pus; // the node's processing units this process may use, ascending
    std::string cpuset;        // the same as a list string, e.g. "0-3,8"
};

struct ArenaInfo {
    int node = 0;                // index into EngineInfo::nodes; -1: all nodes (NumaPolicy::Off)
    std::size_t concurrency = 0; // threads that work on it (the caller's included where it is one)
    std::string cpuset;
    std::string pinning; // "pinned", "unpinned (pinning off)", "not yet (no worker has run)", ...
};

struct TunableInfo {
    std::string name;     // "threads", "block_bytes", "nontemporal_threshold", ...
    std::size_t value = 0; // SIZE_MAX: "never" (nontemporal_threshold only)
    std::string origin;   // "option", "environment", "profile" or "fallback"
    std::string source;   // "Options::threads", "$TILECOPY_THREADS", the profile's path, or the fallback's reason
    std::string variable; // the environment variable that sets it, e.g. "TILECOPY_THREADS"
};

struct EngineInfo {
    std::string version;
    std::string topology_source; // "this machine (hwloc 2.9.0)", "hwloc synthetic '...'", ...
    std::size_t page_bytes = 0;
    std::vector<NumaNodeInfo> nodes;
    std::string allowed_cpuset; // the process's CPU affinity when the engine was made
    std::vector<ArenaInfo> arenas;
    std::size_t threads = 0; // in all, the caller's thread included
    std::size_t l2_bytes = 0;  // per core; 0: not reported
    std::size_t llc_bytes = 0; // 0: not reported
    std::size_t tile_bytes = 0;
    std::vector<TunableInfo> tunables;
    std::string profile; // which profile was used, or why none
    std::string kernel;  // "scalar", "avx2" or "avx512"
    std::string kernel_reason;
    std::vector<std::string> compiled_kernels; // best first
    std::vector<std::string> cpu_features;     // "avx2", "avx512f", "os:zmm", ...
    std::string checksum_impl;                 // "isal" or "portable"
    NumaPolicy numa = NumaPolicy::Auto;
    int numa_node = -1;
    bool pin_threads = true;
    // Host memory (docs/memory.md): the kernel's transparent-huge-page mode (the bracketed words
    // of /sys/kernel/mm/transparent_hugepage/enabled and defrag; empty where unavailable), the
    // huge-page policies as resolved ("auto", "always", "never") with their origin ("option",
    // "environment", "fallback") and source, and what allocate() does under that mode.
    std::string thp_enabled;
    std::string thp_defrag;
    std::string huge_pages;
    std::string huge_pages_origin;
    std::string huge_pages_source;
    std::string huge_pages_plan;
    std::string fresh_destinations;
    std::string fresh_destinations_origin;
    std::string fresh_destinations_source;
    // The engine's account as text, one line per item (CopyEngine::describe() without the
    // torch adapter's lines).
    std::vector<std::string> describe;
    // The torch adapter in this process: loaded when libtilecopy-torch is, with its lines
    // (the libtorch it runs against).
    bool torch_adapter_loaded = false;
    std::vector<std::string> torch_adapter;
};

// The tunable called `name` in info.tunables, or null.
inline const TunableInfo* find_tunable(const EngineInfo& info, const std::string& name) noexcept {
    for (const TunableInfo& t : info.tunables)
        if (t.name == name) return &t;
    return nullptr;
}

} // namespace tilecopy
