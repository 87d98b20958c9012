// tilecopy-placement-cost: what deciding NumaPolicy::Auto placement costs against the copy it
// places. Run it on several nodes, with page locations from the kernel, e.g.
//   HWLOC_THISSYSTEM=1 HWLOC_SYNTHETIC="pack:2 [numa] core:1 pu:1" build/bench/tilecopy-placement-cost
// Prints, per size, the median over interleaved rounds of: placing the copy's blocks as the
// engine does, the engine's whole copy with Auto (placement included) and with Off (one
// arena over every core: the speed the copy has without placement), and placement's share of
// each.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include <tilecopy/tilecopy.hpp>
#include <tilecopy/units.hpp>

#include "measure.hpp"
#include "placement.hpp"
#include "plan.hpp"
#include "topology.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

using bench::median;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tilecopy-placement-cost: what deciding NumaPolicy::Auto placement costs against the copy"};
    std::vector<std::string> size_texts = {"64M", "1G"};
    int rounds = 11;
    app.add_option("--sizes", size_texts, "Copy sizes, whole MiB (default 64M,1G)")->delimiter(',');
    app.add_option("--rounds", rounds, "Rounds per size (default 11)")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    std::vector<std::size_t> sizes_mib;
    for (const std::string& text : size_texts) {
        std::size_t bytes = 0;
        if (!tilecopy::parse_size(text, bytes) || bytes == 0 || bytes % (std::size_t(1) << 20) != 0) {
            std::fprintf(stderr, "tilecopy-placement-cost: --sizes %s: expected whole MiB (64M, 1G)\n", text.c_str());
            return 2;
        }
        sizes_mib.push_back(bytes >> 20);
    }
    try {
        tilecopy::Options options;
        options.numa = tilecopy::NumaPolicy::Auto;
        auto topology = tilecopy::detail::load_topology(options);
        tilecopy::CopyEngine engine(options, topology);
        tilecopy::Options off_options;
        off_options.numa = tilecopy::NumaPolicy::Off;
        tilecopy::CopyEngine off_engine(off_options, topology);
        const tilecopy::Options& used = engine.options();
        std::printf("topology: %s, %zu nodes; block %zu KiB\n", topology->source().c_str(), topology->nodes().size(),
                    used.block_bytes >> 10);
        std::printf("%10s %8s %14s %14s %14s %10s %10s\n", "size", "blocks", "placement us", "Auto copy us",
                    "Off copy us", "of Auto", "of Off");
        for (std::size_t mib : sizes_mib) {
            const std::size_t bytes = mib << 20;
            std::vector<unsigned char> src(bytes, 1), dst(bytes, 2); // touched: the pages have owners
            const tilecopy::Region region{dst.data(), src.data(), bytes};
            std::vector<double> place_s, copy_s, off_s;
            std::size_t blocks = 0;
            for (int r = 0; r < rounds; ++r) {
                // Planning is the same for every policy; placement is what Auto adds.
                tilecopy::detail::Plan plan = tilecopy::detail::make_plan(
                    &region, 1, tilecopy::Conversion::None, tilecopy::detail::PlanOptions{used.tile_bytes, used.block_bytes});
                // The last copy's helpers spin for Options::linger_us (2 ms) after it: let them
                // leave, so that placement has the core it has at the start of a copy.
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                auto t0 = clock_type::now();
                tilecopy::detail::place_blocks(plan, *topology, tilecopy::NumaPolicy::Auto, -1);
                place_s.push_back(seconds_since(t0));
                blocks = plan.blocks.size();
                t0 = clock_type::now();
                engine.copy(dst.data(), src.data(), bytes);
                copy_s.push_back(seconds_since(t0));
                t0 = clock_type::now();
                off_engine.copy(dst.data(), src.data(), bytes);
                off_s.push_back(seconds_since(t0));
            }
            const double p = median(place_s), c = median(copy_s), o = median(off_s);
            std::printf("%6zu MiB %8zu %14.1f %14.1f %14.1f %9.2f%% %9.2f%%\n", mib, blocks, p * 1e6, c * 1e6, o * 1e6,
                        100.0 * p / c, 100.0 * p / o);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tilecopy-placement-cost: %s\n", e.what());
        return 1;
    }
    return 0;
}
