// tilecopy-info: what tilecopy sees on this machine (or a described one) and what it will do:
// NUMA nodes, arenas and whether their workers got pinned, the kernel and the thresholds, each
// threshold with its origin (option, environment, profile or fallback). Public API only
// (CopyEngine::info()); --json prints what Python's tilecopy.info() returns (info_json.hpp).
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include <tilecopy/tilecopy.hpp>

#include "info_json.hpp"

namespace {

void print_text(const tilecopy::EngineInfo& info, const std::vector<std::string>& describe) {
    std::cout << "NUMA nodes (" << info.topology_source << "):\n";
    for (std::size_t i = 0; i < info.nodes.size(); ++i) {
        const auto& n = info.nodes[i];
        std::cout << "  node " << i << " (os " << n.os_index << "): cpuset " << n.cpuset << ", " << n.pus.size() << " PU"
                  << (n.pus.size() == 1 ? "" : "s") << "\n";
    }
    std::cout << "page size: " << info.page_bytes << " bytes\n";
    // The engine's own account: kernel, thresholds, caches, arenas with their pinning.
    for (const auto& line : describe) std::cout << line << "\n";
}

} // namespace

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
        if (json) {
            std::cout << tilecopy::tools::engine_info_json(numa, threads, !no_pin, synthetic, xml) << "\n";
            return 0;
        }
        tilecopy::Options options;
        options.topology_synthetic = synthetic;
        options.topology_xml = xml;
        options.threads = threads;
        options.pin_threads = !no_pin;
        options.numa = tilecopy::parse_numa_policy(numa, options.numa_node);
        tilecopy::CopyEngine engine(options);
        engine.warm_up(); // so that the arenas' pinning is known
        print_text(engine.info(), engine.describe());
    } catch (const std::exception& e) {
        std::cerr << "tilecopy-info: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
