// CopyEngine::info() and describe(): the engine's account of itself, built once here so that
// describe(), tilecopy-info and tilecopy.info() all say the same.
#include <tilecopy/copy_engine.hpp>
#include <tilecopy/version.hpp>

#include <string>
#include <vector>

#include "adapter/adapter.hpp"
#include "engine.hpp"

namespace tilecopy {

namespace detail {

namespace {

const char* origin_name(Origin o) {
    switch (o) {
    case Origin::Option: return "option";
    case Origin::Environment: return "environment";
    case Origin::Profile: return "profile";
    case Origin::Fallback: return "fallback";
    }
    return "?";
}

std::vector<std::string> feature_list(const CpuFeatures& cpu) {
    std::vector<std::string> out;
    auto add = [&out](bool on, const char* name) {
        if (on) out.emplace_back(name);
    };
    add(cpu.avx2, "avx2");
    add(cpu.fma, "fma");
    add(cpu.f16c, "f16c");
    add(cpu.avx512f, "avx512f");
    add(cpu.avx512bw, "avx512bw");
    add(cpu.avx512vl, "avx512vl");
    add(cpu.avx512bf16, "avx512bf16");
    add(cpu.os_ymm, "os:ymm");
    add(cpu.os_zmm, "os:zmm");
    return out;
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

std::string cache_text(std::size_t bytes) { return bytes ? size_text(bytes) : "not reported"; }

// describe()'s lines, from the info alone (plus the strategy's own wording of its thresholds).
std::vector<std::string> describe_lines(const EngineInfo& i, const Strategy& s) {
    std::vector<std::string> lines;
    lines.push_back("tilecopy " + i.version);
    const std::string why = s.kernel.origin == Origin::Fallback ? s.kernel.source : "forced by " + s.kernel.source;
    lines.push_back("kernel: " + i.kernel + " (" + why + "; compiled: " + joined(i.compiled_kernels, ", ") + ")");
    lines.push_back("cpu: " + (i.cpu_features.empty() ? std::string("baseline x86-64") : joined(i.cpu_features, " ")));
    lines.push_back("checksums: " + i.checksum_impl);
    lines.push_back("threads: " + std::to_string(i.threads) + " (the caller's thread included; " +
                    origin_text(s.threads) + ")");
    lines.push_back("caches: L2 " + cache_text(i.l2_bytes) + " per core, last level " + cache_text(i.llc_bytes));
    for (const auto& line : describe_strategy(s)) lines.push_back(line);
    lines.push_back("topology: " + i.topology_source + ", " + std::to_string(i.nodes.size()) + " NUMA node(s)");
    lines.push_back("allowed CPUs: " + i.allowed_cpuset + " (the process's CPU affinity when the engine was made)");
    lines.push_back(std::string("numa policy: ") + numa_policy_name(i.numa) +
                    (i.numa == NumaPolicy::Node ? " " + std::to_string(i.numa_node) : ""));
    for (std::size_t a = 0; a < i.arenas.size(); ++a) {
        const ArenaInfo& arena = i.arenas[a];
        lines.push_back("arena " + std::to_string(a) + ": " +
                        (arena.node >= 0 ? "node " + std::to_string(arena.node) : "all nodes") + ", cpuset " +
                        arena.cpuset + ", " + std::to_string(arena.concurrency) + " threads, " + arena.pinning);
    }
    return lines;
}

} // namespace

EngineInfo Engine::info() const {
    const Topology& topology = scheduler_.topology();
    EngineInfo i;
    i.version = TILECOPY_VERSION;
    i.topology_source = topology.source();
    i.page_bytes = topology.page_bytes();
    for (const NumaNode& n : topology.nodes()) i.nodes.push_back(NumaNodeInfo{n.os_index, n.pus, n.cpuset});
    i.allowed_cpuset = topology.allowed_cpuset();
    i.arenas = scheduler_.arenas();
    i.threads = scheduler_.total_concurrency();
    i.l2_bytes = strategy_.facts.l2_bytes;
    i.llc_bytes = strategy_.facts.llc_bytes;
    i.tile_bytes = strategy_.tile_bytes;
    for (const NamedTunable& t : named_tunables(strategy_))
        i.tunables.push_back(
            TunableInfo{t.name, t.tunable->value, origin_name(t.tunable->origin), t.tunable->source, t.variable});
    i.profile = strategy_.profile_note;
    i.kernel = kernel_->name;
    i.kernel_reason = strategy_.kernel.origin == Origin::Fallback ? strategy_.kernel.source
                                                                   : "forced by " + strategy_.kernel.source;
    for (const auto* k : compiled_kernels()) i.compiled_kernels.emplace_back(k->name);
    i.cpu_features = feature_list(cpu_features());
    i.checksum_impl = options_.checksum_impl;
    i.numa = options_.numa;
    i.numa_node = options_.numa_node;
    i.pin_threads = options_.pin_threads;
    i.thp_enabled = memory_.thp.enabled;
    i.thp_defrag = memory_.thp.defrag;
    i.huge_pages = huge_pages_name(memory_.huge_pages.value);
    i.huge_pages_origin = origin_name(memory_.huge_pages.origin);
    i.huge_pages_source = memory_.huge_pages.source;
    i.huge_pages_plan = huge_pages_plan(memory_);
    i.fresh_destinations = huge_pages_name(memory_.fresh_destinations.value);
    i.fresh_destinations_origin = origin_name(memory_.fresh_destinations.origin);
    i.fresh_destinations_source = memory_.fresh_destinations.source;
    i.describe = describe_lines(i, strategy_);
    for (std::string& line : describe_memory(memory_)) i.describe.push_back(std::move(line));
    i.torch_adapter = adapter::describe_lines();
    i.torch_adapter_loaded = adapter::registered();
    return i;
}

} // namespace detail

EngineInfo CopyEngine::info() const { return impl_->info(); }

std::vector<std::string> CopyEngine::describe() const {
    EngineInfo i = impl_->info();
    std::vector<std::string> lines = std::move(i.describe);
    for (std::string& line : i.torch_adapter) lines.push_back(std::move(line));
    return lines;
}

} // namespace tilecopy
