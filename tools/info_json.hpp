// tilecopy::EngineInfo as JSON: the one formatter behind `tilecopy-info --json` and Python's
// tilecopy.info(), so that both print the same. Header-only over the public struct: the core
// library stays free of nlohmann-json, and each user compiles this against the shared library.
#pragma once

#include <cstddef>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include <tilecopy/tilecopy.hpp>

namespace tilecopy::tools {

inline nlohmann::json info_json(const EngineInfo& info) {
    auto bytes_or_null = [](std::size_t bytes, std::size_t none) -> nlohmann::json {
        if (bytes == none) return nullptr;
        return bytes;
    };
    auto value_of = [&info](const char* name) -> std::size_t {
        const TunableInfo* t = find_tunable(info, name);
        return t ? t->value : 0;
    };
    auto origin_of = [&info](const char* name) -> std::string {
        const TunableInfo* t = find_tunable(info, name);
        if (!t) return "";
        return t->origin == "fallback" ? "fallback: " + t->source : t->origin + " " + t->source;
    };
    constexpr std::size_t kNever = std::numeric_limits<std::size_t>::max();

    nlohmann::json out;
    out["version"] = info.version;
    out["topology"] = {{"source", info.topology_source}, {"page_bytes", info.page_bytes}};
    out["numa_nodes"] = nlohmann::json::array();
    for (std::size_t i = 0; i < info.nodes.size(); ++i)
        out["numa_nodes"].push_back({{"index", i},
                                     {"os_index", info.nodes[i].os_index},
                                     {"cpuset", info.nodes[i].cpuset},
                                     {"pus", info.nodes[i].pus}});
    out["allowed_cpuset"] = info.allowed_cpuset;
    out["arenas"] = nlohmann::json::array();
    for (const ArenaInfo& a : info.arenas)
        out["arenas"].push_back(
            {{"node", a.node}, {"cpuset", a.cpuset}, {"concurrency", a.concurrency}, {"pinning", a.pinning}});
    out["threads"] = info.threads;
    out["kernel"] = info.kernel;
    out["kernel_reason"] = info.kernel_reason;
    out["compiled_kernels"] = info.compiled_kernels;
    out["cpu_features"] = info.cpu_features;
    out["checksum_impl"] = info.checksum_impl;
    out["numa_policy"] = numa_policy_name(info.numa);
    if (info.numa == NumaPolicy::Node) out["numa_node"] = info.numa_node;
    out["pin_threads"] = info.pin_threads;
    out["caches"] = {{"l2_bytes", bytes_or_null(info.l2_bytes, 0)}, {"llc_bytes", bytes_or_null(info.llc_bytes, 0)}};
    out["thresholds"] = {{"tile_bytes", info.tile_bytes},
                         {"block_bytes", value_of("block_bytes")},
                         {"inline_below_bytes", value_of("inline_threshold")},
                         {"nontemporal_from_bytes", bytes_or_null(value_of("nontemporal_threshold"), kNever)}};
    out["threshold_origins"] = {{"threads", origin_of("threads")},
                                {"block_bytes", origin_of("block_bytes")},
                                {"inline_below_bytes", origin_of("inline_threshold")},
                                {"nontemporal_from_bytes", origin_of("nontemporal_threshold")},
                                {"linger_us", origin_of("linger_us")}};
    // Every tunable: its value (null: never), where it came from, and the variable that sets it.
    out["tunables"] = nlohmann::json::object();
    for (const TunableInfo& t : info.tunables)
        out["tunables"][t.name] = {{"value", bytes_or_null(t.value, kNever)},
                                   {"origin", t.origin},
                                   {"source", t.source},
                                   {"variable", t.variable}};
    out["profile"] = info.profile;
    // Host memory (docs/memory.md): the kernel's THP mode and the huge-page policies.
    out["memory"] = {{"thp_enabled", info.thp_enabled},
                     {"thp_defrag", info.thp_defrag},
                     {"huge_pages", {{"value", info.huge_pages},
                                     {"origin", info.huge_pages_origin},
                                     {"source", info.huge_pages_source},
                                     {"variable", "TILECOPY_HUGEPAGES"},
                                     {"plan", info.huge_pages_plan}}},
                     {"fresh_destinations", {{"value", info.fresh_destinations},
                                             {"origin", info.fresh_destinations_origin},
                                             {"source", info.fresh_destinations_source},
                                             {"variable", "TILECOPY_FRESH_HUGEPAGES"}}}};
    out["describe"] = info.describe;
    // The torch adapter as loaded in the process that asks: the tool never loads it, Python's
    // package always does.
    out["torch_adapter"] = {{"loaded", info.torch_adapter_loaded}, {"lines", info.torch_adapter}};
    return out;
}

// The engine tilecopy-info and tilecopy.info() describe: these settings, its workers started
// (so that their pinning is known), and its info as JSON text.
inline std::string engine_info_json(const std::string& numa, std::size_t threads, bool pin_threads,
                                    const std::string& synthetic, const std::string& xml) {
    Options options;
    options.topology_synthetic = synthetic;
    options.topology_xml = xml;
    options.threads = threads;
    options.pin_threads = pin_threads;
    options.numa = parse_numa_policy(numa, options.numa_node);
    CopyEngine engine(options);
    engine.warm_up();
    return info_json(engine.info()).dump(2);
}

} // namespace tilecopy::tools
