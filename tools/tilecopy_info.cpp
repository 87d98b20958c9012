// tilecopy-info: what tilecopy sees on this machine (or a described one) and what it will do:
// NUMA nodes, arenas and whether their workers got pinned, the kernel and the thresholds, each
// threshold with its origin (option, environment, profile or fallback).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tilecopy/tilecopy.hpp>

#include "engine.hpp"
#include "plan.hpp"
#include "schedule.hpp"
#include "topology.hpp"

namespace {

using tilecopy::NumaPolicy;
using tilecopy::Options;

NumaPolicy parse_policy(const std::string& text, int& node) {
    if (text == "auto") return NumaPolicy::Auto;
    if (text == "interleave") return NumaPolicy::Interleave;
    if (text == "off") return NumaPolicy::Off;
    if (text.rfind("node:", 0) == 0) {
        const std::string number = text.substr(5);
        std::size_t used = 0;
        int value = -1;
        try {
            value = std::stoi(number, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != number.size() || value < 0)
            throw tilecopy::Error("--numa " + text + ": the node must be a non-negative number (node:0, node:1, ...)");
        node = value;
        return NumaPolicy::Node;
    }
    throw tilecopy::Error("--numa " + text + ": expected auto, interleave, off or node:N");
}

const char* policy_text(NumaPolicy policy) {
    switch (policy) {
    case NumaPolicy::Auto: return "auto";
    case NumaPolicy::Interleave: return "interleave";
    case NumaPolicy::Node: return "node";
    case NumaPolicy::Off: return "off";
    }
    return "?";
}

// Runs a few sleeping blocks on every arena so that their workers enter once and the
// pinning observer reports what binding did. The sleep keeps a block busy long enough for
// sleeping workers to wake up and take the others.
void enter_every_arena(tilecopy::detail::Scheduler& scheduler) {
    using namespace tilecopy::detail;
    static char byte_from = 0;
    static char byte_to = 0;
    static const tilecopy::Region dummy{&byte_to, &byte_from, 1};
    const auto arenas = scheduler.arenas();
    Plan plan;
    plan.regions = &dummy;
    plan.region_count = 1;
    for (std::size_t a = 0; a < arenas.size(); ++a)
        for (std::size_t i = 0; i < 8 * arenas[a].concurrency; ++i)
            plan.blocks.push_back(Block{0, 0, 0, 1, static_cast<int>(a)});
    plan.tiles.push_back(Tile{0, plan.blocks.size()});
    scheduler.run(plan, [](const Block&) noexcept { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
}

nlohmann::json size_or_null(std::size_t bytes) {
    if (bytes == std::numeric_limits<std::size_t>::max()) return nullptr;
    return bytes;
}

nlohmann::json to_json(tilecopy::CopyEngine& engine) {
    auto& internals = engine.internals();
    const auto& topology = internals.scheduler().topology();
    const Options& o = engine.options();
    nlohmann::json out;
    out["version"] = TILECOPY_VERSION;
    out["topology"] = {{"source", topology.source()}, {"page_bytes", topology.page_bytes()}};
    out["numa_nodes"] = nlohmann::json::array();
    const auto& nodes = topology.nodes();
    for (std::size_t i = 0; i < nodes.size(); ++i)
        out["numa_nodes"].push_back(
            {{"index", i}, {"os_index", nodes[i].os_index}, {"cpuset", nodes[i].cpuset}, {"pus", nodes[i].pus}});
    out["arenas"] = nlohmann::json::array();
    for (const auto& a : internals.scheduler().arenas()) {
        out["arenas"].push_back({{"node", a.node},
                                 {"cpuset", a.cpuset},
                                 {"concurrency", a.concurrency},
                                 {"pinning", a.pinning}});
    }
    out["threads"] = internals.scheduler().total_concurrency();
    out["kernel"] = engine.kernel();
    out["numa_policy"] = policy_text(o.numa);
    if (o.numa == NumaPolicy::Node) out["numa_node"] = o.numa_node;
    out["pin_threads"] = o.pin_threads;
    out["caches"] = {{"l2_bytes", internals.l2_bytes()}, {"llc_bytes", internals.llc_bytes()}};
    out["thresholds"] = {{"tile_bytes", o.tile_bytes},
                         {"block_bytes", o.block_bytes},
                         {"inline_below_bytes", o.inline_threshold},
                         {"nontemporal_from_bytes", size_or_null(o.nontemporal_threshold)}};
    // Where each came from: option, environment, profile or fallback (and why).
    const auto& s = internals.strategy();
    out["threshold_origins"] = {{"threads", tilecopy::detail::origin_text(s.threads)},
                                {"block_bytes", tilecopy::detail::origin_text(s.block_bytes)},
                                {"inline_below_bytes", tilecopy::detail::origin_text(s.inline_threshold)},
                                {"nontemporal_from_bytes", tilecopy::detail::origin_text(s.nontemporal_threshold)},
                                {"linger_us", tilecopy::detail::origin_text(s.linger_us)}};
    out["profile"] = s.profile_note;
    out["describe"] = engine.describe();
    return out;
}

#ifndef TILECOPY_INFO_NO_MAIN
void print_text(tilecopy::CopyEngine& engine) {
    const auto& topology = engine.internals().scheduler().topology();
    const auto& nodes = topology.nodes();
    std::cout << "NUMA nodes (" << topology.source() << "):\n";
    for (std::size_t i = 0; i < nodes.size(); ++i)
        std::cout << "  node " << i << " (os " << nodes[i].os_index << "): cpuset " << nodes[i].cpuset << ", "
                  << nodes[i].pus.size() << " PU" << (nodes[i].pus.size() == 1 ? "" : "s") << "\n";
    std::cout << "page size: " << topology.page_bytes() << " bytes\n";
    // The engine's own account: kernel, thresholds, caches, arenas with their pinning.
    for (const auto& line : engine.describe()) std::cout << line << "\n";
}

#endif

} // namespace

// What `tilecopy-info --json` prints for these flags. The Python package's tilecopy.info()
// compiles this file with TILECOPY_INFO_NO_MAIN and calls it (python/src/info_module.cpp).
std::string tilecopy_info_json(const std::string& numa, std::size_t threads, bool pin_threads,
                               const std::string& synthetic, const std::string& xml) {
    Options options;
    options.topology_synthetic = synthetic;
    options.topology_xml = xml;
    options.threads = threads;
    options.pin_threads = pin_threads;
    options.numa = parse_policy(numa, options.numa_node);
    tilecopy::CopyEngine engine(options);
    enter_every_arena(const_cast<tilecopy::detail::Scheduler&>(engine.internals().scheduler()));
    return to_json(engine).dump(2);
}

#ifndef TILECOPY_INFO_NO_MAIN
int main(int argc, char** argv) {
    CLI::App app{"tilecopy-info: the NUMA nodes, arenas, pinning, kernel and thresholds tilecopy uses here"};
    bool json = false;
    bool no_pin = false;
    std::string synthetic;
    std::string xml;
    std::size_t threads = 0;
    std::string numa = "auto";
    app.add_flag("--json", json, "Print JSON instead of text");
    app.add_option("--synthetic", synthetic, "An hwloc synthetic topology, e.g. 'pack:2 [numa] core:1 pu:1'");
    app.add_option("--xml", xml, "An hwloc XML topology file");
    app.add_option("--threads", threads, "Threads in all, the caller's included (0: every core)");
    app.add_flag("--no-pin", no_pin, "Leave worker threads unpinned");
    app.add_option("--numa", numa, "NUMA policy: auto, interleave, off or node:N");
    app.get_formatter()->column_width(28);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "tilecopy-info: " << e.what() << "\n";
        return 2;
    }

    try {
        Options options;
        options.topology_synthetic = synthetic;
        options.topology_xml = xml;
        options.threads = threads;
        options.pin_threads = !no_pin;
        options.numa = parse_policy(numa, options.numa_node);
        tilecopy::CopyEngine engine(options);
        // The engine hands out its scheduler read-only; running blocks on it changes nothing
        // but the pinning counters this tool is here to report.
        enter_every_arena(const_cast<tilecopy::detail::Scheduler&>(engine.internals().scheduler()));
        if (json)
            std::cout << to_json(engine).dump(2) << "\n";
        else
            print_text(engine);
    } catch (const std::exception& e) {
        std::cerr << "tilecopy-info: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
#endif
