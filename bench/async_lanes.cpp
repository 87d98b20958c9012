// tilecopy-async-lanes: does a small asynchronous copy wait behind a large one, and does the
// large one lose bandwidth to it? Rounds interleave a large copy_async alone and the same copy
// with small copy_async calls submitted while it runs (each waited for before the next); prints
// medians: the small copies' completion time (submit to wait() returning) and the large
// copy's bandwidth with and without them.
//
//   tilecopy-async-lanes [--large 512M] [--small 4K] [--rounds 9] [--gap-us 500]
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

namespace {

using bench::median;
using clock_type = std::chrono::steady_clock;

double seconds(clock_type::duration d) { return std::chrono::duration<double>(d).count(); }

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"tilecopy-async-lanes: small asynchronous copies while a large one runs"};
    std::string large_text = "512M", small_text = "4K";
    int rounds = 9;
    long gap_us = 500;
    app.add_option("--large", large_text, "The large copy (a size: 512M, 1G)");
    app.add_option("--small", small_text, "Each small copy (a size: 4K, 64K)");
    app.add_option("--rounds", rounds, "Rounds (default 9)")->check(CLI::PositiveNumber);
    app.add_option("--gap-us", gap_us, "Microseconds between small copies (default 500)")->check(CLI::NonNegativeNumber);
    CLI11_PARSE(app, argc, argv);
    std::size_t large = 0, small = 0;
    if (!tilecopy::parse_size(large_text, large) || large == 0 || !tilecopy::parse_size(small_text, small) || small == 0) {
        std::fprintf(stderr, "tilecopy-async-lanes: --large and --small take sizes (4K, 512M, 1G), not zero\n");
        return 2;
    }
    tilecopy::CopyEngine engine;
    std::vector<unsigned char> src(large, 1), dst(large, 2), small_src(small, 3), small_dst(small, 4);
    engine.copy(dst.data(), src.data(), large); // touch every page

    std::vector<double> alone_gbs, polled_gbs, mixed_gbs, small_us, small_idle_us;
    for (int round = 0; round < rounds; ++round) {
        {
            const auto t0 = clock_type::now();
            engine.copy_async(dst.data(), src.data(), large).wait();
            alone_gbs.push_back(large / seconds(clock_type::now() - t0) / 1e9);
        }
        {
            // The same large copy with the caller waking up at the same interval, doing nothing
            // else: on a machine with few cores the waking thread alone costs the copy bandwidth.
            const auto t0 = clock_type::now();
            tilecopy::CopyHandle big = engine.copy_async(dst.data(), src.data(), large);
            while (!big.done()) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
            big.wait();
            polled_gbs.push_back(large / seconds(clock_type::now() - t0) / 1e9);
        }
        {
            // Small copies on an idle engine, for reference.
            for (int k = 0; k < 20; ++k) {
                const auto t0 = clock_type::now();
                engine.copy_async(small_dst.data(), small_src.data(), small).wait();
                small_idle_us.push_back(seconds(clock_type::now() - t0) * 1e6);
                std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
            }
        }
        {
            const auto t0 = clock_type::now();
            tilecopy::CopyHandle big = engine.copy_async(dst.data(), src.data(), large);
            while (!big.done()) {
                const auto s0 = clock_type::now();
                tilecopy::CopyHandle h = engine.copy_async(small_dst.data(), small_src.data(), small);
                h.wait();
                const auto s1 = clock_type::now();
                small_us.push_back(seconds(s1 - s0) * 1e6); // submitted while the large one ran
                std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
            }
            big.wait();
            mixed_gbs.push_back(large / seconds(clock_type::now() - t0) / 1e9);
        }
    }
    std::printf("large %zu MiB, small %zu B, %d rounds, small copies every %ld us while the large one runs\n",
                large >> 20, small, rounds, gap_us);
    std::printf("large alone:            %.1f GB/s (median)\n", median(alone_gbs));
    std::printf("large, caller polling:  %.1f GB/s (median)\n", median(polled_gbs));
    std::printf("large with small ones:  %.1f GB/s (median), %.3fx alone, %.3fx polling\n", median(mixed_gbs),
                median(mixed_gbs) / median(alone_gbs), median(mixed_gbs) / median(polled_gbs));
    std::printf("small during large:     median %.1f us, max %.1f us over %zu copies\n",
                small_us.empty() ? 0.0 : median(small_us),
                small_us.empty() ? 0.0 : *std::max_element(small_us.begin(), small_us.end()), small_us.size());
    std::printf("small on an idle engine: median %.1f us\n", median(small_idle_us));
    return 0;
}
